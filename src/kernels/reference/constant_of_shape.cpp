// ConstantOfShape: a tensor of the given shape filled with the one-element `value` attribute
// (default float32 0).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class ConstantOfShape final : public Kernel {
 public:
  ConstantOfShape(const Node& node, int64_t opset) : value_(DType::kFloat32, {}) {
    if (const Tensor* v = node.attr_tensor("value")) {
      if (v->numel() != 1)
        throw Error(ErrorCode::kInvalidModel, node.describe() + ": value must hold one element, got shape " + shape_str(v->shape()));
      value_ = v->clone();
    }
  }

  void prepare(PrepareContext& ctx) override {
    const Tensor& shape_t = ctx.require_value(0);
    if (shape_t.dtype() != DType::kInt64) ctx.fail(std::string("shape must be int64, got ") + dtype_name(shape_t.dtype()));
    const Shape out = read_index_list(ctx, shape_t, "shape");
    for (int64_t d : out)
      if (d < 0) ctx.fail("shape " + shape_str(out) + " has a negative dim");
    ctx.set_output(0, value_.dtype(), out);
  }

  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    dispatch_storage(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      std::fill(out.data<T>(), out.data<T>() + out.numel(), *value_.data<T>());
    });
  }

 private:
  Tensor value_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ConstantOfShape", ConstantOfShape);
}  // namespace edgerun
