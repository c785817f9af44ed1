#include "tools/edgerun/serve.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <pthread.h>

namespace edgerun::cli {

CLI::App* add_serve_command(CLI::App& app, serve::ServeOptions& opts) {
  auto* cmd = app.add_subcommand("serve", "Serve a model repository over the Open Inference Protocol (KServe v2 REST)");
  cmd->add_option("--model-repository", opts.model_repository, "Folder laid out as <model>/<version>/model.onnx")->required();
  cmd->add_option("--http-port", opts.http_port, "Port to listen on (0: any free port, printed at start)")->check(CLI::Range(0, 65535));
  cmd->add_option("--host", opts.host, "Address to listen on");
  cmd->add_option("--threads", opts.threads, "Engine threads per model instance")->check(CLI::Range(1, 256));
  cmd->add_option("--http-threads", opts.http_threads, "I/O threads (read, route, write; requests are parsed on their own threads)")->check(CLI::Range(1, 64));
  cmd->add_option("--max-body-bytes", opts.max_body_bytes, "Largest accepted request body (larger: 413)")->check(CLI::Range(size_t{1}, size_t{1} << 34));
  cmd->add_option("--read-timeout-ms", opts.read_timeout_ms, "Time allowed to receive one request (and idle keep-alive)")->check(CLI::Range(1, 3600000));
  cmd->add_option("--max-connections", opts.max_connections, "Open connections beyond this are closed")->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--max-inflight-bytes", opts.max_inflight_bytes, "Request bodies held at once over all connections (beyond: 503)")->check(CLI::Range(size_t{1}, size_t{1} << 40));
  cmd->add_option("--max-queue-size", opts.max_queue_size, "Queued requests per model version before 503 (config.json may override)")->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--default-timeout-us", opts.default_timeout_us, "Queue timeout for requests without parameters.timeout (0: none)")->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  return cmd;
}

int run_serve(const serve::ServeOptions& opts) {
  // Block the stop signals in every thread the server starts, then wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  serve::Server server(opts);
  server.start();
  for (const auto& f : server.load_failures()) std::cerr << "warning: " << f << "\n";
  std::cout << "edgerun serve: listening on http://" << opts.host << ":" << server.port() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "edgerun serve: stopping (signal " << sig << ")" << std::endl;
  server.stop();
  return 0;
}

}  // namespace edgerun::cli
