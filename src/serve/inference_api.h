// The Open Inference Protocol (KServe v2) REST endpoints plus Triton's model repository extension
// and Prometheus /metrics, on top of the model repository. Inference requests are parsed on their
// own threads and run by each version's batcher, and model loads run on a control thread, so the
// I/O threads only read, route and write.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"
#include "serve/task_queue.h"

namespace edgerun::serve {

struct ApiOptions {
  int64_t default_timeout_us = 0;  // queue timeout for requests without parameters.timeout (0: none)
  int parse_threads = 1;           // threads that parse inference requests
};

class InferenceApi {
 public:
  InferenceApi(ModelRepository& repository, MetricsRegistry& metrics, ApiOptions options);
  ~InferenceApi();
  InferenceApi(const InferenceApi&) = delete;
  InferenceApi& operator=(const InferenceApi&) = delete;

  void handle(HttpRequest&& request, Responder respond);
  // The server is ready once the startup loads are done.
  void set_started(bool started) { started_.store(started); }
  // Finishes queued parsing and model-control work and stops their threads.
  void stop();

 private:
  void infer(HttpRequest& request, const std::string& model, std::optional<int64_t> version, const Responder& respond);

  ModelRepository& repository_;
  MetricsRegistry& metrics_;
  ApiOptions options_;
  std::atomic<bool> started_{false};

  TaskQueue parse_;    // request parsing and submission, off the I/O threads
  TaskQueue control_;  // loads and unloads, one at a time
};

}  // namespace edgerun::serve
