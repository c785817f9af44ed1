// ReverseSequence: for each batch entry b, reverses the first sequence_lens[b] steps along the time
// axis and keeps the rest. time_axis and batch_axis are 0 and 1 in either order.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class ReverseSequence final : public Kernel {
 public:
  ReverseSequence(const Node& node, int64_t opset)
      : batch_axis_(node.attr_int("batch_axis", 1)), time_axis_(node.attr_int("time_axis", 0)) {
    if (!((batch_axis_ == 0 && time_axis_ == 1) || (batch_axis_ == 1 && time_axis_ == 0)))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": batch_axis and time_axis must be 0 and 1 in some order, got " +
                                                std::to_string(batch_axis_) + " and " + std::to_string(time_axis_));
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (in.size() < 2) ctx.fail("input must have rank >= 2, got shape " + shape_str(in));
    if (ctx.input_dtype(1) != DType::kInt64)
      ctx.fail(std::string("sequence_lens must be int64, got ") + dtype_name(ctx.input_dtype(1)));
    batch_ = in[batch_axis_];
    time_ = in[time_axis_];
    if (ctx.input_shape(1) != Shape{batch_})
      ctx.fail("sequence_lens has shape " + shape_str(ctx.input_shape(1)) + ", expected [" + std::to_string(batch_) + "]");
    inner_ = shape_numel(Shape(in.begin() + 2, in.end()));
    const auto strides = strides_of(in);
    batch_stride_ = strides[batch_axis_];
    time_stride_ = strides[time_axis_];
    ctx.set_output(0, ctx.input_dtype(0), in);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const int64_t* lens = ctx.input(1).data<int64_t>();
    Tensor& out = ctx.output(0);
    const DType dtype = in.dtype();
    for (int64_t b = 0; b < batch_; ++b) {
      const int64_t len = lens[b];
      if (len < 0 || len > time_)
        ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(len) + " is outside [0, " +
                 std::to_string(time_) + "]");
      for (int64_t t = 0; t < time_; ++t) {
        const int64_t from = t < len ? len - 1 - t : t;
        copy_elements(dtype, element_at(out.raw(), dtype, b * batch_stride_ + t * time_stride_),
                      element_at(in.raw(), dtype, b * batch_stride_ + from * time_stride_), inner_);
      }
    }
  }

 private:
  int64_t batch_axis_, time_axis_;
  int64_t batch_ = 0, time_ = 0, inner_ = 1, batch_stride_ = 0, time_stride_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ReverseSequence", ReverseSequence);
}  // namespace edgerun
