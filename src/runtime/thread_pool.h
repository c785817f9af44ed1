// A fixed pool of worker threads for data-parallel loops inside kernels. While a model run is in progress
// (RunScope), idle workers spin briefly for the next loop, since waking a sleeping thread costs more than
// most operators of a light model take; otherwise, and once the brief spin finds nothing, they sleep on a
// condition variable: no spinning after a run finishes.
//
// Each thread has a home share of every loop: the same contiguous part of [0, n) for every loop of the
// same size. Kernels number their work items in data order, so a thread mostly reads what it wrote in
// the layer before, from its own cache; on these 2-vCPU machines a line written by the other core costs
// several times an L2 hit (the int8 kernels that read the previous layer's output took 4x as long at two
// threads when work went to whichever thread came first). A thread that finishes its share takes
// chunks from the back of the others' shares, so a descheduled thread does not hold the loop up.
//
// A worker that finds itself on the caller's CPU moves to another one before it takes chunks. After a
// pause between runs (a camera's frames), the scheduler of this VM woke the worker on the caller's vCPU
// in a third of the loops, and the two then shared one vCPU for the rest of the run: mobilenet_v2 at two
// threads took 5.9 ms with 10 ms pauses against 3.1 ms back to back, slower than one thread (4.7 ms).
//
// That check comes too late when the worker is woken onto the caller's CPU: it waits there until the
// caller's time slice runs out. The scheduler of this VM packs woken threads onto busy vCPUs (its
// kernel runs with sched_vcpu_pack), and after a 33 ms pause efficientnet_b0's worker first ran 3-4 ms
// into a 6 ms run. So a caller that wakes sleeping workers first narrows their affinity to leave its
// own CPU out, and each worker gives its affinity back once awake (two threads against one with such
// pauses went from 0.87x to 0.72x).
//
// Whether a run uses the workers at all is chosen run by run from the times of earlier runs (see
// RunModeChooser): when other processes hold the cores, one thread is faster.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <memory>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#else
typedef struct {
  int unused;
} cpu_set_t;
#endif

#include "runtime/run_mode_chooser.h"

typedef struct pthreadpool* pthreadpool_t;

namespace edgerun {

class ThreadPool {
 public:
  // num_threads counts the calling thread: 1 means no workers.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Kernels split their work for this many threads: 1 during a run the pool keeps on the caller.
  int num_threads() const { return single_thread_run_.load(std::memory_order_relaxed) ? 1 : pool_threads(); }

  // Splits [0, n) into contiguous chunks of at least `grain` items and calls fn(begin, end) on each,
  // on the caller and the workers; returns when all are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Marks a model run in progress (nestable: subgraph runs open their own). The outermost one times the
  // run and asks the pool's RunModeChooser whether its loops use the workers.
  class RunScope {
   public:
    explicit RunScope(ThreadPool* pool)
        : pool_(pool), leads_(pool && pool->active_runs_.fetch_add(1, std::memory_order_acq_rel) == 0),
          exceptions_(std::uncaught_exceptions()) {
      if (leads_) pool_->begin_run();
    }
    ~RunScope() {
      if (!pool_) return;
      if (leads_) pool_->end_run(std::uncaught_exceptions() == exceptions_);
      pool_->active_runs_.fetch_sub(1, std::memory_order_acq_rel);
    }
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;

   private:
    ThreadPool* pool_;
    bool leads_;
    int exceptions_;
  };

  // The run times so far say nothing about the next runs: the executor planned for new shapes. (A
  // subgraph planned inside a run changes nothing of the run as a whole.)
  void forget_run_times() {
    if (active_runs_.load(std::memory_order_acquire) <= 1) forget_run_times_.store(true, std::memory_order_relaxed);
  }

  // Runs led through RunScope so far, and how many of them ran on the calling thread alone.
  struct RunCounts {
    int64_t runs = 0, single_thread = 0;
  };
  RunCounts run_counts() const {
    return {runs_.load(std::memory_order_relaxed), single_thread_runs_.load(std::memory_order_relaxed)};
  }

