// The fused output activations of activation_avx2.h on 16 floats (zmm): the same operations in the same
// order, so that both paths round alike.
#pragma once
#include "kernels/x86/activation_avx2.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define EDGERUN_AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,fma"

// GCC 12 warns that the intrinsics' _mm512_undefined_ps() (their unused pass-through operand) may be
// uninitialized, wherever they are inlined from these functions.
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace edgerun {

// exp(z), as exp_avx2 for z in [-87.3, 88.7] (the same polynomial; the power of two is applied by
// vscalefps, one instruction instead of four, which also gives 0 and infinity past that range without
// clamping z first).
__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline __m512 exp_avx512(__m512 z) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145752f), z);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.42860677e-6f), r);
  __m512 p = _mm512_set1_ps(0.00829031505f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0418979302f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166676357f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.499991506f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.999999702f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, k);
}

__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline __m512 silu_avx512(__m512 x) {
  const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
}

__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline __m512 hard_swish_avx512(__m512 x) {
  const __m512 gate = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, _mm512_set1_ps(3.f)), _mm512_setzero_ps()),
                                    _mm512_set1_ps(6.f));
  return _mm512_mul_ps(_mm512_mul_ps(x, gate), _mm512_set1_ps(1.f / 6.f));
}

__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline __m512 apply_activation(const OutputActivation& a,
                                                                                           __m512 v) {
  if (a.function == OutputActivation::Function::kSilu) v = silu_avx512(v);
  else if (a.function == OutputActivation::Function::kHardSwish) v = hard_swish_avx512(v);
  return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(a.min)), _mm512_set1_ps(a.max));
}

// The first n (0 to 16) lanes.
__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline __mmask16 lanes_mask16(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
}

}  // namespace edgerun

#pragma GCC diagnostic pop
#endif
