// Batched 2-D transposition of 1- or 4-byte elements (float32, int8 and uint8 activations), the core of the NCHW <-> NHWC conversions:
// NCHW -> NHWC transposes each image from [C, H*W] to [H*W, C], NHWC -> NCHW the other way. Three 1-byte
// rows (a quantized model's image input going NHWC) are interleaved 16 columns a step with byte shuffles
// (SSSE3), and three float32 rows with AVX-512 permutes: element by element that took about 1.6 ns a value.
#pragma once
#include <algorithm>
#include <cstdint>

#include "edgerun/tensor.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGERUN_INTERLEAVE_SSSE3 1
#endif

namespace edgerun {

#ifdef EDGERUN_INTERLEAVE_SSSE3
// dst[3c + r] = row r [c] for c in [begin, end).
__attribute__((target("ssse3"))) inline void interleave_3_rows(const uint8_t* r0, const uint8_t* r1, const uint8_t* r2,
                                                               uint8_t* dst, int64_t begin, int64_t end) {
  // Output byte j of 48 is row j % 3, column j / 3; -1 leaves a zero where another row's byte goes.
  alignas(16) int8_t masks[3][3][16];
  for (int out = 0; out < 3; ++out)
    for (int row = 0; row < 3; ++row)
      for (int i = 0; i < 16; ++i) {
        const int j = out * 16 + i;
        masks[out][row][i] = j % 3 == row ? static_cast<int8_t>(j / 3) : static_cast<int8_t>(-1);
      }
  __m128i m[3][3];
  for (int out = 0; out < 3; ++out)
    for (int row = 0; row < 3; ++row) m[out][row] = _mm_load_si128(reinterpret_cast<const __m128i*>(masks[out][row]));
  int64_t c = begin;
  for (; c + 16 <= end; c += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + c));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + c));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r2 + c));
    for (int out = 0; out < 3; ++out)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 3 * c + 16 * out),
                       _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, m[out][0]), _mm_shuffle_epi8(b, m[out][1])),
                                    _mm_shuffle_epi8(d, m[out][2])));
  }
  for (; c < end; ++c) {
    dst[3 * c] = r0[c];
    dst[3 * c + 1] = r1[c];
    dst[3 * c + 2] = r2[c];
  }
}

// dst[3c + r] = row r [c] for c in [begin, end), float32, 16 columns a step with AVX-512 two-source
// permutes: a network's 3-channel image going NHWC (element by element that took 60-110 us at 224x224,
// 9 % of mobilenet_v3_small).
__attribute__((target("avx512f"))) inline void interleave_3_rows_f32(const float* r0, const float* r1, const float* r2,
                                                                    float* dst, int64_t begin, int64_t end) {
  // Output value j of 48 is row j % 3, column j / 3: the first permute takes rows 0 and 1, the second
  // puts row 2 in.
  alignas(64) int32_t first[3][16], second[3][16];
  for (int out = 0; out < 3; ++out)
    for (int i = 0; i < 16; ++i) {
      const int j = out * 16 + i, row = j % 3, col = j / 3;
      first[out][i] = row == 0 ? col : row == 1 ? 16 + col : 0;
      second[out][i] = row == 2 ? 16 + col : i;
    }
  __m512i f[3], g[3];
  for (int out = 0; out < 3; ++out) {
    f[out] = _mm512_load_si512(first[out]);
    g[out] = _mm512_load_si512(second[out]);
  }
  int64_t c = begin;
  for (; c + 16 <= end; c += 16) {
    const __m512 a = _mm512_loadu_ps(r0 + c), b = _mm512_loadu_ps(r1 + c), d = _mm512_loadu_ps(r2 + c);
    for (int out = 0; out < 3; ++out)
      _mm512_storeu_ps(dst + 3 * c + 16 * out,
                       _mm512_permutex2var_ps(_mm512_permutex2var_ps(a, f[out], b), g[out], d));
  }
  for (; c < end; ++c) {
    dst[3 * c] = r0[c];
    dst[3 * c + 1] = r1[c];
    dst[3 * c + 2] = r2[c];
  }
}

#endif

