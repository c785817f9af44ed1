// Expand: broadcasts the input against `shape` (numpy rules in both directions).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Expand final : public Kernel {
 public:
  Expand(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const Tensor& shape_t = ctx.require_value(1);
    if (shape_t.dtype() != DType::kInt64) ctx.fail(std::string("shape must be int64, got ") + dtype_name(shape_t.dtype()));
    const Shape target = read_index_list(ctx, shape_t, "shape");
    for (int64_t d : target)
      if (d < 0) ctx.fail("shape " + shape_str(target) + " has a negative dim");
    Shape out;
    try {
      out = broadcast_shapes(in, target);
    } catch (const Error&) {
      ctx.fail("input " + shape_str(in) + " cannot be broadcast to " + shape_str(target));
    }
    copy_.set(out, broadcast_strides(in, out), 0);
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  void run(RunContext& ctx) override { copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw()); }

 private:
  StridedCopy copy_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Expand", Expand);
}  // namespace edgerun
