// The AVX-512 counterpart of fma_6x16.h: R rows x N 16-column blocks of sums in R * N zmm registers,
// each step a broadcast of one value per row times N vectors of packed weights. Both float convolution
// kernels pack their weights in 16-column blocks, so N = 2 reads two neighbouring blocks as two weight
// streams (`w` and `w + w_next`) without repacking.
#pragma once
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/activation_avx512.h"

namespace edgerun {

// acc[r][n] += sum over taps t and c < depth of a[t][r][c] * w[n * w_next + (t * depth + c) * 16 + 0..15],
// with `a` the row pointers [taps][R]. Always inlined into its AVX-512 callers (R and N constant, so the
// accumulators stay in registers).
template <int R, int N>
__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline void fma_rows_x16n(
    const float* const* a, int64_t taps, const float* w, int64_t w_next, int64_t depth, __m512 (&acc)[R][N]) {
  for (int64_t t = 0; t < taps; ++t, a += R) {
    const float* row[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) row[r] = a[r];
    for (int64_t c = 0; c < depth; ++c, w += 16) {
      __m512 wv[N];
#pragma GCC unroll 2
      for (int n = 0; n < N; ++n) wv[n] = _mm512_loadu_ps(w + n * w_next);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512 b = _mm512_set1_ps(row[r][c]);
#pragma GCC unroll 2
        for (int n = 0; n < N; ++n) acc[r][n] = _mm512_fmadd_ps(b, wv[n], acc[r][n]);
      }
    }
  }
}

}  // namespace edgerun
#endif
