// TopK: the k largest (or smallest) entries along `axis` and their indices, best first; equal
// values keep the lower index first. k is an attribute before opset 10 and an input from 10.
#include "kernels/reference/data_movement.h"
#include "kernels/reference/value_order.h"

namespace edgerun {
namespace {

class TopK final : public Kernel {
 public:
  TopK(const Node& node, int64_t opset)
      : k_from_input_(opset >= 10), attr_k_(node.attr_int("k", -1)), axis_(node.attr_int("axis", -1)),
        largest_(node.attr_int("largest", 1) != 0) {
    if (!k_from_input_ && !node.has_attr("k"))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'k' is required");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kNumeric>(dtype, [](auto) {})) ctx.fail(std::string("X must be numeric, got ") + dtype_name(dtype));
    const int64_t rank = static_cast<int64_t>(in.size());
    if (rank == 0) ctx.fail("X must have rank >= 1");
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t k = attr_k_;
    if (k_from_input_) {
      const Tensor& k_t = ctx.require_value(1);
      if (k_t.dtype() != DType::kInt64 || k_t.numel() != 1 || k_t.rank() > 1)
        ctx.fail("K must be a 1-element int64 tensor, got " + std::string(dtype_name(k_t.dtype())) + " " + shape_str(k_t.shape()));
      k = *k_t.data<int64_t>();
    }
    if (k < 0 || k > in[axis])
      ctx.fail("k = " + std::to_string(k) + " is outside [0, " + std::to_string(in[axis]) + "] for axis " +
               std::to_string(axis) + " of " + shape_str(in));
    k_ = k;
    dim_ = in[axis];
    outer_ = inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer_ *= in[d];
      if (d > axis) inner_ *= in[d];
    }
    ctx.request_scratch(static_cast<size_t>(dim_) * sizeof(int64_t));
    Shape out = in;
    out[axis] = k;
    ctx.set_output(0, dtype, out);
    ctx.set_output(1, DType::kInt64, out);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    int64_t* order = static_cast<int64_t*>(ctx.scratch());
    int64_t* indices = ctx.has_output(1) ? ctx.output(1).data<int64_t>() : nullptr;
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      T* values = ctx.has_output(0) ? ctx.output(0).data<T>() : nullptr;
      for (int64_t o = 0; o < outer_; ++o)
        for (int64_t i = 0; i < inner_; ++i) {
          const T* column = x + o * dim_ * inner_ + i;
          for (int64_t j = 0; j < dim_; ++j) order[j] = j;
          auto better = [&](int64_t a, int64_t b) {
            const T& va = column[a * inner_];
            const T& vb = column[b * inner_];
            if (largest_ ? value_less(vb, va) : value_less(va, vb)) return true;
            if (largest_ ? value_less(va, vb) : value_less(vb, va)) return false;
            return a < b;
          };
          std::partial_sort(order, order + k_, order + dim_, better);
          for (int64_t j = 0; j < k_; ++j) {
            const int64_t at = (o * k_ + j) * inner_ + i;
            if (values) values[at] = column[order[j] * inner_];
            if (indices) indices[at] = order[j];
          }
        }
    });
  }

 private:
  bool k_from_input_;
  int64_t attr_k_, axis_;
  bool largest_;
  int64_t k_ = 0, dim_ = 0, outer_ = 1, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("TopK", TopK);
}  // namespace edgerun
