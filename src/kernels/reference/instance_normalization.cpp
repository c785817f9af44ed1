// InstanceNormalization: each (n, c) plane is normalized by its own mean and variance, then scaled and
// shifted by the per-channel scale and B.
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class InstanceNormalization final : public Kernel {
 public:
  InstanceNormalization(const Node& node, int64_t opset) : epsilon_(node.attr_float("epsilon", 1e-5f)) {}

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("input must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    if (x.size() < 3) ctx.fail("input must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    for (size_t i = 1; i < 3; ++i) {
      if (ctx.input_dtype(i) != dt)
        ctx.fail(std::string(i == 1 ? "scale" : "B") + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected " + dtype_name(dt));
      if (ctx.input_shape(i) != Shape{x[1]})
        ctx.fail(std::string(i == 1 ? "scale" : "B") + " has shape " + shape_str(ctx.input_shape(i)) + ", expected [" +
                 std::to_string(x[1]) + "]");
    }
    channels_ = x[1];
    planes_ = x[0] * x[1];
    inner_ = 1;
    for (size_t i = 2; i < x.size(); ++i) inner_ *= x[i];
    dtype_ = dt;
    ctx.set_output(0, dt, x);
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      const T* scale = ctx.input(1).data<T>();
      const T* bias = ctx.input(2).data<T>();
      T* y = ctx.output(0).data<T>();
      for (int64_t p = 0; p < planes_; ++p) {
        const T* xp = x + p * inner_;
        T* yp = y + p * inner_;
        double sum = 0;
        for (int64_t i = 0; i < inner_; ++i) sum += static_cast<double>(xp[i]);
        const double mean = inner_ ? sum / static_cast<double>(inner_) : 0;
        double sq = 0;
        for (int64_t i = 0; i < inner_; ++i) {
          const double d = static_cast<double>(xp[i]) - mean;
          sq += d * d;
        }
        const double var = inner_ ? sq / static_cast<double>(inner_) : 0;
        const int64_t c = p % channels_;
        const double a = static_cast<double>(scale[c]) / std::sqrt(var + epsilon_);
        const double b = static_cast<double>(bias[c]) - mean * a;
        for (int64_t i = 0; i < inner_; ++i) yp[i] = static_cast<T>(static_cast<double>(xp[i]) * a + b);
      }
    });
  }

 private:
  double epsilon_;
  DType dtype_ = DType::kFloat32;
  int64_t channels_ = 1, planes_ = 0, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("InstanceNormalization", InstanceNormalization);
}  // namespace edgerun
