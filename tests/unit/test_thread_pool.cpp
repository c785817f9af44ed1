#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "model_builder.h"
#include "runtime/thread_pool.h"

using edgerun::ThreadPool;
using edgerun::test::ScopedEnv;

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

namespace {

// Runs `runs` model runs on `pool`, each one loop of 8 items: 2 ms each on the caller, 50 ms on a
// worker (a worker that the scheduler has parked). Returns, per run, whether no item ran on a worker
// and what num_threads() said inside the run. (After a run whose worker stalled the loop, the pool's
// own fallback runs loops on the caller for 5 ms: the next run starts within those.)
struct RunTrace {
  std::vector<bool> caller_only;
  std::vector<int> num_threads;
};
RunTrace run_with_slow_worker(ThreadPool& pool, int runs) {
  RunTrace trace;
  const std::thread::id caller = std::this_thread::get_id();
  for (int run = 0; run < runs; ++run) {
    const ThreadPool::RunScope scope(&pool);
    std::atomic<bool> worker_ran{false};
    trace.num_threads.push_back(pool.num_threads());
    pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) {
      const bool on_worker = std::this_thread::get_id() != caller;
      if (on_worker) worker_ran = true;
      for (int64_t i = begin; i < end; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(on_worker ? 50 : 2));
    });
    trace.caller_only.push_back(!worker_ran);
  }
  return trace;
}

}  // namespace

// A session's runs go to the calling thread alone while that is faster (RunModeChooser): here every
// run that uses the worker waits 50 ms for it, against 16 ms on the caller alone.
TEST(ThreadPool, RunsOnTheCallerAloneWhileThatIsFaster) {
  ScopedEnv adaptive("EDGERUN_ADAPTIVE_THREADS", "1");
  ThreadPool pool(2);
  const RunTrace t = run_with_slow_worker(pool, 12);
  // Runs 0-2 on both threads (two not counted), the try at 3-5 (caller, both, caller), then the caller
  // is kept; the pool is tried back at run 8 and loses.
  EXPECT_FALSE(t.caller_only[2]);
  EXPECT_EQ(t.num_threads[2], 2);
  for (int run : {3, 5, 6, 7, 9, 10, 11}) {
    EXPECT_TRUE(t.caller_only[run]) << run;
    EXPECT_EQ(t.num_threads[run], 1) << run;  // kernels split their work for one thread
  }
  EXPECT_EQ(t.num_threads[8], 2);
  EXPECT_EQ(pool.run_counts().runs, 12);
  EXPECT_EQ(pool.run_counts().single_thread, 7);
  // Outside a run the pool has both threads again.
  EXPECT_EQ(pool.num_threads(), 2);
}

TEST(ThreadPool, KeepsEveryRunOnAllThreadsWhenAskedTo) {
  ScopedEnv adaptive("EDGERUN_ADAPTIVE_THREADS", "0");
  ThreadPool pool(2);
  const RunTrace t = run_with_slow_worker(pool, 8);
  EXPECT_EQ(pool.run_counts().runs, 8);
  EXPECT_EQ(pool.run_counts().single_thread, 0);
  for (int n : t.num_threads) EXPECT_EQ(n, 2);
}

namespace {

// The CPUs this process may run on and the lowest of them; false with fewer than two.
bool two_cpus(cpu_set_t* all, int* first) {
  if (sched_getaffinity(0, sizeof *all, all) != 0 || CPU_COUNT(all) < 2) return false;
  for (*first = 0; !CPU_ISSET(*first, all); ++*first) {
  }
  return true;
}

// Limits the calling thread to `cpu`.
bool pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one) == 0;
}

}  // namespace

