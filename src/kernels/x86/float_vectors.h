// One vector register of floats as the kernels written for either width see it: Ymm (AVX2, 8 lanes)
// and Zmm (AVX-512, 16 lanes) with the same operations, so that one kernel template compiles for both.
// Masks select the first lanes (a channel group cut short by the last channel); masked loads read
// nothing from the lanes left out.
#pragma once
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/activation_avx2.h"
#include "kernels/x86/activation_avx512.h"

namespace edgerun {

#define EDGERUN_YMM_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
struct Ymm {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int64_t kLanes = 8;
  EDGERUN_YMM_INLINE Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  EDGERUN_YMM_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
  EDGERUN_YMM_INLINE V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  EDGERUN_YMM_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  EDGERUN_YMM_INLINE void store(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
  EDGERUN_YMM_INLINE V zero() { return _mm256_setzero_ps(); }
  EDGERUN_YMM_INLINE V set1(float x) { return _mm256_set1_ps(x); }
  EDGERUN_YMM_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  EDGERUN_YMM_INLINE V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  EDGERUN_YMM_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  EDGERUN_YMM_INLINE V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  EDGERUN_YMM_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  EDGERUN_YMM_INLINE V max(V a, V b) { return _mm256_max_ps(a, b); }
  EDGERUN_YMM_INLINE V clamp(V v, V lo, V hi) { return _mm256_min_ps(_mm256_max_ps(v, lo), hi); }
  EDGERUN_YMM_INLINE V silu(V v) { return silu_avx2(v); }
  EDGERUN_YMM_INLINE V hard_swish(V v) { return hard_swish_avx2(v); }
};
#undef EDGERUN_YMM_INLINE

// As in activation_avx512.h: GCC 12's false uninitialized warnings from the AVX-512 intrinsics.
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define EDGERUN_ZMM_INLINE __attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) static inline
struct Zmm {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int64_t kLanes = 16;
  EDGERUN_ZMM_INLINE Mask mask(int64_t n) { return lanes_mask16(n); }
  EDGERUN_ZMM_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
  EDGERUN_ZMM_INLINE V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  EDGERUN_ZMM_INLINE void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  EDGERUN_ZMM_INLINE void store(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  EDGERUN_ZMM_INLINE V zero() { return _mm512_setzero_ps(); }
  EDGERUN_ZMM_INLINE V set1(float x) { return _mm512_set1_ps(x); }
  EDGERUN_ZMM_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
  EDGERUN_ZMM_INLINE V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  EDGERUN_ZMM_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  EDGERUN_ZMM_INLINE V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  EDGERUN_ZMM_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  EDGERUN_ZMM_INLINE V max(V a, V b) { return _mm512_max_ps(a, b); }
  EDGERUN_ZMM_INLINE V clamp(V v, V lo, V hi) { return _mm512_min_ps(_mm512_max_ps(v, lo), hi); }
  EDGERUN_ZMM_INLINE V silu(V v) { return silu_avx512(v); }
  EDGERUN_ZMM_INLINE V hard_swish(V v) { return hard_swish_avx512(v); }
};
#undef EDGERUN_ZMM_INLINE
#pragma GCC diagnostic pop

}  // namespace edgerun
#endif
