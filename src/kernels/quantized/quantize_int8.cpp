// edgerun.QuantizeInt8: QuantizeLinear from float32 to int8 with a constant per-tensor scale and zero
// point, written by FuseQdq where a float value enters an int8 region. Same result as the reference
// QuantizeLinear (x / scale rounded half to even, plus the zero point, saturated), without its per-element
// type dispatch and library rounding call. Other input types go to the reference kernel.
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>

#include "kernels/kernel.h"
#include "runtime/thread_pool.h"

namespace edgerun {
namespace {

class QuantizeInt8 final : public Kernel {
 public:
  QuantizeInt8(const Node& node, int64_t) : node_(node) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) {  // int32 x, say: QuantizeLinear computes it
      // FuseQdq writes this op only up to opset 20, where QuantizeLinear's opset 13 form applies.
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
    // A network's input (150k values at 224x224) is worth splitting over the threads; in blocks of 16.
    auto work = [&](int64_t begin, int64_t end) { quantize_range(x, y, begin * 16, std::min(n, end * 16)); };
    const int64_t blocks = (n + 15) / 16;
    if (ctx.threads() && n >= kMinParallel) ctx.threads()->parallel_for(blocks, 256, work);
    else work(0, blocks);
  }

 private:
  static constexpr int64_t kMinParallel = 1 << 15;

  void quantize_range(const float* x, int8_t* y, int64_t i, int64_t n) const {
#ifdef __SSE2__
    const __m128 scale = _mm_set1_ps(scale_), zero_point = _mm_set1_ps(zero_point_), round = _mm_set1_ps(kRound);
    const __m128 lo = _mm_set1_ps(-512.f), hi = _mm_set1_ps(512.f), qlo = _mm_set1_ps(-128.f), qhi = _mm_set1_ps(127.f);
    auto quantize4 = [&](const float* p) {
      __m128 v = _mm_div_ps(_mm_loadu_ps(p), scale);
      v = _mm_min_ps(_mm_max_ps(v, lo), hi);  // maxps returns its second operand for NaN: saturates low
      v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(v, round), round), zero_point);
      return _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v, qlo), qhi));
    };
    for (; i + 16 <= n; i += 16) {
      const __m128i a = _mm_packs_epi32(quantize4(x + i), quantize4(x + i + 4));
      const __m128i b = _mm_packs_epi32(quantize4(x + i + 8), quantize4(x + i + 12));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm_packs_epi16(a, b));
    }
#endif
    for (; i < n; ++i) y[i] = quantize(x[i]);
  }

  // Adding and subtracting 1.5 * 2^23 rounds |v| < 2^22 to an integer, half to even (the default
  // rounding mode), which is what nearbyint does; values beyond +-512 saturate either way.
  static constexpr float kRound = 12582912.f;

  int8_t quantize(float x) const {
    float v = x / scale_;
    v = v >= -512.f ? v : -512.f;  // NaN saturates low, like the reference kernel
    v = v <= 512.f ? v : 512.f;
    float q = ((v + kRound) - kRound) + zero_point_;
    q = q >= -128.f ? q : -128.f;
    q = q <= 127.f ? q : 127.f;
    return static_cast<int8_t>(q);
  }

  const Node& node_;
  std::unique_ptr<Kernel> reference_;
  float scale_ = 1.f, zero_point_ = 0.f;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QuantizeInt8", QuantizeInt8);

}  // namespace edgerun
