// edgerun.Silu: y = x * sigmoid(x) = x / (1 + exp(-x)) on float32, written by the FuseSilu pass for the
// Sigmoid + Mul pair exporters emit (EfficientNet, YOLO) where no convolution takes it in its epilogue.
// One pass over the data instead of two: apply_activation_f32 (AVX2/FMA with a polynomial exp, relative
// error ~1e-7, split over the session's threads).
#include "kernels/kernel.h"
#include "kernels/x86/activation_f32.h"

namespace edgerun {
namespace {

class Silu final : public Kernel {
 public:
  Silu(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) ctx.fail("expects a float32 input");
    ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
    numel_ = shape_numel(ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    OutputActivation silu;
    silu.function = OutputActivation::Function::kSilu;
    apply_activation_f32(silu, ctx.input(0).data<float>(), ctx.output(0).data<float>(), numel_, ctx.threads());
  }

 private:
  int64_t numel_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Silu", Silu);

}  // namespace edgerun
