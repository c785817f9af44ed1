#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <string>

namespace edgerun {

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

namespace {

// How long an idle thread spins for the next loop of a run, or for the last chunks of a loop, before
// it sleeps.
constexpr std::chrono::microseconds kSpin{100};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() holds or kSpin passes; returns done().
template <typename Done>
bool spin_until(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  while (!done()) {
    for (int i = 0; i < 64; ++i) cpu_relax();
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
  return true;
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::run_chunks(std::unique_lock<std::mutex>& lock) {
  // Entered and left with the lock held; computes with it released.
  int64_t ran = 0;
  while (next_chunk_ < chunks_total_) {
    const int64_t c = next_chunk_++;
    const auto* job = job_;
    const int64_t begin = c * job_chunk_, end = std::min(job_n_, begin + job_chunk_);
    lock.unlock();
    (*job)(begin, end);
    lock.lock();
    ++ran;
    if (++chunks_done_ == chunks_total_) done_.notify_all();
  }
  return ran;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  while (true) {
    if (active_runs_.load(std::memory_order_acquire) > 0 && spin_.load(std::memory_order_relaxed))
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen || stop_.load(); });
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
    if (stop_) return;
    seen = generation_.load();
    run_chunks(lock);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty()) {
    fn(0, n);
    return;
  }
  grain = std::max<int64_t>(grain, 1);
  // A few chunks per thread, claimed one at a time: when another process holds a core, the threads that
  // do run take over the chunks a descheduled worker has not started, instead of waiting for it.
  const int64_t chunks = std::min<int64_t>(std::max<int64_t>(1, n / grain), 4 * num_threads());
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  if (chunks <= 1 || start < serial_until_) {
    fn(0, n);
    return;
  }
  spin_.store(true, std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  job_n_ = n;
  job_chunk_ = (n + chunks - 1) / chunks;
  chunks_total_ = (n + job_chunk_ - 1) / job_chunk_;
  next_chunk_ = 0;
  chunks_done_ = 0;
  ++generation_;
  wake_.notify_all();
  const int64_t ran = run_chunks(lock);
  const Clock::time_point caller_done = Clock::now();
  const int64_t total = chunks_total_;
  if (chunks_done_.load() != total) {
    lock.unlock();
    spin_until([&] { return chunks_done_.load(std::memory_order_acquire) == total; });
    lock.lock();
    done_.wait(lock, [&] { return chunks_done_.load() == total; });
  }
  job_ = nullptr;
  lock.unlock();
  // A worker that took a chunk and was then descheduled (another process holds its core) leaves the
  // caller waiting far longer than a chunk takes. After such a stall, loops run on the calling thread
  // alone for a while, doubling that while stalls repeat: two threads are then no slower than one,
  // and the workers come back when the cores are free again.
  const Clock::time_point end = Clock::now();
  const auto chunk_time = (caller_done - start) / std::max<int64_t>(ran, 1);
  if (end - caller_done > 2 * chunk_time + std::chrono::microseconds(200)) {
    serial_until_ = end + serial_period_;
    spin_.store(false, std::memory_order_relaxed);  // idle workers sleep rather than take the core back
    serial_period_ = std::min<Clock::duration>(2 * serial_period_, kMaxSerialPeriod);
  } else {
    serial_period_ = std::max<Clock::duration>(serial_period_ / 2, kMinSerialPeriod);
  }
}

int ThreadPool::physical_cores() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, physical_id, core_id;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 1); };
    if (line.rfind("physical id", 0) == 0) physical_id = value();
    else if (line.rfind("core id", 0) == 0) {
      core_id = value();
      cores.insert({physical_id, core_id});
    }
  }
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (cores.empty()) return std::max(hw, 1);
  return std::max(1, std::min(static_cast<int>(cores.size()), std::max(hw, 1)));
}

}  // namespace edgerun
