// The int8 kernels' requantization on AVX2, XNNPACK's "fp32" scheme: float(acc + bias) * scale, clamped
// to the output range (bounds minus the zero point, in float), rounded to nearest even, plus the
// output zero point. One vector of 8 int32 sums.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>

namespace edgerun {

__attribute__((target("avx2"))) inline __m256i requantize_8(__m256i acc, const int32_t* bias, const float* scale,
                                                          __m256 lo, __m256 hi, __m256i zero_point) {
  __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias)))),
                           _mm256_loadu_ps(scale));
  f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
  return _mm256_add_epi32(_mm256_cvtps_epi32(f), zero_point);
}

}  // namespace edgerun
#endif
