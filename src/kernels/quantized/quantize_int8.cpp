// edgerun.QuantizeInt8: QuantizeLinear from float32 to int8 with a constant per-tensor scale and zero
// point, written by FuseQdq where a float value enters an int8 region. Same result as the reference
// QuantizeLinear (x / scale rounded half to even, plus the zero point, saturated), without its per-element
// type dispatch and library rounding call. Other input types go to the reference kernel.
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class QuantizeInt8 final : public Kernel {
 public:
  QuantizeInt8(const Node& node, int64_t opset) : node_(node), opset_(opset) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) {  // int32 x, say: QuantizeLinear computes it
      if (!reference_) reference_ = (*KernelRegistry::instance().find("", "QuantizeLinear"))(node_, 13);
      reference_->prepare(ctx);
      return;
    }
    reference_.reset();
    const Tensor& s = ctx.require_value(1);
    const Tensor& z = ctx.require_value(2);
    if (s.dtype() != DType::kFloat32 || s.numel() != 1 || z.dtype() != DType::kInt8 || z.numel() != 1)
      ctx.fail("expects a float32 scalar scale and an int8 scalar zero point");
    scale_ = s.data<float>()[0];
    zero_point_ = static_cast<float>(z.data<int8_t>()[0]);
    ctx.set_output(0, DType::kInt8, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    if (reference_) return reference_->run(ctx);
    const float* x = ctx.input(0).data<float>();
    int8_t* y = ctx.output(0).data<int8_t>();
    const int64_t n = ctx.input(0).numel();
    // Adding and subtracting 1.5 * 2^23 rounds |v| < 2^22 to an integer, half to even (the default
    // rounding mode), which is what nearbyint does; values beyond +-512 saturate either way.
    constexpr float kRound = 12582912.f;
    const float scale = scale_, zero_point = zero_point_;
    for (int64_t i = 0; i < n; ++i) {
      float v = x[i] / scale;
      v = v >= -512.f ? v : -512.f;  // NaN saturates low, like the reference kernel
      v = v <= 512.f ? v : 512.f;
      float q = ((v + kRound) - kRound) + zero_point;
      q = q >= -128.f ? q : -128.f;
      q = q <= 127.f ? q : 127.f;
      y[i] = static_cast<int8_t>(q);
    }
  }

 private:
  const Node& node_;
  int64_t opset_;
  std::unique_ptr<Kernel> reference_;
  float scale_ = 1.f, zero_point_ = 0.f;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QuantizeInt8", QuantizeInt8);

}  // namespace edgerun
