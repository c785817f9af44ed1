// The int8 kernels' requantization, XNNPACK's "fp32" scheme: float(acc + bias) * scale, clamped to the
// output range (bounds minus the zero point, in float), rounded to nearest even, plus the output zero
// point. One vector of 8 int32 sums on AVX2, or 16 narrowed to int8 on AVX-512.
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

// requantize_8's steps on 16 lanes, narrowed to 16 int8 by vpmovsdb (the clamp keeps the values in
// int8, so its saturation never acts).
__attribute__((target("avx512f"))) inline __m128i requantize_16_avx512(__m512i acc, __m512i bias, __m512 scale,
                                                                      __m512 lo, __m512 hi, __m512i zero_point) {
  __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, bias)), scale);
  f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
  return _mm512_cvtsepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), zero_point));
}

}  // namespace edgerun
#endif
