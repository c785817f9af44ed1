// Goto-style blocking: B is packed into KC x NC panels (kept in L2/L3), A into MC x KC panels (L2), and a
// register-blocked MR x NR micro-kernel runs over them. The micro-kernel is plain C++ with fixed trip counts
// so the compiler vectorizes the NR loop and keeps the accumulators in registers. An AVX2/FMA copy with wider
// panels is compiled alongside the portable one and picked at run time.
#include "kernels/reference/gemm_f32.h"

#include <algorithm>
#include <cstring>

#include "kernels/x86/cpu_features.h"

namespace edgerun {
namespace {

constexpr int kMR = 4;
constexpr int kMaxNR = 16;
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 128;  // multiple of kMR
constexpr int64_t kNC = 1024;  // multiple of every NR

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Panel of A rows [i0, i0 + mc) and columns [k0, k0 + kc), stored as consecutive MR-row slivers, each k-major
// (sliver[k * MR + r]). Rows past M are zero so the micro-kernel never branches on them.
inline void pack_a(const MatrixRef& A, int64_t M, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t rows = std::min<int64_t>(kMR, M - (i0 + ir));
    const float* src = A.data + (i0 + ir) * A.row_stride + k0 * A.col_stride;
    if (A.col_stride == 1 && rows == kMR) {
      for (int64_t k = 0; k < kc; ++k)
        for (int r = 0; r < kMR; ++r) dst[k * kMR + r] = src[r * A.row_stride + k];
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int r = 0;
        for (; r < rows; ++r) dst[k * kMR + r] = src[r * A.row_stride + k * A.col_stride];
        for (; r < kMR; ++r) dst[k * kMR + r] = 0.f;
      }
    }
    dst += kMR * kc;
  }
}

// Panel of B rows [k0, k0 + kc) and columns [j0, j0 + nc) as NR-column slivers, each k-major.
template <int NR>
inline void pack_b(const MatrixRef& B, int64_t N, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = std::min<int64_t>(NR, N - (j0 + jr));
    const float* src = B.data + k0 * B.row_stride + (j0 + jr) * B.col_stride;
    if (B.col_stride == 1 && cols == NR) {
      for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, src + k * B.row_stride, sizeof(float) * NR);
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        int c = 0;
        for (; c < cols; ++c) dst[k * NR + c] = src[k * B.row_stride + c * B.col_stride];
        for (; c < NR; ++c) dst[k * NR + c] = 0.f;
      }
    }
    dst += NR * kc;
  }
}

