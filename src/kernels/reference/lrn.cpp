// LRN: each element is divided by (bias + alpha / size * sum of squares over neighbouring channels)^beta.
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class LRN final : public Kernel {
 public:
  LRN(const Node& node, int64_t opset)
      : alpha_(node.attr_float("alpha", 1e-4f)), beta_(node.attr_float("beta", 0.75f)), bias_(node.attr_float("bias", 1.0f)),
        size_(node.attr_int("size", 0)) {
    if (!node.has_attr("size") || size_ < 1)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute size must be a positive integer");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    if (x.size() < 3) ctx.fail("X must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    batch_ = x[0];
    channels_ = x[1];
    inner_ = 1;
    for (size_t i = 2; i < x.size(); ++i) inner_ *= x[i];
    dtype_ = dt;
    ctx.set_output(0, dt, x);
  }

  void run(RunContext& ctx) override {
    // The window over channels is [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)].
    const int64_t before = (size_ - 1) / 2, after = size_ - 1 - before;
    const double coeff = alpha_ / static_cast<double>(size_);
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      T* y = ctx.output(0).data<T>();
      for (int64_t n = 0; n < batch_; ++n)
        for (int64_t c = 0; c < channels_; ++c) {
          const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min(channels_ - 1, c + after);
          const T* xc = x + (n * channels_ + c) * inner_;
          T* yc = y + (n * channels_ + c) * inner_;
          for (int64_t i = 0; i < inner_; ++i) {
            double sum = 0;
            for (int64_t k = lo; k <= hi; ++k) {
              const double v = static_cast<double>(x[(n * channels_ + k) * inner_ + i]);
              sum += v * v;
            }
            yc[i] = static_cast<T>(static_cast<double>(xc[i]) / std::pow(bias_ + coeff * sum, beta_));
          }
        }
    });
  }

 private:
  double alpha_, beta_, bias_;
  int64_t size_;
  DType dtype_ = DType::kFloat32;
  int64_t batch_ = 0, channels_ = 0, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("LRN", LRN);
}  // namespace edgerun
