// Executes one graph: plans shapes and memory once for static shapes, or goes node by node
// when shapes depend on data.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/session.h"
#include "kernels/kernel.h"

namespace edgerun {

using OuterResolver = std::function<const Tensor*(const std::string&)>;

class Executor {
 public:
  // `graph` must outlive the executor. Subgraph executors resolve free names through `outer` at run.
  // With `owned_graph` (the same graph, writable, held by no one else), constants that every consumer
  // has packed into its kernel are freed while planning, from the graph as well: they leave only
  // their shape behind.
  explicit Executor(const Graph& graph, ThreadPool* threads = nullptr, Graph* owned_graph = nullptr);
  ~Executor();

  // Inputs in graph input order. Outputs in graph output order (owned copies).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const OuterResolver& outer = nullptr);

  // Plans for these input shapes; returns false when shapes depend on data (dynamic mode).
  bool plan(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes);

  const PlanStats& stats() const { return stats_; }
  // Node names and kernels in execution order (after folding), for profiling and tests.
  size_t num_nodes() const { return nodes_.size(); }
  std::vector<NodeSummary> node_summaries() const;
  // Turns on per-node timing; results accumulate across runs.
  void enable_profiling();
  // Plans needing more than `bytes` of arena and scratch fail with an Error (0: no limit).
  void set_max_plan_bytes(size_t bytes) { max_plan_bytes_ = bytes; }
  std::vector<NodeProfile> profile() const;

 private:
  struct ExecNode {
    const Node* node = nullptr;
    std::unique_ptr<Kernel> kernel;
    int64_t opset = 0;
    std::vector<int> inputs;    // value ids, -1 for omitted optional inputs
    std::vector<int> implicit;  // value ids read by subgraphs
    // Value ids; slots the node omits (or lacks) get private sink values, so a kernel that fills an
    // output the model does not bind never writes through a missing tensor.
    std::vector<int> outputs;
    std::vector<bool> sink;
  };
  struct StaticPlan;
  // A value stored inside a Concat's output (Kernel::concatenates_last_axis): at byte_offset in it, its
  // rows row_stride elements apart, written so by output producer_output of run step producer_step.
  struct InPlaceValue {
    int id, concat;
    size_t byte_offset;
    int64_t row_stride;
    int producer_step;
    size_t producer_output;
  };
  std::vector<InPlaceValue> place_concat_inputs(const StaticPlan& p, const std::vector<int>& def_step) const;

  int value_id(const std::string& name);
  std::vector<Tensor> run_dynamic(const std::vector<Tensor>& inputs, const OuterResolver& outer);
  std::vector<Tensor> run_static(const std::vector<Tensor>& inputs, const OuterResolver& outer);
  void check_inputs(const std::vector<Tensor>& inputs) const;
  void record(size_t node_index, std::chrono::steady_clock::time_point start);
  [[noreturn]] void rethrow_with_context(const ExecNode& n, const char* phase) const;

  void release_packed_constants(const ExecNode& e, StaticPlan& p, std::vector<int>& packed_uses);

  const Graph& graph_;
  ThreadPool* threads_;
  Graph* owned_graph_;
  std::vector<std::string> value_names_;
  std::map<std::string, int> value_ids_;
  std::vector<Tensor> constants_;          // by value id; empty if not constant
  std::vector<int> input_ids_, output_ids_;
  std::vector<int> outer_ids_;             // names resolved from enclosing scopes
  std::vector<ExecNode> nodes_;
  std::vector<int> use_counts_;            // consumers per value (+1 for graph outputs)
  std::unique_ptr<StaticPlan> plan_;
  bool dynamic_ = false;                   // last planning attempt needed data-dependent shapes
  std::vector<Shape> planned_shapes_;
  PlanStats stats_;
  bool profiling_ = false;
  size_t max_plan_bytes_ = 0;
  std::chrono::steady_clock::time_point profile_epoch_;
  std::vector<NodeProfile> profile_;  // by node index
};

}  // namespace edgerun
