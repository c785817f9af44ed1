// Model (a loaded, validated graph) and Session (a model planned for execution).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/error.h"
#include "edgerun/tensor.h"

namespace edgerun {

class Graph;

// A dimension of a model input/output as declared in the file: fixed (value >= 0) or symbolic/unknown.
struct DimInfo {
  int64_t value = -1;   // -1 when not fixed
  std::string symbol;   // e.g. "batch"; empty when fixed or anonymous
};

struct ValueDesc {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<DimInfo> dims;
  bool has_shape = false;
  std::string str() const;  // "input: float32[batch,3,224,224]"
};

class Model {
 public:
  // Loads an ONNX file (external data resolved relative to its folder). Throws Error.
  static std::shared_ptr<Model> load(const std::string& path);
  static std::shared_ptr<Model> load_from_memory(const void* data, size_t size,
                                                 const std::string& base_dir = "");
  ~Model();

  const std::vector<ValueDesc>& inputs() const { return inputs_; }
  const std::vector<ValueDesc>& outputs() const { return outputs_; }
  int64_t opset() const { return opset_; }
  const std::string& producer() const { return producer_; }
  const Graph& graph() const { return *graph_; }
  Graph& mutable_graph() { return *graph_; }

 private:
  Model() = default;
  friend class ModelBuilder;
  std::unique_ptr<Graph> graph_;
  std::vector<ValueDesc> inputs_, outputs_;
  int64_t opset_ = 0;
  std::string producer_;
};

struct SessionOptions {
  int num_threads = 1;  // 0: one per physical core
  // Apply graph optimizations (folding, fusion). Off gives the plain reference path.
  bool optimize = true;
  // Record the time of every node in every run (see Session::profile()).
  bool profile = false;
  // Largest activation arena plus kernel scratch a plan may allocate, in bytes (0: no limit). A model
  // whose shapes ask for more (a hostile or mistaken file declaring huge pads or sizes) fails to plan
  // with an Error instead of taking the device's memory.
  size_t max_plan_bytes = 0;
};

// Time spent in one node over all runs since the session started (with SessionOptions::profile).
struct NodeProfile {
  std::string name;
  std::string op_type;
  double total_ms = 0;
  int64_t calls = 0;
  // Start offsets and durations of each call in microseconds since the session was created,
  // for trace files.
  std::vector<std::pair<double, double>> events;
};

// Planning facts, for `edgerun info` and benchmarks.
struct PlanStats {
  bool static_plan = false;      // shapes fully known ahead of time, arena used
  size_t arena_bytes = 0;        // planned activation arena, after buffer reuse
  size_t unplanned_bytes = 0;    // sum of all activation sizes without reuse
  size_t weight_bytes = 0;       // constants held by the session
  size_t num_nodes = 0;          // nodes executed per run (after folding)
  size_t concat_inputs_in_place = 0;  // values written straight into the Concat that joins them
};

// One executed node after planning (folded nodes excluded), for `edgerun info` and profiles.
struct NodeSummary {
  std::string name;
  std::string op_type;
  std::vector<Shape> input_shapes;
  std::vector<Shape> output_shapes;
  int64_t flops = 0;  // estimated multiply-adds x2 (0 when not estimated)
};

// Runs a model. Sessions may share one Model (each then optimizes its own copy of the graph). A
// session given the only reference to its model (`Session s(Model::load(path))`, or std::move) takes
// it over, as a runtime session owns its model: the graph is optimized in place and weights that
// kernels have packed into their own layout are freed, so they are not held twice; the model then
// keeps their shapes only, and model() shows the optimized graph.
class Session {
 public:
  explicit Session(std::shared_ptr<Model> model, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the model. Inputs are bound by name; every model input without an initializer must be given.
  // Returns outputs in model output order. Throws Error with node context on failure.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs);

  // Plans for the given input shapes without running (done implicitly by run()).
  void plan(const std::map<std::string, Shape>& input_shapes);

  const PlanStats& stats() const;
  // Executed nodes with planned shapes; empty when shapes depend on data (no static plan).
  std::vector<NodeSummary> node_summaries() const;
  // Per-node timings (empty unless SessionOptions::profile was set).
  std::vector<NodeProfile> profile() const;
  // Runs so far, and how many of them ran on the calling thread alone. A session of several threads
  // times its runs and runs on one thread while that is faster: when other processes hold the cores
  // (EDGERUN_ADAPTIVE_THREADS=0 keeps every run on all its threads).
  struct RunCounts {
    int64_t runs = 0, single_thread = 0;
  };
  RunCounts run_counts() const;
  const Model& model() const { return *model_; }

 private:
  struct Impl;
  std::shared_ptr<Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerun
