// Batched 2-D transposition of 1- or 4-byte elements (float32, int8 and uint8 activations), the core of the NCHW <-> NHWC conversions:
// NCHW -> NHWC transposes each image from [C, H*W] to [H*W, C], NHWC -> NCHW the other way.
#pragma once
#include <algorithm>
#include <cstdint>

#include "edgerun/tensor.h"
#include "runtime/thread_pool.h"

namespace edgerun {

// dst[b][c][r] = src[b][r][c] for a batch of rows x cols matrices; tiles keep both sides in cache.
template <typename T>
inline void transpose_2d(const T* src, T* dst, int64_t batch, int64_t rows, int64_t cols, ThreadPool* threads) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  // Work items are tiles of both dimensions: an image's 3 channels (a network's input) still split.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / (row_tiles * col_tiles), rt = t / col_tiles % row_tiles, ct = t % col_tiles;
      const int64_t r0 = rt * kTile, r1 = std::min(rows, r0 + kTile);
      const int64_t c0 = ct * kTile, c1 = std::min(cols, c0 + kTile);
      const T* s = src + b * rows * cols;
      T* d = dst + b * rows * cols;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) d[c * rows + r] = s[r * cols + c];
    }
  };
  const int64_t tiles = batch * row_tiles * col_tiles;
  if (threads && rows * cols * batch >= (int64_t{1} << 15)) threads->parallel_for(tiles, 16, work);
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