// dst[b][c][r] = src[b][r][c] for a batch of rows x cols matrices; tiles keep both sides in cache.
template <typename T>
inline void transpose_2d(const T* src, T* dst, int64_t batch, int64_t rows, int64_t cols, ThreadPool* threads) {
  // Tiles of about kTileElements: 32 x 32, or, where one side is short (the 3 channels of a network's
  // input), that side whole and the other longer, so that the tile count (and the index arithmetic per
  // tile) stays small.
  constexpr int64_t kTile = 32, kTileElements = kTile * kTile;
  int64_t tile_rows = std::min(rows, kTile), tile_cols = std::min(cols, kTile);
  if (tile_rows < kTile) tile_cols = std::min(cols, kTileElements / std::max<int64_t>(tile_rows, 1));
  else if (tile_cols < kTile) tile_rows = std::min(rows, kTileElements / std::max<int64_t>(tile_cols, 1));
  tile_rows = std::max<int64_t>(tile_rows, 1);
  tile_cols = std::max<int64_t>(tile_cols, 1);
  const int64_t row_tiles = (rows + tile_rows - 1) / tile_rows, col_tiles = (cols + tile_cols - 1) / tile_cols;
#ifdef EDGERUN_INTERLEAVE_SSSE3
  if (rows == 3 && (sizeof(T) == 1 ? cpu_has_ssse3() : sizeof(T) == 4 && cpu_has_avx512())) {
    const int64_t chunk = 4096, chunks = (cols + chunk - 1) / chunk;  // columns per work item
    auto interleave = [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t b = u / chunks, c0 = u % chunks * chunk, c1 = std::min(cols, c0 + chunk);
        const T* s = src + b * 3 * cols;
        T* d = dst + b * 3 * cols;
        if constexpr (sizeof(T) == 1)
          interleave_3_rows(reinterpret_cast<const uint8_t*>(s), reinterpret_cast<const uint8_t*>(s + cols),
                            reinterpret_cast<const uint8_t*>(s + 2 * cols), reinterpret_cast<uint8_t*>(d), c0, c1);
        else
          interleave_3_rows_f32(reinterpret_cast<const float*>(s), reinterpret_cast<const float*>(s + cols),
                                reinterpret_cast<const float*>(s + 2 * cols), reinterpret_cast<float*>(d), c0, c1);
      }
    };
    if (threads && batch * chunks > 1) threads->parallel_for(batch * chunks, 1, interleave);
    else interleave(0, batch * chunks);
    return;
  }
#endif
  // Work items are tiles of both dimensions: an image's 3 channels still split over the threads. The
  // tiles of one column range (the same destination rows) are consecutive, so one thread writes a
  // destination row whole: with the row tiles apart, two threads wrote the same cache lines (a 7x7x1024
  // NhwcToNchw took 7x as long at 2 threads as at 1). In NCHW -> NHWC a thread then writes whole pixels,
  // the share of them the next NHWC layer reads on that thread.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / (row_tiles * col_tiles), ct = t / row_tiles % col_tiles, rt = t % row_tiles;
      const int64_t r0 = rt * tile_rows, r1 = std::min(rows, r0 + tile_rows);
      const int64_t c0 = ct * tile_cols, c1 = std::min(cols, c0 + tile_cols);
      const T* s = src + b * rows * cols;
      T* d = dst + b * rows * cols;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) d[c * rows + r] = s[r * cols + c];
    }
  };
  const int64_t tiles = batch * row_tiles * col_tiles;
  if (threads && rows * cols * batch >= (int64_t{1} << 15)) threads->parallel_for(tiles, 2, work);
  else work(0, tiles);
}

}  // namespace edgerun

namespace edgerun {

// Element types the layout conversions move: 4-byte floats and 1-byte quantized values.
inline bool layout_convertible(DType t) { return t == DType::kFloat32 || t == DType::kInt8 || t == DType::kUInt8; }

// transpose_2d on the raw bytes of a layout_convertible tensor.
inline void transpose_2d_any(DType t, const void* src, void* dst, int64_t batch, int64_t rows, int64_t cols,
                             ThreadPool* threads) {
  if (t == DType::kFloat32)
    transpose_2d(static_cast<const float*>(src), static_cast<float*>(dst), batch, rows, cols, threads);
  else
    transpose_2d(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), batch, rows, cols, threads);
}

}  // namespace edgerun
