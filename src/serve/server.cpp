#include "serve/server.h"

#include <algorithm>

#include "edgerun/error.h"
#include "serve/http_server.h"
#include "serve/inference_api.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"

namespace edgerun::serve {

struct Server::Impl {
  ServeOptions options;
  MetricsRegistry metrics;
  std::unique_ptr<ModelRepository> repository;
  std::unique_ptr<InferenceApi> api;
  std::unique_ptr<HttpServer> http;
  bool stopped = false;
};

Server::Server(ServeOptions options) : impl_(new Impl) { impl_->options = std::move(options); }

Server::~Server() { stop(); }

void Server::start() {
  const ServeOptions& o = impl_->options;
  RepositoryOptions ro;
  ro.threads_per_instance = o.threads;
  ro.default_max_queue_size = o.max_queue_size;
  impl_->repository = std::make_unique<ModelRepository>(o.model_repository, ro, impl_->metrics);
  ApiOptions ao;
  ao.default_timeout_us = o.default_timeout_us;
  // Two at least, so one large JSON body being parsed does not hold up the others.
  ao.parse_threads = std::max(2, o.http_threads);
  impl_->api = std::make_unique<InferenceApi>(*impl_->repository, impl_->metrics, ao);
  HttpServerOptions ho;
  ho.host = o.host;
  if (o.http_port < 0 || o.http_port > 65535) throw Error(ErrorCode::kInvalidArgument, "--http-port must be 0..65535");
  ho.port = static_cast<uint16_t>(o.http_port);
  ho.io_threads = o.http_threads;
  ho.max_body_bytes = o.max_body_bytes;
  ho.read_timeout = std::chrono::milliseconds(o.read_timeout_ms);
  ho.max_connections = o.max_connections;
  ho.max_inflight_bytes = o.max_inflight_bytes;
  InferenceApi* api = impl_->api.get();
  impl_->http = std::make_unique<HttpServer>(ho, [api](HttpRequest&& r, Responder respond) {
    api->handle(std::move(r), std::move(respond));
  });
  // Listen first, so liveness answers while the models load; readiness follows the loads.
  impl_->http->start();
  load_failures_ = impl_->repository->load_all();
  impl_->api->set_started(true);
}

uint16_t Server::port() const { return impl_->http ? impl_->http->port() : 0; }

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Order matters: no new requests, then no control work, then drain and unload the models (their
  // completions still post to the stopped I/O context), and only then destroy the I/O context.
  if (impl_->http) impl_->http->stop();
  if (impl_->api) impl_->api->stop();
  if (impl_->repository) impl_->repository->shutdown();
  impl_->http.reset();
  impl_->api.reset();
  impl_->repository.reset();
}

}  // namespace edgerun::serve
