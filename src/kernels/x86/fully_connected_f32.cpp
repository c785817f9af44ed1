#include "kernels/x86/fully_connected_f32.h"

#include <algorithm>
#include <cstring>

#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include "kernels/x86/fma_6x16.h"
#define EDGERUN_FC_AVX2 1
#endif

namespace edgerun {
namespace {

constexpr int64_t kRows = 6;
constexpr int64_t kBlock = 16;

#ifdef EDGERUN_FC_AVX2

__attribute__((target("avx2,fma"))) inline void store_16(__m256 v0, __m256 v1, float out_min, float out_max,
                                                          float* out, int64_t cols) {
  const __m256 lo = _mm256_set1_ps(out_min), hi = _mm256_set1_ps(out_max);
  v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
  v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
  if (cols == kBlock) {
    _mm256_storeu_ps(out, v0);
    _mm256_storeu_ps(out + 8, v1);
    return;
  }
  alignas(32) float tail[kBlock];
  _mm256_store_ps(tail, v0);
  _mm256_store_ps(tail + 8, v1);
  std::memcpy(out, tail, sizeof(float) * static_cast<size_t>(cols));
}

// One row times one 16-column block. Even and odd k go to separate accumulators, so four FMA chains
// are in flight: the loop then runs at the speed the packed weights arrive.
__attribute__((target("avx2,fma"))) void row_1x16(const float* a, const float* w, int64_t k, const float* bias,
                                                  float out_min, float out_max, float* out, int64_t cols) {
  __m256 c0 = _mm256_loadu_ps(bias), c1 = _mm256_loadu_ps(bias + 8);
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= k; i += 2, w += 2 * kBlock) {
    const __m256 x0 = _mm256_broadcast_ss(a + i), x1 = _mm256_broadcast_ss(a + i + 1);
    c0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w), c0);
    c1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 8), c1);
    d0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + 16), d0);
    d1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + 24), d1);
  }
  if (i < k) {
    const __m256 x0 = _mm256_broadcast_ss(a + i);
    c0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w), c0);
    c1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + 8), c1);
  }
  store_16(_mm256_add_ps(c0, d0), _mm256_add_ps(c1, d1), out_min, out_max, out, cols);
}

// Up to 6 rows (missing ones repeat the last row: computed, not stored) times one 16-column block.
__attribute__((target("avx2,fma"))) void rows_6x16(const float* a, int64_t lda, int64_t rows, const float* w,
                                                   int64_t k, const float* bias, float out_min, float out_max,
                                                   float* out, int64_t ldo, int64_t cols) {
  const float* row_ptrs[kRows];
  for (int64_t r = 0; r < kRows; ++r) row_ptrs[r] = a + std::min(r, rows - 1) * lda;
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  __m256 acc[kRows][2] = {{b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}};
  fma_6x16(row_ptrs, 1, w, k, acc);
  for (int64_t r = 0; r < rows; ++r) store_16(acc[r][0], acc[r][1], out_min, out_max, out + r * ldo, cols);
}

#endif  // EDGERUN_FC_AVX2

}  // namespace

bool FullyConnectedF32::supported() { return cpu_has_avx2_fma(); }

void FullyConnectedF32::pack(const float* weights, const float* bias, int64_t k, int64_t n, bool k_major,
                             float out_min, float out_max) {
  k_ = k;
  n_ = n;
  blocks_ = (n + kBlock - 1) / kBlock;
  packed_.resize(static_cast<size_t>(blocks_ * k * kBlock));
  float* dst = packed_.data();
  for (int64_t b = 0; b < blocks_; ++b)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t col = 0; col < kBlock; ++col) {
        const int64_t j = b * kBlock + col;
        *dst++ = j >= n ? 0.f : k_major ? weights[i * n + j] : weights[j * k + i];
      }
  bias_.assign(static_cast<size_t>(blocks_ * kBlock), 0.f);
  if (bias) std::copy(bias, bias + n, bias_.begin());
  out_min_ = out_min;
  out_max_ = out_max;
}

void FullyConnectedF32::run(const float* a, float* y, int64_t rows, ThreadPool* threads) const {
#ifdef EDGERUN_FC_AVX2
  if (rows <= 0) return;
  // Work items: row tiles x column blocks, the blocks of one tile consecutive so that a thread's share
  // reads a contiguous stretch of the packed weights. A single row is its own tile and kernel.
  const int64_t tiles = rows == 1 ? 1 : (rows + kRows - 1) / kRows;
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t tile = u / blocks_, b = u % blocks_;
      const float* w = packed_.data() + b * k_ * kBlock;
      const int64_t col = b * kBlock, cols = std::min(kBlock, n_ - col);
      if (rows == 1) {
        row_1x16(a, w, k_, bias_.data() + col, out_min_, out_max_, y + col, cols);
        continue;
      }
      const int64_t r0 = tile * kRows;
      rows_6x16(a + r0 * k_, k_, std::min(kRows, rows - r0), w, k_, bias_.data() + col, out_min_, out_max_,
                y + r0 * n_ + col, n_, cols);
    }
  };
  const int64_t items = tiles * blocks_;
  if (threads && threads->num_threads() > 1) threads->parallel_for(items, 1, work);
  else work(0, items);
#else
  (void)a, (void)y, (void)rows, (void)threads;
#endif
}

}  // namespace edgerun
