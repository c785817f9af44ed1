#include <set>

#include "edgerun/session.h"
#include "ir/graph.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "passes/passes.h"
#include "runtime/executor.h"
#include "runtime/thread_pool.h"

namespace edgerun {

struct Session::Impl {
  SessionOptions options;
  std::unique_ptr<Graph> optimized;  // the session's rewritten copy of the model graph
  std::unique_ptr<ThreadPool> threads;
  std::unique_ptr<Executor> executor;
};

Session::Session(std::shared_ptr<Model> model, SessionOptions options) : model_(std::move(model)), impl_(new Impl) {
  if (!model_) throw Error(ErrorCode::kInvalidArgument, "Session needs a model");
  impl_->options = options;
  const int threads = options.num_threads > 0 ? options.num_threads : ThreadPool::physical_cores();
  if (threads > 1) impl_->threads = std::make_unique<ThreadPool>(threads);
  const Graph* graph = &model_->graph();
  Graph* owned = nullptr;
  if (options.optimize) {
    if (model_.use_count() == 1) {
      // The session holds the only reference: optimize the model's own graph rather than a copy, and
      // let the executor free the weights its kernels pack (see Session in session.h).
      owned = &model_->mutable_graph();
    } else {
      impl_->optimized = std::make_unique<Graph>(model_->graph());
      owned = impl_->optimized.get();
    }
    optimize_graph(*owned, xnnpack_available());
    graph = owned;
  }
  impl_->executor = std::make_unique<Executor>(*graph, impl_->threads.get(), owned);
  if (options.profile) impl_->executor->enable_profiling();
  impl_->executor->set_max_plan_bytes(options.max_plan_bytes);
  // Plan ahead when every input shape is fixed, so load reports memory and the first run is steady.
  std::map<std::string, Shape> shapes;
  for (const auto& in : model_->inputs()) {
    if (!in.has_shape) return;
    Shape s;
    for (const auto& d : in.dims) {
      if (d.value < 0) return;
      s.push_back(d.value);
    }
    shapes[in.name] = s;
  }
  plan(shapes);
}

Session::~Session() = default;

const PlanStats& Session::stats() const { return impl_->executor->stats(); }
std::vector<NodeSummary> Session::node_summaries() const { return impl_->executor->node_summaries(); }
std::vector<NodeProfile> Session::profile() const { return impl_->executor->profile(); }
Session::RunCounts Session::run_counts() const {
  if (!impl_->threads) return {};
  const ThreadPool::RunCounts c = impl_->threads->run_counts();
  return {c.runs, c.single_thread};
}

namespace {
void check_against_declared(const ValueDesc& d, DType dtype, const Shape& shape) {
  if (d.dtype != DType::kUndefined && dtype != d.dtype)
    throw Error(ErrorCode::kInvalidArgument, "input '" + d.name + "' expects dtype " + dtype_name(d.dtype) + ", got " +
                                                 dtype_name(dtype));
  if (!d.has_shape) return;
  bool ok = d.dims.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i)
    if (d.dims[i].value >= 0 && d.dims[i].value != shape[i]) ok = false;
  if (!ok) throw Error(ErrorCode::kInvalidArgument, "input '" + d.name + "' expects shape " + d.str().substr(d.name.size() + 2) +
                                                        ", got " + shape_str(shape));
}
}  // namespace

void Session::plan(const std::map<std::string, Shape>& input_shapes) {
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const auto& in : model_->inputs()) {
    auto it = input_shapes.find(in.name);
    if (it == input_shapes.end()) throw Error(ErrorCode::kInvalidArgument, "no shape given for input '" + in.name + "'");
    check_against_declared(in, in.dtype, it->second);
    shapes.push_back(it->second);
    dtypes.push_back(in.dtype);
  }
  impl_->executor->plan(shapes, dtypes);
}

std::vector<Tensor> Session::run(const std::map<std::string, Tensor>& inputs) {
  std::set<std::string> known;
  for (const auto& in : model_->inputs()) known.insert(in.name);
  for (const auto& [name, t] : inputs)
    if (!known.count(name)) {
      std::string names;
      for (const auto& in : model_->inputs()) names += (names.empty() ? "" : ", ") + in.name;
      throw Error(ErrorCode::kInvalidArgument, "model has no input named '" + name + "' (inputs: " + names + ")");
    }
  std::vector<Tensor> ordered;
  for (const auto& in : model_->inputs()) {
    auto it = inputs.find(in.name);
    if (it == inputs.end()) throw Error(ErrorCode::kInvalidArgument, "missing input '" + in.name + "'");
    check_against_declared(in, it->second.dtype(), it->second.shape());
    ordered.push_back(it->second);
  }
  return impl_->executor->run(ordered);
}

struct SubgraphRunner::Impl {
  Executor executor;
  explicit Impl(const Graph& g) : executor(g) {}
};

SubgraphRunner::SubgraphRunner(const Graph& graph) : graph_(graph), impl_(new Impl(graph)) {}
SubgraphRunner::~SubgraphRunner() = default;

std::vector<Tensor> SubgraphRunner::run(const std::vector<Tensor>& inputs,
                                        const std::function<const Tensor*(const std::string&)>& outer) {
  return impl_->executor.run(inputs, outer);
}

}  // namespace edgerun