// A worker that finds itself on the caller's CPU moves away (move_off_cpu); the move must land on
// another CPU at once and leave the thread free to run anywhere it could before.
TEST(ThreadPool, MovesAThreadOffACpu) {
  cpu_set_t all;
  int first = 0;
  if (!two_cpus(&all, &first)) GTEST_SKIP() << "fewer than two CPUs";
  std::thread([&] {
    ASSERT_TRUE(pin_to(first));
    ASSERT_EQ(sched_getcpu(), first);
    // Allowed on that CPU alone: there is nowhere to go.
    EXPECT_FALSE(edgerun::ThreadPool::move_off_cpu(first));
    EXPECT_EQ(sched_getcpu(), first);

    ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
    EXPECT_TRUE(edgerun::ThreadPool::move_off_cpu(first));
    EXPECT_NE(sched_getcpu(), first);
    cpu_set_t after;
    ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
    EXPECT_TRUE(CPU_EQUAL(&after, &all));
  }).join();
}

// A sleeping thread kept off a CPU (keep_off_cpu, what a caller does to sleeping workers before it
// wakes them) is woken on another one; with no other CPU allowed nothing changes.
TEST(ThreadPool, WakesAThreadKeptOffACpuElsewhere) {
  cpu_set_t all;
  int first = 0;
  if (!two_cpus(&all, &first)) GTEST_SKIP() << "fewer than two CPUs";
  cpu_set_t only_first;
  CPU_ZERO(&only_first);
  CPU_SET(first, &only_first);

  std::mutex m;
  std::condition_variable cv;
  std::atomic<int> tid{0};
  bool go = false;
  int woken_on = -1;
  cpu_set_t woken_with;
  std::thread sleeper([&] {
    tid = static_cast<int>(gettid());
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return go; });
    woken_on = sched_getcpu();
    sched_getaffinity(0, sizeof woken_with, &woken_with);
  });
  while (tid.load() == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // asleep on the condition variable

  EXPECT_FALSE(edgerun::ThreadPool::keep_off_cpu(tid, only_first, first));
  cpu_set_t unchanged;
  ASSERT_EQ(sched_getaffinity(tid, sizeof unchanged, &unchanged), 0);
  EXPECT_TRUE(CPU_EQUAL(&unchanged, &all));

  ASSERT_TRUE(edgerun::ThreadPool::keep_off_cpu(tid, all, first));
  {
    std::lock_guard<std::mutex> lock(m);
    go = true;
  }
  cv.notify_one();
  sleeper.join();
  EXPECT_NE(woken_on, first);
  EXPECT_FALSE(CPU_ISSET(first, &woken_with));
  EXPECT_EQ(CPU_COUNT(&woken_with), CPU_COUNT(&all) - 1);
}

// A pool whose caller sits on one CPU wakes its sleeping worker on another, and the worker runs its
// chunks free to go anywhere again (its affinity given back).
TEST(ThreadPool, WorkerWokenFromTheCallersCpuGetsItsAffinityBack) {
  cpu_set_t all;
  int first = 0;
  if (!two_cpus(&all, &first)) GTEST_SKIP() << "fewer than two CPUs";
  std::thread([&] {
    ThreadPool pool(2);  // the worker may run on every CPU this process may
    ASSERT_TRUE(pin_to(first));
    const std::thread::id caller = std::this_thread::get_id();
    for (int round = 0; round < 5; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // no run in progress: the worker sleeps
      std::mutex m;
      std::vector<std::pair<int, int>> worker_chunks;  // CPU, CPUs allowed
      pool.parallel_for(2, 1, [&](int64_t, int64_t) {
        if (std::this_thread::get_id() == caller) {
          // Leave the second chunk to the worker.
          const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
          while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
          return;
        }
        cpu_set_t now;
        sched_getaffinity(0, sizeof now, &now);
        std::lock_guard<std::mutex> lock(m);
        worker_chunks.emplace_back(sched_getcpu(), CPU_COUNT(&now));
      });
      for (const auto& [cpu, allowed] : worker_chunks) {
        EXPECT_NE(cpu, first) << "round " << round;
        EXPECT_EQ(allowed, CPU_COUNT(&all)) << "round " << round;
      }
    }
  }).join();
}
