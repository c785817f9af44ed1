// Batched 2-D transposition of 32-bit elements, the core of the NCHW <-> NHWC conversions:
// NCHW -> NHWC transposes each image from [C, H*W] to [H*W, C], NHWC -> NCHW the other way.
#pragma once
#include <algorithm>
#include <cstdint>

#include "runtime/thread_pool.h"

namespace edgerun {

// dst[b][c][r] = src[b][r][c] for a batch of rows x cols matrices; tiles keep both sides in cache.
inline void transpose_2d(const float* src, float* dst, int64_t batch, int64_t rows, int64_t cols, ThreadPool* threads) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / row_tiles, r0 = (t % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      const float* s = src + b * rows * cols;
      float* d = dst + b * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) d[c * rows + r] = s[r * cols + c];
      }
    }
  };
  const int64_t tiles = batch * row_tiles;
  if (threads && rows * cols * batch >= (int64_t{1} << 15)) threads->parallel_for(tiles, 1, work);
  else work(0, tiles);
}

}  // namespace edgerun
