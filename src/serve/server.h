// `edgerun serve`: a model repository behind the Open Inference Protocol over HTTP.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgerun::serve {

struct ServeOptions {
  std::string model_repository;
  std::string host = "127.0.0.1";
  int http_port = 8000;             // 0: any free port
  int http_threads = 1;             // I/O threads (read, route, write); parsing has max(2, this)
  int threads = 1;                  // engine threads per model instance
  size_t max_body_bytes = size_t{64} << 20;
  int read_timeout_ms = 30000;      // to receive one whole request
  size_t max_connections = 4096;
  size_t max_inflight_bytes = size_t{1} << 30;  // request bodies held at once, all connections
  size_t max_queue_size = 1024;     // per model version, unless its config says otherwise
  int64_t default_timeout_us = 0;   // queue timeout for requests that give none (0: none)
};

class Server {
 public:
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the port, loads every model in the repository, and serves. Throws edgerun::Error when the
  // repository or the port is unusable; models that fail to load are reported by load_failures().
  void start();
  uint16_t port() const;
  const std::vector<std::string>& load_failures() const { return load_failures_; }
  // Stops serving: closes connections, finishes queued work, unloads every model.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> load_failures_;
};

}  // namespace edgerun::serve
