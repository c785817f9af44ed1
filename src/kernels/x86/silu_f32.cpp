// edgerun.Silu: y = x * sigmoid(x) = x / (1 + exp(-x)) on float32, written by the FuseSilu pass for the
// Sigmoid + Mul pair exporters emit (EfficientNet, YOLO). One pass over the data instead of two;
// AVX2/FMA with a polynomial exp (relative error ~1e-7), split over the session's threads.
#include <algorithm>
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define EDGERUN_SILU_AVX2 1
#endif

namespace edgerun {
namespace {

inline float silu(float x) { return x / (1.f + std::exp(-x)); }

void silu_portable(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(x[i]);
}

#ifdef EDGERUN_SILU_AVX2
// exp(z) for z in [-87.3, 88.7]: z = k ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-6 polynomial.
__attribute__((target("avx2,fma"))) inline __m256 exp_avx2(__m256 z) {
  z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = z - k ln2, with ln2 split in two parts so the subtraction stays exact.
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145752f), z);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(1.f / 720.f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

__attribute__((target("avx2,fma"))) void silu_avx2(const float* x, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), v));
    _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
  }
  silu_portable(x + i, y + i, n - i);
}
#endif

class Silu final : public Kernel {
 public:
  Silu(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) ctx.fail("expects a float32 input");
    ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
    numel_ = shape_numel(ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    auto work = [&](int64_t begin, int64_t end) {
      const int64_t b = begin * kBlock, e = std::min(numel_, end * kBlock);
#ifdef EDGERUN_SILU_AVX2
      if (cpu_has_avx2_fma()) return silu_avx2(x + b, y + b, e - b);
#endif
      silu_portable(x + b, y + b, e - b);
    };
    const int64_t blocks = (numel_ + kBlock - 1) / kBlock;
    if (ctx.threads() && numel_ >= 4 * kBlock) ctx.threads()->parallel_for(blocks, 1, work);
    else work(0, blocks);
  }

 private:
  static constexpr int64_t kBlock = 4096;  // elements per work item
  int64_t numel_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Silu", Silu);

}  // namespace edgerun
