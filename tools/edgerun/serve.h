// `edgerun serve`: the inference server over a model repository (see src/serve/).
#pragma once
#include "serve/server.h"

namespace CLI {
class App;
}

namespace edgerun::cli {

// Registers the `serve` subcommand, storing its arguments in `opts` (which must outlive parsing).
CLI::App* add_serve_command(CLI::App& app, serve::ServeOptions& opts);

// Serves until SIGINT or SIGTERM. Returns the exit status; throws edgerun::Error on bad options.
int run_serve(const serve::ServeOptions& opts);

}  // namespace edgerun::cli
