// What the float kernels apply to their sums before storing them: a function (SiLU or HardSwish, for
// convolutions followed by one) and a clamp (Relu, Relu6, none). Applied in registers, so a fused activation costs
// no pass over memory. exp_avx2 is shared with the standalone edgerun.Silu kernel.
#pragma once
#include <limits>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

struct OutputActivation {
  enum class Function { kNone, kSilu, kHardSwish };
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
  Function function = Function::kNone;  // applied before the clamp
};

#if defined(__GNUC__) && defined(__x86_64__)

// exp(z) for z in [-87.3, 88.7]: z = k ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-5 polynomial
// fitted for the least largest relative error on that interval (1.7e-7 in float arithmetic; the
// degree-6 Taylor polynomial it replaces had 2.4e-7 and one more multiply-add).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 exp_avx2(__m256 z) {
  z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = z - k ln2, with ln2 split in two parts so the subtraction stays exact.
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145752f), z);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(0.00829031505f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.0418979302f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.166676357f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.499991506f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.999999702f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

// x * sigmoid(x) = x / (1 + exp(-x)).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 silu_avx2(__m256 x) {
  const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.f), e));
}

// x * min(max(x + 3, 0), 6) / 6.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 hard_swish_avx2(__m256 x) {
  const __m256 gate = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.f)), _mm256_setzero_ps()),
                                    _mm256_set1_ps(6.f));
  return _mm256_mul_ps(_mm256_mul_ps(x, gate), _mm256_set1_ps(1.f / 6.f));
}

__attribute__((target("avx2,fma"), always_inline)) inline __m256 apply_activation(const OutputActivation& a,
                                                                                  __m256 v) {
  if (a.function == OutputActivation::Function::kSilu) v = silu_avx2(v);
  else if (a.function == OutputActivation::Function::kHardSwish) v = hard_swish_avx2(v);
  return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(a.min)), _mm256_set1_ps(a.max));
}

#endif

}  // namespace edgerun
