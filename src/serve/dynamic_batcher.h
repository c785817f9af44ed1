// Runs inference jobs for one model version: a bounded queue in front of `instance_count` Sessions,
// each on its own worker thread. With dynamic batching, jobs waiting in the queue are merged along
// dimension 0 (up to max_batch_size, waiting at most max_queue_delay for more) and each job gets
// its own slice of the outputs back.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "edgerun/session.h"
#include "serve/metrics.h"

namespace edgerun::serve {

using Clock = std::chrono::steady_clock;

struct InferOutcome {
  int status = 200;  // HTTP status: 200, or 400 (bad input found by the engine), 500, 504 (timed out in the queue)
  std::string error;
  std::vector<Tensor> outputs;  // all model outputs, model order
  double queue_us = 0;
  double compute_us = 0;
};

struct InferJob {
  std::vector<Tensor> inputs;  // model input order
  int64_t batch_size = 0;      // dimension 0 of the inputs when the model batches
  Clock::time_point enqueued = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();  // a job still queued after it fails with 504
  std::function<void(InferOutcome&&)> done;                // called exactly once, on a worker thread
};

struct BatcherOptions {
  int instance_count = 1;
  int threads_per_instance = 1;  // SessionOptions::num_threads
  int64_t max_batch_size = 0;    // 0: no batching, inputs run as given
  bool dynamic_batching = false;
  int64_t max_queue_delay_us = 0;
  std::vector<int64_t> preferred_batch_size;
  size_t max_queue_size = 1024;  // jobs waiting; more are refused (503)
};

class DynamicBatcher {
 public:
  // Creates one Session per instance and warms each up with zeros where the input shapes are known
  // (symbolic dims as 1), on the calling thread; then starts the workers. Throws Error on failure.
  DynamicBatcher(std::shared_ptr<Model> model, BatcherOptions options, std::shared_ptr<ModelMetrics> metrics,
                 std::string name);
  // Runs every job still queued, then stops the workers.
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // False (and `job` untouched) when the queue is full.
  bool submit(InferJob& job);
  size_t queued() const;
  // True on a worker thread of any batcher: destroying a batcher there would join itself.
  static bool on_worker_thread();

 private:
  void worker(Session& session);
  void execute(Session& session, std::vector<InferJob>& batch);

  std::shared_ptr<Model> model_;
  BatcherOptions options_;
  std::shared_ptr<ModelMetrics> metrics_;
  std::string name_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<std::string> input_names_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InferJob> queue_;
  bool forming_ = false;  // a worker is gathering a batch; the others wait so batches grow
  int busy_ = 0;          // workers running a batch
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace edgerun::serve
