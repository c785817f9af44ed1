// ScatterElements (and the deprecated Scatter): a copy of `data` where, for each position of
// `indices`, the element at that position with the axis coordinate replaced by the index receives
// the matching element of `updates` (combined per `reduction`, opset 16).
#include "kernels/reference/data_movement.h"
#include "kernels/reference/scatter_reduction.h"

namespace edgerun {
namespace {

class ScatterElements final : public Kernel {
 public:
  ScatterElements(const Node& node, int64_t opset)
      : axis_(node.attr_int("axis", 0)),
        reduction_(node.op_type == "Scatter" ? ScatterReduction::kNone : parse_scatter_reduction(node, opset)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& data = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    const Shape& updates = ctx.input_shape(2);
    const DType dtype = ctx.input_dtype(0);
    const DType index_type = ctx.input_dtype(1);
    if (index_type != DType::kInt32 && index_type != DType::kInt64)
      ctx.fail(std::string("indices must be int32 or int64, got ") + dtype_name(index_type));
    if (ctx.input_dtype(2) != dtype)
      ctx.fail(std::string("updates are ") + dtype_name(ctx.input_dtype(2)) + " but data is " + dtype_name(dtype));
    if (reduction_ != ScatterReduction::kNone && dtype == DType::kString)
      ctx.fail("a reduction cannot be applied to string tensors");
    const int64_t rank = static_cast<int64_t>(data.size());
    if (rank == 0) ctx.fail("data must have rank >= 1");
    if (static_cast<int64_t>(indices.size()) != rank)
      ctx.fail("indices " + shape_str(indices) + " must have the rank of data " + shape_str(data));
    if (updates != indices) ctx.fail("updates " + shape_str(updates) + " must have the shape of indices " + shape_str(indices));
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for data of rank " + std::to_string(rank));
    axis_index_ = static_cast<size_t>(axis_ < 0 ? axis_ + rank : axis_);
    for (int64_t d = 0; d < rank; ++d)
      if (d != static_cast<int64_t>(axis_index_) && indices[d] > data[d])
        ctx.fail("indices " + shape_str(indices) + " exceed data " + shape_str(data) + " on axis " + std::to_string(d));
    shape_ = indices;
    data_strides_ = strides_of(data);
    counter_.assign(indices.size(), 0);
    ctx.set_output(0, dtype, data);
  }

  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    Tensor& out = ctx.output(0);
    copy_elements(data.dtype(), out.raw(), data.raw(), data.numel());
    const int64_t dim = data.shape()[axis_index_];
    const int64_t axis_stride = data_strides_[axis_index_];
    const int64_t count = indices.numel();
    dispatch_index(indices.dtype(), [&](auto index_tag) {
      using I = decltype(index_tag);
      const I* idx = indices.data<I>();
      auto scatter = [&](auto tag) {
        using T = decltype(tag);
        T* dst = out.data<T>();
        const T* src = updates.data<T>();
        std::fill(counter_.begin(), counter_.end(), 0);
        int64_t base = 0;  // data offset of the current position without the axis coordinate
        for (int64_t i = 0; i < count; ++i) {
          int64_t k = idx[i];
          if (!resolve_index(k, dim))
            ctx.fail("index " + std::to_string(idx[i]) + " is out of range for axis " + std::to_string(axis_index_) +
                     " of size " + std::to_string(dim));
          if constexpr (std::is_same_v<T, std::string>) dst[base + k * axis_stride] = src[i];
          else scatter_combine(reduction_, dst[base + k * axis_stride], src[i]);
          for (size_t d = shape_.size(); d-- > 0;) {
            const int64_t step = d == axis_index_ ? 0 : data_strides_[d];
            if (++counter_[d] < shape_[d]) { base += step; break; }
            base -= step * (shape_[d] - 1);
            counter_[d] = 0;
          }
        }
      };
      if (!dispatch_dtype<kAll>(data.dtype(), scatter)) ctx.fail(std::string("unsupported dtype ") + dtype_name(data.dtype()));
    });
  }

 private:
  int64_t axis_;
  ScatterReduction reduction_;
  size_t axis_index_ = 0;
  Shape shape_;
  std::vector<int64_t> data_strides_, counter_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ScatterElements", ScatterElements);
EDGERUN_REGISTER_KERNEL("Scatter", ScatterElements);
}  // namespace edgerun
