// A small asynchronous HTTP/1.1 server (Boost.Beast over Asio): no thread per connection, a
// deadline on reading each request and writing each response, a body size limit, and a cap on open
// connections. Handlers answer later, from any thread, through a Responder, so slow work (inference)
// never runs on the I/O threads.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgerun::serve {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string body;
  std::optional<std::string> inference_header_length;  // Inference-Header-Content-Length, when sent
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Sends the response; call exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&&, Responder)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see HttpServer::port())
  int io_threads = 1;
  size_t max_body_bytes = size_t{64} << 20;                // larger bodies get 413
  std::chrono::milliseconds read_timeout{30000};           // to receive a whole request (or idle keep-alive)
  std::chrono::milliseconds write_timeout{30000};          // to send a whole response
  size_t max_connections = 4096;                           // more are closed at once
  // Request bodies held at once over all connections (from their headers until the response is
  // sent); a request that would exceed it gets 503. Bounds memory to about this much.
  size_t max_inflight_bytes = size_t{1} << 30;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the I/O threads. Throws edgerun::Error (kIo) when the address cannot be bound.
  void start();
  uint16_t port() const;
  // Stops accepting and closes every connection; responses still pending are dropped.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerun::serve
