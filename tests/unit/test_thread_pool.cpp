#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "runtime/thread_pool.h"

using edgerun::ThreadPool;

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, 16, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) ++hits[i];
        });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 3) << "threads " << threads << " n " << n << " i " << i;
    }
  }
}

TEST(ThreadPool, UsesWorkers) {
  ThreadPool pool(2);
  std::atomic<int> chunks{0};
  pool.parallel_for(100, 1, [&](int64_t, int64_t) { ++chunks; });
  EXPECT_EQ(chunks.load(), 2);
  EXPECT_GE(ThreadPool::physical_cores(), 1);
}
