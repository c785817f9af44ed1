#include "runtime/thread_pool.h"

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

namespace edgerun {

namespace {
bool adaptive_threads_enabled() {
  const char* v = std::getenv("EDGERUN_ADAPTIVE_THREADS");
  return v == nullptr || std::string(v) != "0";
}
}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : shares_(new Share[static_cast<size_t>(std::max(num_threads, 1))]),
      worker_affinity_(new WorkerAffinity[static_cast<size_t>(std::max(num_threads - 1, 0))]),
      adaptive_(adaptive_threads_enabled()) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
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

// Spins until done() holds or kSpin passes; returns done(). The condition is checked after every pause
// (a pause takes tens of cycles on recent cores) and the clock every 64 pauses.
template <typename Done>
bool spin_until(const Done& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

constexpr uint64_t pack_share(uint32_t generation, uint64_t front, uint64_t back) {
  return (static_cast<uint64_t>(generation) << 32) | (front << 16) | back;
}
constexpr uint32_t share_generation(uint64_t share) { return static_cast<uint32_t>(share >> 32); }
constexpr uint64_t share_front(uint64_t share) { return (share >> 16) & 0xffff; }
constexpr uint64_t share_back(uint64_t share) { return share & 0xffff; }
constexpr int64_t kMaxChunks = 0xffff;

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::take_chunks(uint32_t generation, int share, bool front) {
  std::atomic<uint64_t>& range = shares_[share].range;
  int64_t ran = 0;
  uint64_t s = range.load(std::memory_order_acquire);
  while (share_generation(s) == generation && share_front(s) < share_back(s)) {
    const uint64_t taken = front ? s + (uint64_t{1} << 16) : s - 1;
    if (!range.compare_exchange_weak(s, taken, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The chunk is ours, so the loop cannot finish before we do: job_* stay this generation's.
    const int64_t chunk = static_cast<int64_t>(front ? share_front(s) : share_back(s) - 1);
    const int64_t begin = chunk * job_chunk_;
    (*job_)(begin, std::min(job_n_, begin + job_chunk_));
    ++ran;
    // Nothing of the job is touched after the last chunk is counted: the caller may be on its next loop.
    const int64_t total = job_total_;
    if (chunks_done_.fetch_add(1, std::memory_order_seq_cst) + 1 == total && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_all();
    }
    s = range.load(std::memory_order_acquire);
  }
  return ran;
}

int64_t ThreadPool::run_chunks(uint32_t generation, int self) {
  int64_t ran = take_chunks(generation, self, true);
  for (int k = 1; k < pool_threads(); ++k) ran += take_chunks(generation, (self + k) % pool_threads(), false);
  return ran;
}

void ThreadPool::worker_loop(int self) {
  WorkerAffinity& affinity = worker_affinity_[self - 1];
#if defined(__linux__)
  if (sched_getaffinity(0, sizeof affinity.allowed, &affinity.allowed) == 0)
    affinity.tid.store(static_cast<int>(gettid()), std::memory_order_release);
#endif
  uint32_t seen = 0;
  auto fresh = [&] { return generation_published_.load() != seen || stop_.load(); };
  while (true) {
    if (active_runs_.load(std::memory_order_acquire) > 0 && spin_.load(std::memory_order_relaxed)) spin_until(fresh);
    if (!fresh()) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);
      wake_.wait(lock, fresh);
      sleeping_workers_.fetch_sub(1);
    }
#if defined(__linux__)
    // Woken away from the caller's CPU: this thread may run anywhere again.
    if (affinity.kept_off.exchange(-1, std::memory_order_acq_rel) != -1)
      sched_setaffinity(0, sizeof affinity.allowed, &affinity.allowed);
#endif
    if (stop_.load()) return;
    seen = generation_published_.load(std::memory_order_acquire);
#if defined(__linux__)
    // Two threads of one loop on one CPU take turns, each at half speed, for the rest of the run.
    const int cpu = sched_getcpu();
    if (cpu >= 0 && cpu == caller_cpu_.load(std::memory_order_relaxed)) move_off_cpu(cpu);
#endif
    run_chunks(seen, self);
  }
}

void ThreadPool::begin_run() {
  if (forget_run_times_.exchange(false, std::memory_order_relaxed)) chooser_.forget();
  run_mode_ = adaptive_ && !workers_.empty() ? chooser_.next() : RunModeChooser::Mode::kPooled;
  single_thread_run_.store(run_mode_ == RunModeChooser::Mode::kSerial, std::memory_order_relaxed);
  run_start_ = std::chrono::steady_clock::now();
}

void ThreadPool::end_run(bool completed) {
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - run_start_;
  single_thread_run_.store(false, std::memory_order_relaxed);
  runs_.fetch_add(1, std::memory_order_relaxed);
  if (run_mode_ == RunModeChooser::Mode::kSerial) single_thread_runs_.fetch_add(1, std::memory_order_relaxed);
  // A run that planned for new shapes is not counted, nor are the two after it (fresh arena pages).
  if (forget_run_times_.exchange(false, std::memory_order_relaxed)) chooser_.forget();
  else if (completed && adaptive_) chooser_.record(run_mode_, took.count());
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || single_thread_run_.load(std::memory_order_relaxed)) {
    fn(0, n);
    return;
  }
  grain = std::max<int64_t>(grain, 1);
  // A few chunks per thread, claimed one at a time: when another process holds a core, the threads that
  // do run take over the chunks a descheduled worker has not started, instead of waiting for it.
  const int64_t chunks = std::min<int64_t>({std::max<int64_t>(1, n / grain), 4 * pool_threads(), kMaxChunks});
  // One loop at a time: a loop started from inside a chunk, or from a second thread, runs on its caller.
  if (chunks <= 1 || in_loop_.exchange(true, std::memory_order_acquire)) {
    fn(0, n);
    return;
  }
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  if (start < serial_until_) {
    in_loop_.store(false, std::memory_order_release);
    fn(0, n);
    return;
  }
  spin_.store(true, std::memory_order_relaxed);
  job_ = &fn;
  job_n_ = n;
  job_chunk_ = (n + chunks - 1) / chunks;
  const int64_t total = job_total_ = (n + job_chunk_ - 1) / job_chunk_;
  chunks_done_.store(0, std::memory_order_relaxed);
  // Only the caller (the one thread in a loop) publishes, so the next generation follows the last.
  const uint32_t generation = generation_published_.load(std::memory_order_relaxed) + 1;
#if defined(__linux__)
  caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
  const int threads = pool_threads();
  for (int t = 0; t < threads; ++t)
    shares_[t].range.store(pack_share(generation, static_cast<uint64_t>(t * total / threads),
                                      static_cast<uint64_t>((t + 1) * total / threads)),
                           std::memory_order_relaxed);
  generation_published_.store(generation);
  if (sleeping_workers_.load() > 0) {
    keep_workers_off(caller_cpu_.load(std::memory_order_relaxed));
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  const int64_t ran = run_chunks(generation, 0);
  const Clock::time_point caller_done = Clock::now();
  auto all_done = [&] { return chunks_done_.load() == total; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, all_done);
    caller_sleeping_.store(false);
  }
  in_loop_.store(false, std::memory_order_release);
  // A worker that took a chunk and was then descheduled (another process holds its core) leaves the
  // caller waiting far longer than a chunk takes. After such a stall, loops run on the calling thread
  // alone for a while: two threads are then no slower than one, and the workers come back when the
  // cores are free again. Stalls that follow each other (within four such whiles) double the while, up
  // to kMaxSerialPeriod; a stall long after the last starts it over at kMinSerialPeriod. (The while had
  // been halved by every loop that went well: with a busy process beside mobilenet_v2, each 5 ms alone
  // was followed by another stall of a scheduler time slice, 4 ms, eleven times in 40 runs; now the
  // while grows to 320 ms within 100 runs, after 8 stalls.)
  const Clock::time_point end = Clock::now();
  const auto chunk_time = (caller_done - start) / std::max<int64_t>(ran, 1);
  if (end - caller_done > 2 * chunk_time + std::chrono::microseconds(200)) {
    serial_period_ = end - last_stall_ < 4 * serial_period_
                         ? std::min<Clock::duration>(2 * serial_period_, kMaxSerialPeriod)
                         : Clock::duration(kMinSerialPeriod);
    last_stall_ = end;
    serial_until_ = end + serial_period_;
    spin_.store(false, std::memory_order_relaxed);  // idle workers sleep rather than take the core back
  }
}

bool ThreadPool::move_off_cpu(int cpu) {
#if defined(__linux__)
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  // A thread whose affinity leaves out the CPU it is on is moved at once; given its whole set back, it
  // stays where it was moved.
  if (!keep_off_cpu(0, allowed, cpu)) return false;
  sched_setaffinity(0, sizeof allowed, &allowed);
  return true;
#else
  (void)cpu;
  return false;
#endif
}

bool ThreadPool::keep_off_cpu(int tid, const cpu_set_t& allowed, int cpu) {
#if defined(__linux__)
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  cpu_set_t elsewhere = allowed;
  CPU_CLR(cpu, &elsewhere);
  if (CPU_COUNT(&elsewhere) == 0) return false;
  return sched_setaffinity(tid, sizeof elsewhere, &elsewhere) == 0;
#else
  (void)tid, (void)allowed, (void)cpu;
  return false;
#endif
}

void ThreadPool::keep_workers_off(int cpu) {
#if defined(__linux__)
  if (cpu < 0) return;
  for (size_t i = 0; i < workers_.size(); ++i) {
    WorkerAffinity& affinity = worker_affinity_[i];
    const int tid = affinity.tid.load(std::memory_order_acquire);
    // A worker that has not started yet, or is already kept off this CPU, or may not run on it anyway.
    if (tid == 0 || affinity.kept_off.load(std::memory_order_acquire) == cpu || !CPU_ISSET(cpu, &affinity.allowed)) continue;
    if (keep_off_cpu(tid, affinity.allowed, cpu)) affinity.kept_off.store(cpu, std::memory_order_release);
  }
#else
  (void)cpu;
#endif
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
