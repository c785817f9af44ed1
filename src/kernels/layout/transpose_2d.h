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
  // Work items are tiles of both dimensions: an image's 3 channels still split over the threads.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / (row_tiles * col_tiles), rt = t / col_tiles % row_tiles, ct = t % col_tiles;
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
