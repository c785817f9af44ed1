#include "serve/metrics.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

namespace edgerun::serve {

void DurationHistogram::observe_us(double us) {
  if (!(us >= 0)) us = 0;
  const double s = us / 1e6;
  size_t i = 0;
  while (i < kBoundsSeconds.size() && s > kBoundsSeconds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(us * 1000.0), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void DurationHistogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  char buf[64];
  for (size_t i = 0; i <= kBoundsSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBoundsSeconds.size())
      std::snprintf(buf, sizeof buf, "%g", kBoundsSeconds[i]);
    else
      std::snprintf(buf, sizeof buf, "+Inf");
    out += name + "_bucket{" + labels + ",le=\"" + buf + "\"} " + std::to_string(cumulative) + "\n";
  }
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += name + "_sum{" + labels + "} " + buf + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

std::shared_ptr<ModelMetrics> MetricsRegistry::get(const std::string& model, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& m = models_[{model, version}];
  if (!m) m = std::make_shared<ModelMetrics>();
  return m;
}

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string MetricsRegistry::render() const {
  std::vector<std::pair<std::string, std::shared_ptr<ModelMetrics>>> rows;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& entry : models_)
      rows.emplace_back("model=\"" + escape_label(entry.first.first) + "\",version=\"" +
                            std::to_string(entry.first.second) + "\"",
                        entry.second);
  }
  std::string out;
  using Getter = std::function<uint64_t(const ModelMetrics&)>;
  const auto family = [&](const char* name, const char* type, const char* help, const Getter& get) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& row : rows) out += std::string(name) + "{" + row.first + "} " + std::to_string(get(*row.second)) + "\n";
  };
  family("edgerun_inference_request_success", "counter", "Number of successful inference requests",
         [](const ModelMetrics& m) { return m.request_success.load(); });
  family("edgerun_inference_request_failure", "counter", "Number of failed inference requests",
         [](const ModelMetrics& m) { return m.request_failure.load(); });
  family("edgerun_inference_count", "counter", "Number of inferences performed (batch elements, not requests)",
         [](const ModelMetrics& m) { return m.inference_count.load(); });
  family("edgerun_inference_exec_count", "counter", "Number of model executions (batched runs)",
         [](const ModelMetrics& m) { return m.execution_count.load(); });
  family("edgerun_inference_request_duration_us", "counter", "Cumulative end-to-end inference request time",
         [](const ModelMetrics& m) { return m.request_duration_us.load(); });
  family("edgerun_inference_queue_duration_us", "counter", "Cumulative time requests waited in the queue",
         [](const ModelMetrics& m) { return m.queue_duration_us.load(); });
  family("edgerun_inference_compute_infer_duration_us", "counter", "Cumulative model execution time (per request)",
         [](const ModelMetrics& m) { return m.compute_duration_us.load(); });
  family("edgerun_inference_pending_request_count", "gauge", "Requests queued or running",
         [](const ModelMetrics& m) { return static_cast<uint64_t>(std::max<int64_t>(0, m.pending_requests.load())); });
  family("edgerun_inference_queue_size", "gauge", "Requests waiting in the queue",
         [](const ModelMetrics& m) { return static_cast<uint64_t>(std::max<int64_t>(0, m.queued_requests.load())); });
  family("edgerun_model_ready", "gauge", "1 when the model version is loaded and serving, else 0",
         [](const ModelMetrics& m) { return static_cast<uint64_t>(m.ready.load()); });
  using HistGetter = std::function<const DurationHistogram&(const ModelMetrics&)>;
  const auto histogram = [&](const char* name, const char* help, const HistGetter& get) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto& row : rows) get(*row.second).render(out, name, row.first);
  };
  histogram("edgerun_inference_request_duration_seconds", "End-to-end inference request time",
            [](const ModelMetrics& m) -> const DurationHistogram& { return m.request_hist; });
  histogram("edgerun_inference_queue_duration_seconds", "Time requests waited in the queue",
            [](const ModelMetrics& m) -> const DurationHistogram& { return m.queue_hist; });
  histogram("edgerun_inference_compute_duration_seconds", "Model execution time per batched run",
            [](const ModelMetrics& m) -> const DurationHistogram& { return m.compute_hist; });
  return out;
}

}  // namespace edgerun::serve
