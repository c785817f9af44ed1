// Dropout in inference: the output is the input and the mask is all true (ones before opset 10).
// Training mode (opset 12 input) with a non-zero ratio drops random elements, which cannot be
// reproduced, so it is reported as unsupported; with ratio 0 it is the identity too.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Dropout final : public Kernel {
 public:
  Dropout(const Node& node, int64_t opset) : opset_(opset), ratio_(node.attr_float("ratio", 0.5f)) {}

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kFloats>(dtype, [](auto) {})) ctx.fail(std::string("data must be a float type, got ") + dtype_name(dtype));
    if (opset_ >= 12 && ctx.has_input(2)) {
      const Tensor& training = ctx.require_value(2);
      if (training.dtype() != DType::kBool || training.numel() != 1)
        ctx.fail("training_mode must be a bool scalar, got " + std::string(dtype_name(training.dtype())) + " " +
                 shape_str(training.shape()));
      if (*training.data<bool>()) {
        double ratio = 0.5;
        if (ctx.has_input(1)) {
          const Tensor& r = ctx.require_value(1);
          if (r.numel() != 1) ctx.fail("ratio must be a scalar, got shape " + shape_str(r.shape()));
          if (!dispatch_dtype<kFloats>(r.dtype(), [](auto) {})) ctx.fail(std::string("ratio must be a float type, got ") + dtype_name(r.dtype()));
          ratio = tensor_to_doubles(r)[0];
        }
        if (!(ratio >= 0.0 && ratio < 1.0)) ctx.fail("ratio must be in [0, 1), got " + std::to_string(ratio));
        if (ratio > 0.0) ctx.unsupported("training mode with a non-zero ratio drops random elements");
      }
    } else if (opset_ < 12 && !(ratio_ >= 0.0f && ratio_ < 1.0f)) {
      ctx.fail("ratio must be in [0, 1), got " + std::to_string(ratio_));
    }
    ctx.set_output(0, dtype, ctx.input_shape(0));
    mask_type_ = opset_ < 10 ? dtype : DType::kBool;
    ctx.set_output(1, mask_type_, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    copy_elements(in.dtype(), ctx.output(0).raw(), in.raw(), in.numel());
    if (!ctx.has_output(1)) return;
    Tensor& mask = ctx.output(1);
    dispatch_dtype<kFloats | kBool>(mask_type_, [&](auto tag) {
      using T = decltype(tag);
      std::fill(mask.data<T>(), mask.data<T>() + mask.numel(), T(1.0f));
    });
  }

 private:
  int64_t opset_;
  float ratio_;
  DType mask_type_ = DType::kBool;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Dropout", Dropout);
}  // namespace edgerun
