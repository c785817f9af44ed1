// Prometheus metrics per model version (text exposition format 0.0.4), named like Triton's
// nv_inference_* with an edgerun_ prefix. Counters are monotonic across reloads of a version.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace edgerun::serve {

// Cumulative histogram of durations, lock-free to observe.
class DurationHistogram {
 public:
  static constexpr std::array<double, 16> kBoundsSeconds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
  void observe_us(double us);
  // Appends the _bucket, _sum and _count lines for one label set.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsSeconds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

struct ModelMetrics {
  std::atomic<uint64_t> request_success{0};
  std::atomic<uint64_t> request_failure{0};
  std::atomic<uint64_t> inference_count{0};  // samples (batch elements) inferred
  std::atomic<uint64_t> execution_count{0};  // model executions (batched runs)
  std::atomic<uint64_t> request_duration_us{0};
  std::atomic<uint64_t> queue_duration_us{0};
  std::atomic<uint64_t> compute_duration_us{0};
  std::atomic<int64_t> pending_requests{0};  // queued or running
  std::atomic<int64_t> queued_requests{0};   // waiting in the queue
  std::atomic<int> ready{0};  // load state: 1 while the version serves
  DurationHistogram request_hist, queue_hist, compute_hist;
};

class MetricsRegistry {
 public:
  // The metrics of one model version, created on first use and kept for the server's life.
  std::shared_ptr<ModelMetrics> get(const std::string& model, int64_t version);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<ModelMetrics>> models_;
};

}  // namespace edgerun::serve