// RolledColumns keeps the column loop from being unrolled before vectorization. With 8-wide vectors that
// yields the plain two-vectors-per-row kernel; otherwise GCC -O3 unrolls it first and the SLP vectorizer picks
// a permuted layout. With 4-wide vectors the early unroll is what keeps the accumulators in registers.
template <int NR, bool RolledColumns>
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c,
                         int64_t ldc, int mr, int nr, float alpha, float beta) {
  float acc[kMR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    // Unrolling the rows early leaves the column loop as the one the vectorizer sees; otherwise -O3 unrolls
    // everything first and vectorizes the k loop as a reduction, spilling every accumulator.
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const float ai = a[i];
      if constexpr (RolledColumns) {
#pragma GCC unroll 1
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
      } else {
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
      }
    }
    a += kMR;
    b += NR;
  }
  if (mr == kMR && nr == NR) {
    if (beta == 0.f) {
      for (int i = 0; i < kMR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j];
    } else {
      for (int i = 0; i < kMR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
    }
    return;
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j)
      c[i * ldc + j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

template <int NR, bool RolledColumns>
inline void gemm_blocked(int64_t M, int64_t N, int64_t K, float alpha, const MatrixRef& A, const MatrixRef& B,
                         float beta, float* C, int64_t ldc, float* workspace) {
  float* packed_a = workspace;
  float* packed_b = workspace + kMC * kKC;
  for (int64_t jc = 0; jc < N; jc += kNC) {
    const int64_t nc = std::min(kNC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      pack_b<NR>(B, N, pc, kc, jc, nc, packed_b);
      const float block_beta = pc == 0 ? beta : 1.f;
      for (int64_t ic = 0; ic < M; ic += kMC) {
        const int64_t mc = std::min(kMC, M - ic);
        pack_a(A, M, ic, mc, pc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int mr = static_cast<int>(std::min<int64_t>(kMR, mc - ir));
            micro_kernel<NR, RolledColumns>(kc, packed_a + ir * kc, packed_b + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, mr, nr,
                             alpha, block_beta);
          }
        }
      }
    }
  }
}

// A single output row: c = alpha * x * B + beta * c, with x a 1 x K row and c strided by c_stride. B is
// streamed without packing, either row by row (axpy) or column by column (dot products).
inline void gemv_row(int64_t N, int64_t K, float alpha, const MatrixRef& x, const MatrixRef& B, float beta,
                     float* __restrict c, int64_t c_stride) {
  if (B.col_stride == 1 && c_stride == 1) {
    if (beta == 0.f) std::fill(c, c + N, 0.f);
    else if (beta != 1.f) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    for (int64_t k = 0; k < K; ++k) {
      const float xk = alpha * x.data[k * x.col_stride];
      const float* __restrict brow = B.data + k * B.row_stride;
      for (int64_t j = 0; j < N; ++j) c[j] += xk * brow[j];
    }
    return;
  }
  constexpr int kLanes = 8;
  for (int64_t j = 0; j < N; ++j) {
    const float* __restrict bcol = B.data + j * B.col_stride;
    float dot = 0.f;
    if (x.col_stride == 1 && B.row_stride == 1) {
      float lanes[kLanes] = {};
      int64_t k = 0;
      for (; k + kLanes <= K; k += kLanes)
        for (int l = 0; l < kLanes; ++l) lanes[l] += x.data[k + l] * bcol[k + l];
      for (; k < K; ++k) dot += x.data[k] * bcol[k];
      for (int l = 0; l < kLanes; ++l) dot += lanes[l];
    } else {
      for (int64_t k = 0; k < K; ++k) dot += x.data[k * x.col_stride] * bcol[k * B.row_stride];
    }
    float& out = c[j * c_stride];
    out = beta == 0.f ? alpha * dot : alpha * dot + beta * out;
  }
}

using GemmFn = void (*)(int64_t, int64_t, int64_t, float, const MatrixRef&, const MatrixRef&, float, float*, int64_t,
                        float*);

void gemm_portable(int64_t M, int64_t N, int64_t K, float alpha, const MatrixRef& A, const MatrixRef& B, float beta,
                   float* C, int64_t ldc, float* workspace) {
  gemm_blocked<8, false>(M, N, K, alpha, A, B, beta, C, ldc, workspace);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2,fma"), flatten)) void gemm_avx2(int64_t M, int64_t N, int64_t K, float alpha,
                                                             const MatrixRef& A, const MatrixRef& B, float beta,
                                                             float* C, int64_t ldc, float* workspace) {
  gemm_blocked<16, true>(M, N, K, alpha, A, B, beta, C, ldc, workspace);
}
__attribute__((target("avx2,fma"), flatten)) void gemv_avx2(int64_t N, int64_t K, float alpha, const MatrixRef& x,
                                                             const MatrixRef& B, float beta, float* c,
                                                             int64_t c_stride) {
  gemv_row(N, K, alpha, x, B, beta, c, c_stride);
}
#endif

bool use_avx2() { return cpu_has_avx2_fma(); }

}  // namespace

size_t gemm_f32_workspace_bytes(int64_t M, int64_t N, int64_t K) {
  if (M <= 1 || N <= 1) return 0;
  const int64_t kc = std::min(kKC, std::max<int64_t>(K, 1));
  const int64_t nc = std::min(kNC, round_up(std::max<int64_t>(N, 1), kMaxNR));
  // The B panel starts after a full-size A panel.
  return sizeof(float) * static_cast<size_t>(kMC * kKC + kc * nc);
}

void gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, MatrixRef A, MatrixRef B, float beta, float* C,
              int64_t ldc, void* workspace) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  if (M == 1 || N == 1) {
    // A vector product: skip packing. For a single column, compute C^T = B^T * A^T.
    const int64_t n = M == 1 ? N : M;
    const MatrixRef x = M == 1 ? A : MatrixRef{B.data, B.col_stride, B.row_stride};
    const MatrixRef y = M == 1 ? B : MatrixRef{A.data, A.col_stride, A.row_stride};
    const int64_t c_stride = M == 1 ? 1 : ldc;
#if defined(__GNUC__) && defined(__x86_64__)
    if (use_avx2()) return gemv_avx2(n, K, alpha, x, y, beta, C, c_stride);
#endif
    return gemv_row(n, K, alpha, x, y, beta, C, c_stride);
  }
  GemmFn fn = gemm_portable;
#if defined(__GNUC__) && defined(__x86_64__)
  if (use_avx2()) fn = gemm_avx2;
#endif
  fn(M, N, K, alpha, A, B, beta, C, ldc, static_cast<float*>(workspace));
}

}  // namespace edgerun
