// Gather: picks entries of `data` along `axis` by `indices`; the output has data's dims with the
// axis replaced by the indices' dims.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Gather final : public Kernel {
 public:
  Gather(const Node& node, int64_t opset) : axis_(node.attr_int("axis", 0)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& data = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    const DType index_type = ctx.input_dtype(1);
    if (index_type != DType::kInt32 && index_type != DType::kInt64)
      ctx.fail(std::string("indices must be int32 or int64, got ") + dtype_name(index_type));
    const int64_t rank = static_cast<int64_t>(data.size());
    if (rank == 0) ctx.fail("data must have rank >= 1");
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for data of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    Shape out(data.begin(), data.begin() + axis);
    out.insert(out.end(), indices.begin(), indices.end());
    out.insert(out.end(), data.begin() + axis + 1, data.end());
    outer_ = 1;
    inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer_ *= data[d];
      if (d > axis) inner_ *= data[d];
    }
    dim_ = data[axis];
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    Tensor& out = ctx.output(0);
    const DType dtype = data.dtype();
    const int64_t count = indices.numel();
    dispatch_index(indices.dtype(), [&](auto tag) {
      using I = decltype(tag);
      const I* idx = indices.data<I>();
      for (int64_t j = 0; j < count; ++j) {
        int64_t k = idx[j];
        if (!resolve_index(k, dim_))
          ctx.fail("index " + std::to_string(idx[j]) + " is out of range for an axis of size " + std::to_string(dim_));
      }
      for (int64_t o = 0; o < outer_; ++o)
        for (int64_t j = 0; j < count; ++j) {
          int64_t k = idx[j];
          resolve_index(k, dim_);
          copy_elements(dtype, element_at(out.raw(), dtype, (o * count + j) * inner_),
                        element_at(data.raw(), dtype, (o * dim_ + k) * inner_), inner_);
        }
    });
  }

 private:
  int64_t axis_;
  int64_t outer_ = 1, inner_ = 1, dim_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Gather", Gather);
}  // namespace edgerun
