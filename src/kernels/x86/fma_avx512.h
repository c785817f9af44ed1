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

// How store_rows_x16n finishes each value: as it is, clamped to the activation's range, or with the
// whole activation (apply_activation).
enum class RowFinish { kNone, kClamp, kActivation };

// Stores rows 0..rows-1 of acc (rows <= R): out[r * out_stride + n * 16 + lane] for the lanes of mask[n],
// each value plus res (laid out like out; may be null), then finished as Finish says with `act`. Every
// row goes through the same unrolled code, those past `rows` with empty masks: a loop that stops at
// `rows` indexes acc with a variable, which keeps the accumulators on the stack around the whole tile.
template <int R, int N, RowFinish Finish>
__attribute__((target(EDGERUN_AVX512_TARGET), always_inline)) inline void store_rows_x16n(
    const __m512 (&acc)[R][N], int64_t rows, float* out, int64_t out_stride, const __mmask16 (&mask)[N],
    const float* res, const OutputActivation& act) {
  const __m512 lo = _mm512_set1_ps(act.min), hi = _mm512_set1_ps(act.max);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int n = 0; n < N; ++n) {
      const __mmask16 m = r < rows ? mask[n] : 0;
      __m512 v = acc[r][n];
      if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + r * out_stride + n * 16));
      if constexpr (Finish == RowFinish::kClamp) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      if constexpr (Finish == RowFinish::kActivation) v = apply_activation(act, v);
      _mm512_mask_storeu_ps(out + r * out_stride + n * 16, m, v);
    }
  }
}

}  // namespace edgerun
#endif
