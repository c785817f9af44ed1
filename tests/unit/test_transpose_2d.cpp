// transpose_2d (the core of the NCHW <-> NHWC conversions) against the definition, over shapes whose
// tiles take each form: square 32 x 32, a short side kept whole (3 channels), sizes off the tile, one
// row or column, three rows (the interleaving paths, 1-byte and float32: whole and partial 16-column steps and
// work items), on 1 and 2 threads, for 4-byte and 1-byte elements.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/layout/transpose_2d.h"
#include "runtime/thread_pool.h"

using namespace edgerun;

namespace {

template <typename T>
void check(int64_t batch, int64_t rows, int64_t cols, ThreadPool* threads) {
  std::vector<T> src(static_cast<size_t>(batch * rows * cols)), dst(src.size(), T(0));
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(i % 251 + 1);
  transpose_2d(src.data(), dst.data(), batch, rows, cols, threads);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(dst[static_cast<size_t>((b * cols + c) * rows + r)], src[static_cast<size_t>((b * rows + r) * cols + c)])
            << batch << "x" << rows << "x" << cols << " at " << b << "," << r << "," << c;
}

TEST(Transpose2d, MatchesDefinition) {
  ThreadPool two(2);
  for (ThreadPool* threads : {static_cast<ThreadPool*>(nullptr), &two})
    for (const auto& [batch, rows, cols] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 3, 50176}, {2, 50176, 3}, {1, 32, 32}, {3, 33, 65}, {1, 1, 40000}, {1, 40000, 1}, {2, 7, 9000},
             {1, 200, 300}, {1, 0, 5}, {2, 3, 4111}, {1, 3, 15}, {3, 3, 8192}}) {
      check<float>(batch, rows, cols, threads);
      check<uint8_t>(batch, rows, cols, threads);
    }
}

}  // namespace
