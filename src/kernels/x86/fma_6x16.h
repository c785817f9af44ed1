// The register-blocked step both float convolution kernels (ConvIgemmF32, ConvWinogradF32) are built
// on: 6 rows x 16 columns of sums in 12 ymm registers, each step a broadcast of one value per row
// times two vectors of packed weights.
#pragma once
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace edgerun {

// acc[r][h] += sum over taps t and c < depth of a[t][r][c] * w[t][c][h * 8 .. h * 8 + 7], with `a` the
// row pointers [taps][6] and w packed [taps][depth][16]. Always inlined into its AVX2 callers; the
// accumulators stay in registers across taps.
__attribute__((target("avx2,fma"), always_inline)) inline void fma_6x16(const float* const* a, int64_t taps,
                                                                       const float* w, int64_t depth,
                                                                       __m256 (&acc)[6][2]) {
  __m256 c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1], c20 = acc[2][0], c21 = acc[2][1];
  __m256 c30 = acc[3][0], c31 = acc[3][1], c40 = acc[4][0], c41 = acc[4][1], c50 = acc[5][0], c51 = acc[5][1];
  for (int64_t t = 0; t < taps; ++t, a += 6) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int64_t c = 0; c < depth; ++c, w += 16) {
      const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
      __m256 b = _mm256_broadcast_ss(a0 + c);
      c00 = _mm256_fmadd_ps(b, w0, c00);
      c01 = _mm256_fmadd_ps(b, w1, c01);
      b = _mm256_broadcast_ss(a1 + c);
      c10 = _mm256_fmadd_ps(b, w0, c10);
      c11 = _mm256_fmadd_ps(b, w1, c11);
      b = _mm256_broadcast_ss(a2 + c);
      c20 = _mm256_fmadd_ps(b, w0, c20);
      c21 = _mm256_fmadd_ps(b, w1, c21);
      b = _mm256_broadcast_ss(a3 + c);
      c30 = _mm256_fmadd_ps(b, w0, c30);
      c31 = _mm256_fmadd_ps(b, w1, c31);
      b = _mm256_broadcast_ss(a4 + c);
      c40 = _mm256_fmadd_ps(b, w0, c40);
      c41 = _mm256_fmadd_ps(b, w1, c41);
      b = _mm256_broadcast_ss(a5 + c);
      c50 = _mm256_fmadd_ps(b, w0, c50);
      c51 = _mm256_fmadd_ps(b, w1, c51);
    }
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
  acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
}

}  // namespace edgerun
#endif
