#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
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
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::vector<int> covered(100, 0);
  int chunks = 0;
  pool.parallel_for(100, 1, [&](int64_t begin, int64_t end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // long enough for the worker to wake
    std::lock_guard<std::mutex> lock(mutex);
    threads.insert(std::this_thread::get_id());
    ++chunks;
    for (int64_t i = begin; i < end; ++i) ++covered[static_cast<size_t>(i)];
  });
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(chunks, 8);  // a few chunks per thread, so running threads can take a late worker's share
  EXPECT_EQ(std::count(covered.begin(), covered.end(), 1), 100);
  EXPECT_GE(ThreadPool::physical_cores(), 1);
}

// Every thread starts on its home share (the caller on the first part of the range, the worker on the
// second) and, once that is done, takes the chunks another thread has not started, from the back.
TEST(ThreadPool, RunsHomeSharesThenTakesOthersFromTheBack) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> worker_started{false}, release{false};
  std::mutex mutex;
  std::vector<int64_t> caller_order, worker_order;
  pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) {
    ASSERT_EQ(end, begin + 1);
    const bool on_caller = std::this_thread::get_id() == caller;
    {
      std::lock_guard<std::mutex> lock(mutex);
      (on_caller ? caller_order : worker_order).push_back(begin);
    }
    if (on_caller) {
      // Hold the caller until the worker holds a chunk, and let the worker go once the caller has run
      // all the others.
      if (begin == 0)
        while (!worker_started.load()) std::this_thread::yield();
      std::lock_guard<std::mutex> lock(mutex);
      if (caller_order.size() == 7) release = true;
    } else if (!worker_started.exchange(true)) {
      while (!release.load()) std::this_thread::yield();
    }
  });
  EXPECT_EQ(caller_order, (std::vector<int64_t>{0, 1, 2, 3, 7, 6, 5}));
  EXPECT_EQ(worker_order, (std::vector<int64_t>{4}));
}
