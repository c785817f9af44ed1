// The Open Inference Protocol (KServe v2) REST endpoints plus Triton's model repository extension
// and Prometheus /metrics, on top of the model repository. Inference is handed to each version's
// batcher and model loads to a control thread, so the I/O threads only parse and route.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"

namespace edgerun::serve {

struct ApiOptions {
  int64_t default_timeout_us = 0;  // queue timeout for requests without parameters.timeout (0: none)
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
  // Finishes queued model-control work and stops the control thread.
  void stop();

 private:
  void infer(HttpRequest&& request, const std::string& model, std::optional<int64_t> version, Responder& respond);
  void run_control(std::function<void()> task);
  void control_loop();

  ModelRepository& repository_;
  MetricsRegistry& metrics_;
  ApiOptions options_;
  std::atomic<bool> started_{false};

  std::mutex control_mu_;
  std::condition_variable control_cv_;
  std::deque<std::function<void()>> control_tasks_;
  bool control_stopping_ = false;
  std::thread control_thread_;
};

}  // namespace edgerun::serve
