// `edgerun bench`: load time, first-inference time, latency percentiles, throughput, memory,
// energy per inference, accuracy against reference outputs and per-op profiles of one model.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "edgerun/session.h"

namespace CLI {
class App;
}

namespace edgerun::cli {

struct BenchOptions {
  std::string model;                     // ONNX file, or "default" for the embedded model
  int threads = 1;                       // SessionOptions::num_threads of every session
  int warmup = 2;                        // untimed runs after the first inference
  int iters = 0;                         // timed runs per stream (0: not given)
  double duration_s = 0;                 // minimum timed seconds (0: not given)
  double run_delay_ms = 0;               // pause before each timed run, as between camera frames
  std::vector<std::string> shapes;       // NAME=d,d,... for symbolic input dims (default 1)
  int streams = 1;                       // concurrent sessions on the one shared Model
  bool json = false;                     // print exactly one JSON object on stdout
  bool profile = false;                  // per-op table and a Chrome trace file
  std::string trace_file = "edgerun_trace.json";
  std::vector<std::string> references;   // OUTPUT=FILE.npy
  std::vector<std::string> inputs;       // NAME=FILE (or FILE for a single-input model)
  uint64_t seed = 1;                     // random input data
  bool progress = true;                  // progress bar on stderr (only when it is a terminal)
};

// Registers the `bench` subcommand on `app`, storing its arguments in `opts` (which must outlive
// parsing). Returns the subcommand, so the caller can test whether it was chosen.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& opts);

// Shapes of the model inputs for planning: --shape NAME=d,d,... values (checked against the declared
// rank and fixed dims), else the declared shape with every symbolic dim set to 1.
std::map<std::string, Shape> resolve_shapes(const Model& m, const std::vector<std::string>& overrides);

// The p-th percentile (0..100) of `v`, linearly interpolated between ranks; 0 for an empty `v`.
double percentile(std::vector<double> v, double p);

// Runs the benchmark and prints the report. Returns the exit status; throws edgerun::Error or
// std::exception on bad models, shapes or files.
int run_bench(const BenchOptions& opts);

}  // namespace edgerun::cli