  // Moves the calling thread off `cpu` to another CPU it may run on, leaving its affinity as it was.
  // Returns false when it may run on no other CPU (or the system cannot say).
  static bool move_off_cpu(int cpu);
  // Limits the thread `tid` to the CPUs in `allowed` other than `cpu`; the thread, if asleep, is then
  // woken elsewhere. Returns false when that leaves no CPU (nothing is changed then).
  static bool keep_off_cpu(int tid, const cpu_set_t& allowed, int cpu);

  // Physical cores of this machine (logical CPUs / SMT siblings), at least 1.
  static int physical_cores();

  // This pool as a pthreadpool for XNNPACK operators (see pthreadpool_interface.cpp): their work runs
  // on these same threads.
  pthreadpool_t pthreads();
  // How many XNNPACK parallel loops ran on a pool of more than one thread, in this process.
  static uint64_t xnnpack_parallel_calls();

 private:
  int pool_threads() const { return static_cast<int>(workers_.size()) + 1; }
  void begin_run();
  void end_run(bool completed);
  void worker_loop(int self);
  // Before waking sleeping workers: none of them is to be woken on the caller's CPU `cpu`.
  void keep_workers_off(int cpu);
  // Runs chunks of generation `generation`: thread `self`'s share from the front, then the others' from
  // the back. Returns how many it ran.
  int64_t run_chunks(uint32_t generation, int self);
  int64_t take_chunks(uint32_t generation, int share, bool front);

  std::vector<std::thread> workers_;
  // The loop in progress. The caller writes job_* and then publishes them: every thread's share as
  // (generation << 32 | front << 16 | back), then generation_published_. A thread claims a chunk by
  // compare-and-swap on a share, so a thread that still holds an old generation can never take a chunk
  // of a newer loop, and no lock is taken on the way to the work.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };
  std::unique_ptr<Share[]> shares_;  // [pool_threads()]; the caller's is 0, worker i's is i + 1
  std::atomic<uint32_t> generation_published_{0};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 0, job_total_ = 0;
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<bool> in_loop_{false};  // a parallel_for is in progress (a second caller runs serially)
  // Sleeping: workers wait on wake_ for a new generation, the caller on done_ for the last chunk. The
  // counters say whether anyone sleeps, so the common path makes no system call.
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> caller_cpu_{-1};  // where the caller of the loop in progress last published it
  // Each worker's thread id and the CPUs it may run on, set before the worker first sleeps, and the CPU
  // its affinity now leaves out (-1: none).
  struct WorkerAffinity {
    std::atomic<int> tid{0};
    cpu_set_t allowed;
    std::atomic<int> kept_off{-1};
  };
  std::unique_ptr<WorkerAffinity[]> worker_affinity_;  // [workers_.size()]
  std::atomic<int> active_runs_{0};
  std::atomic<bool> spin_{true};  // false while contention has loops on the caller alone
  // Contention fallback (parallel_for runs on the caller alone until serial_until_); touched only by the
  // calling thread.
  static constexpr std::chrono::milliseconds kMinSerialPeriod{5}, kMaxSerialPeriod{500};
  std::chrono::steady_clock::time_point serial_until_{};
  std::chrono::steady_clock::time_point last_stall_{};
  std::chrono::steady_clock::duration serial_period_ = kMinSerialPeriod;
  // Run by run choice of workers or not (touched only by the thread that leads the run). Off with
  // EDGERUN_ADAPTIVE_THREADS=0.
  const bool adaptive_;
  RunModeChooser chooser_;
  RunModeChooser::Mode run_mode_ = RunModeChooser::Mode::kPooled;
  std::chrono::steady_clock::time_point run_start_{};
  std::atomic<bool> single_thread_run_{false};  // this run's loops run on the caller
  std::atomic<bool> forget_run_times_{false};
  std::atomic<int64_t> runs_{0}, single_thread_runs_{0};
  std::once_flag pthreads_once_;
  std::unique_ptr<struct pthreadpool> pthreads_;
};

}  // namespace edgerun

// The pthreadpool handle XNNPACK receives: this process's pthreadpool functions run on `pool`.
struct pthreadpool {
  edgerun::ThreadPool* pool;
};
