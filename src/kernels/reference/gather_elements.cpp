// GatherElements: out[i..] = data[i.. with the axis coordinate replaced by indices[i..]]; the
// output has the indices' shape.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class GatherElements final : public Kernel {
 public:
  GatherElements(const Node& node, int64_t opset) : axis_(node.attr_int("axis", 0)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& data = ctx.input_shape(0);
    const Shape& indices = ctx.input_shape(1);
    const DType index_type = ctx.input_dtype(1);
    if (index_type != DType::kInt32 && index_type != DType::kInt64)
      ctx.fail(std::string("indices must be int32 or int64, got ") + dtype_name(index_type));
    const int64_t rank = static_cast<int64_t>(data.size());
    if (rank == 0) ctx.fail("data must have rank >= 1");
    if (static_cast<int64_t>(indices.size()) != rank)
      ctx.fail("indices " + shape_str(indices) + " must have the rank of data " + shape_str(data));
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for data of rank " + std::to_string(rank));
    axis_index_ = static_cast<size_t>(axis_ < 0 ? axis_ + rank : axis_);
    for (int64_t d = 0; d < rank; ++d)
      if (d != static_cast<int64_t>(axis_index_) && indices[d] > data[d])
        ctx.fail("indices " + shape_str(indices) + " exceed data " + shape_str(data) + " on axis " + std::to_string(d));
    shape_ = indices;
    data_strides_ = strides_of(data);
    counter_.assign(indices.size(), 0);
    ctx.set_output(0, ctx.input_dtype(0), indices);
  }

  void run(RunContext& ctx) override {
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    Tensor& out = ctx.output(0);
    const int64_t dim = data.shape()[axis_index_];
    const int64_t axis_stride = data_strides_[axis_index_];
    const int64_t count = indices.numel();
    dispatch_index(indices.dtype(), [&](auto index_tag) {
      using I = decltype(index_tag);
      const I* idx = indices.data<I>();
      dispatch_storage(data.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* src = data.data<T>();
        T* dst = out.data<T>();
        std::fill(counter_.begin(), counter_.end(), 0);
        int64_t base = 0;  // data offset of the current position without the axis coordinate
        for (int64_t i = 0; i < count; ++i) {
          int64_t k = idx[i];
          if (!resolve_index(k, dim))
            ctx.fail("index " + std::to_string(idx[i]) + " is out of range for axis " + std::to_string(axis_index_) +
                     " of size " + std::to_string(dim));
          dst[i] = src[base + k * axis_stride];
          for (size_t d = shape_.size(); d-- > 0;) {
            const int64_t step = d == axis_index_ ? 0 : data_strides_[d];
            if (++counter_[d] < shape_[d]) { base += step; break; }
            base -= step * (shape_[d] - 1);
            counter_[d] = 0;
          }
        }
      });
    });
  }

 private:
  int64_t axis_;
  size_t axis_index_ = 0;
  Shape shape_;
  std::vector<int64_t> data_strides_, counter_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("GatherElements", GatherElements);
}  // namespace edgerun
