#include "runtime/executor.h"
#include "runtime/thread_pool.h"
#include "core/large_buffer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>

#include "runtime/flops.h"
#include "runtime/memory_plan.h"

namespace edgerun {

struct Executor::StaticPlan {
  std::vector<Tensor> values;           // every value; intermediates view the arena
  std::vector<size_t> run_nodes;        // indices into nodes_ that execute per run
  std::vector<RunContext> contexts;     // prebuilt, one per run node
  std::vector<Tensor> folded;           // constants produced by folding (kept alive)
  std::shared_ptr<void> arena;
  std::shared_ptr<void> scratch;
  OuterResolver outer_thunk;            // forwards to the resolver of the current run
  const OuterResolver* current_outer = nullptr;
};

namespace {
std::shared_ptr<void> aligned_buffer(size_t bytes) {
  auto p = shared_buffer(std::max<size_t>(bytes, 64), false);
  if (!p) throw std::bad_alloc();
  return p;
}
// Output slots offered to every kernel; ONNX ops have at most five outputs except variadic ones.
constexpr size_t kOutputSlots = 8;
bool folds_from_shape_alone(const Node& n) { return n.domain.empty() && (n.op_type == "Shape" || n.op_type == "Size"); }
}  // namespace

Executor::Executor(const Graph& graph, ThreadPool* threads, Graph* owned_graph)
    : graph_(graph), threads_(threads), owned_graph_(owned_graph) {
  for (const auto& [name, t] : graph.initializers) {
    const int id = value_id(name);
    constants_.resize(value_names_.size());
    constants_[id] = t;
  }
  for (const auto& in : graph.inputs) input_ids_.push_back(value_id(in.name));
  std::set<std::string> produced;
  for (const auto& n : graph.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) produced.insert(o);
  auto resolve = [&](const std::string& name) {
    const bool local = value_ids_.count(name) || produced.count(name);
    const int id = value_id(name);
    if (!local && std::find(outer_ids_.begin(), outer_ids_.end(), id) == outer_ids_.end()) outer_ids_.push_back(id);
    return id;
  };
  for (const auto& n : graph.nodes) {
    ExecNode e;
    e.node = &n;
    e.opset = graph.opset_for(n.domain);
    const KernelFactory* factory = KernelRegistry::instance().find(n.domain, n.op_type);
    if (!factory)
      throw Error(ErrorCode::kUnsupported, "unsupported operator " + (n.domain.empty() ? std::string() : n.domain + ".") +
                                               n.op_type + " (opset " + std::to_string(e.opset) + ") in " + n.describe());
    try {
      e.kernel = (*factory)(n, e.opset);
    } catch (const Error& err) {
      const std::string msg = err.what();
      throw Error(err.code(), msg.find(n.describe()) == std::string::npos ? n.describe() + ": " + msg : msg);
    }
    for (const auto& i : n.inputs) e.inputs.push_back(i.empty() ? -1 : resolve(i));
    for (const auto& i : n.implicit_inputs) e.implicit.push_back(resolve(i));
    const size_t slots = std::max<size_t>(n.outputs.size(), kOutputSlots);
    for (size_t i = 0; i < slots; ++i) {
      const bool bound = i < n.outputs.size() && !n.outputs[i].empty();
      e.sink.push_back(!bound);
      e.outputs.push_back(value_id(bound ? n.outputs[i] : "\x01sink:" + std::to_string(nodes_.size()) + ":" + std::to_string(i)));
    }
    nodes_.push_back(std::move(e));
  }
  for (const auto& o : graph.outputs) output_ids_.push_back(resolve(o.name));
  constants_.resize(value_names_.size());
  use_counts_.assign(value_names_.size(), 0);
  for (const auto& e : nodes_) {
    for (int id : e.inputs) if (id >= 0) ++use_counts_[id];
    for (int id : e.implicit) ++use_counts_[id];
  }
  for (int id : output_ids_) ++use_counts_[id];
}

Executor::~Executor() = default;

int Executor::value_id(const std::string& name) {
  auto it = value_ids_.find(name);
  if (it != value_ids_.end()) return it->second;
  const int id = static_cast<int>(value_names_.size());
  value_names_.push_back(name);
  value_ids_[name] = id;
  return id;
}

void Executor::rethrow_with_context(const ExecNode& n, const char* phase) const {
  const std::string where = n.node->describe();
  try {
    throw;
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(where) != std::string::npos) throw;
    throw Error(e.code(), where + " (" + phase + "): " + msg);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kRuntime, where + " (" + phase + "): out of memory");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kRuntime, where + " (" + phase + "): " + e.what());
  }
}

void Executor::check_inputs(const std::vector<Tensor>& inputs) const {
  if (inputs.size() != input_ids_.size())
    throw Error(ErrorCode::kInvalidArgument, "graph '" + graph_.name + "' expects " + std::to_string(input_ids_.size()) +
                                                 " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].empty() || (inputs[i].numel() > 0 && inputs[i].raw() == nullptr))
      throw Error(ErrorCode::kInvalidArgument, "input '" + value_names_[input_ids_[i]] + "' has no data");
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs, const OuterResolver& outer) {
  check_inputs(inputs);
  const ThreadPool::RunScope running(threads_);
  if (outer_ids_.empty()) {
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
    for (const auto& t : inputs) { shapes.push_back(t.shape()); dtypes.push_back(t.dtype()); }
    if (shapes != planned_shapes_ || (!plan_ && !dynamic_)) plan(shapes, dtypes);
    if (plan_) {
      for (size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].dtype() != plan_->values[input_ids_[i]].dtype()) { plan(shapes, dtypes); break; }
    }
    if (plan_) return run_static(inputs, outer);
  }
  return run_dynamic(inputs, outer);
}

std::vector<Tensor> Executor::run_dynamic(const std::vector<Tensor>& inputs, const OuterResolver& outer) {
  std::vector<Tensor> values(value_names_.size());
  std::vector<int> uses = use_counts_;
  for (size_t id = 0; id < constants_.size(); ++id)
    if (!constants_[id].empty()) values[id] = constants_[id];
  for (size_t i = 0; i < inputs.size(); ++i) values[input_ids_[i]] = inputs[i];
  for (int id : outer_ids_) {
    const Tensor* t = outer ? outer(value_names_[id]) : nullptr;
    if (!t) throw Error(ErrorCode::kInvalidModel, "value '" + value_names_[id] + "' is not defined in any enclosing scope");
    values[id] = *t;
  }
  OuterResolver resolver = [&](const std::string& name) -> const Tensor* {
    auto it = value_ids_.find(name);
    if (it != value_ids_.end() && !values[it->second].empty()) return &values[it->second];
    return outer ? outer(name) : nullptr;
  };
  std::shared_ptr<void> scratch;
  size_t scratch_size = 0;
  for (auto& e : nodes_) {
    std::vector<const Tensor*> ins;
    for (int id : e.inputs) {
      if (id >= 0 && values[id].empty())
        throw Error(ErrorCode::kRuntime, e.node->describe() + ": input '" + value_names_[id] + "' has no value");
      ins.push_back(id >= 0 ? &values[id] : nullptr);
    }
    std::vector<Tensor> metas(e.outputs.size());
    std::vector<bool> dyn(e.outputs.size(), false);
    PrepareContext pctx(*e.node, e.opset, ins, std::vector<bool>(ins.size(), true), &metas, &dyn);
    std::vector<Tensor*> outs;
    try {
      e.kernel->prepare(pctx);
      for (size_t i = 0; i < e.outputs.size(); ++i) {
        Tensor& v = values[e.outputs[i]];
        if (!dyn[i]) {
          if (metas[i].empty()) {
            if (e.sink[i]) { outs.push_back(nullptr); continue; }
            throw Error(ErrorCode::kRuntime, "kernel did not set output " + std::to_string(i));
          }
          v = Tensor(metas[i].dtype(), metas[i].shape());
        }
        outs.push_back(&v);
      }
      if (pctx.scratch_bytes() > scratch_size) {
        scratch_size = pctx.scratch_bytes();
        scratch = aligned_buffer(scratch_size);
      }
      RunContext rctx(*e.node, ins, outs, scratch.get(), threads_, resolver);
      const auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      e.kernel->run(rctx);
      if (profiling_) record(static_cast<size_t>(&e - nodes_.data()), start);
    } catch (...) {
      rethrow_with_context(e, "run");
    }
    for (size_t i = 0; i < e.outputs.size(); ++i) {
      if (e.sink[i]) values[e.outputs[i]] = Tensor();
      else if (values[e.outputs[i]].empty())
        throw Error(ErrorCode::kRuntime, e.node->describe() + ": did not produce output '" + value_names_[e.outputs[i]] + "'");
    }
    auto release = [&](int id) {
      if (id >= 0 && --uses[id] == 0 && constants_[id].empty()) values[id] = Tensor();
    };
    for (int id : e.inputs) release(id);
    for (int id : e.implicit) release(id);
  }
  std::vector<Tensor> outputs;
  for (int id : output_ids_) {
    if (values[id].empty()) throw Error(ErrorCode::kRuntime, "graph output '" + value_names_[id] + "' was not computed");
    outputs.push_back(values[id].owns_memory() && constants_[id].empty() ? values[id] : values[id].clone());
  }
  return outputs;
}

bool Executor::plan(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes) {
  planned_shapes_ = input_shapes;
  if (threads_) threads_->forget_run_times();
  plan_.reset();
  dynamic_ = true;
  stats_ = PlanStats{};
  if (!outer_ids_.empty()) return false;

  auto p = std::make_unique<StaticPlan>();
  p->values.resize(value_names_.size());
  std::vector<bool> known(value_names_.size(), false);
  for (size_t id = 0; id < constants_.size(); ++id)
    if (!constants_[id].empty()) {
      p->values[id] = constants_[id];
      known[id] = true;
      if (constants_[id].raw()) stats_.weight_bytes += constants_[id].nbytes();  // freed ones keep a shape only
    }
  for (size_t i = 0; i < input_ids_.size(); ++i)
    p->values[input_ids_[i]] = Tensor::borrow(input_dtypes[i], input_shapes[i], nullptr);

  size_t scratch_bytes = 0;
  std::vector<int> packed_uses(value_names_.size(), 0);
  std::vector<int> def_step(value_names_.size(), -1), last_step(value_names_.size(), -1);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    ExecNode& e = nodes_[k];
    std::vector<const Tensor*> ins;
    std::vector<bool> ins_known;
    bool all_known = e.implicit.empty();
    for (int id : e.inputs) {
      ins.push_back(id >= 0 ? &p->values[id] : nullptr);
      ins_known.push_back(id >= 0 && known[id]);
      if (id >= 0 && !known[id]) all_known = false;
    }
    std::vector<Tensor> metas(e.outputs.size());
    std::vector<bool> dyn(e.outputs.size(), false);
    PrepareContext pctx(*e.node, e.opset, ins, ins_known, &metas, &dyn);
    try {
      e.kernel->prepare(pctx);
    } catch (const ValueNotKnown&) {
      return false;
    } catch (...) {
      rethrow_with_context(e, "prepare");
    }
    for (size_t i = 0; i < e.outputs.size(); ++i) {
      if (e.sink[i] && metas[i].empty() && !dyn[i]) continue;
      if (dyn[i] || metas[i].empty() || metas[i].dtype() == DType::kString) return false;
    }
    auto unset_sink = [&](size_t i) { return e.sink[i] && metas[i].empty(); };
    const bool fold = e.kernel->deterministic() && (all_known || (folds_from_shape_alone(*e.node) && e.implicit.empty()));
    if (fold) {
      std::vector<Tensor*> outs;
      for (size_t i = 0; i < e.outputs.size(); ++i) {
        if (unset_sink(i)) { outs.push_back(nullptr); continue; }
        p->values[e.outputs[i]] = Tensor(metas[i].dtype(), metas[i].shape());
        outs.push_back(&p->values[e.outputs[i]]);
      }
      auto scratch = aligned_buffer(pctx.scratch_bytes());
      try {
        RunContext rctx(*e.node, ins, outs, scratch.get(), threads_, nullptr);
        e.kernel->run(rctx);
      } catch (...) {
        rethrow_with_context(e, "constant folding");
      }
      for (size_t i = 0; i < e.outputs.size(); ++i)
        if (!unset_sink(i)) { known[e.outputs[i]] = true; p->folded.push_back(p->values[e.outputs[i]]); }
      continue;
    }
    if (owned_graph_) release_packed_constants(e, *p, packed_uses);
    const int step = static_cast<int>(p->run_nodes.size());
    p->run_nodes.push_back(k);
    scratch_bytes = std::max(scratch_bytes, pctx.scratch_bytes());
    for (int id : e.inputs)
      if (id >= 0) last_step[id] = step;
    for (size_t i = 0; i < e.outputs.size(); ++i) {
      if (unset_sink(i)) continue;
      p->values[e.outputs[i]] = metas[i];
      def_step[e.outputs[i]] = step;
      last_step[e.outputs[i]] = std::max(last_step[e.outputs[i]], step);
    }
  }
  const int end_step = static_cast<int>(p->run_nodes.size());
  for (int id : output_ids_) last_step[id] = end_step;

  const std::vector<InPlaceValue> in_place = place_concat_inputs(*p, def_step);
  for (const InPlaceValue& v : in_place) {
    def_step[v.concat] = std::min(def_step[v.concat], def_step[v.id]);  // the Concat's memory from its first input on
    last_step[v.concat] = std::max(last_step[v.concat], last_step[v.id]);
  }
  // Omitted-but-declared outputs of run nodes still need memory: kernels may write them.
  std::vector<bool> placed_inside(value_names_.size(), false);
  for (const InPlaceValue& v : in_place) placed_inside[v.id] = true;
  std::vector<BufferRequest> requests;
  for (size_t id = 0; id < value_names_.size(); ++id)
    if (def_step[id] >= 0 && !placed_inside[id])
      requests.push_back({static_cast<int>(id), p->values[id].nbytes(), def_step[id], last_step[id]});
  const MemoryPlan mp = plan_memory(requests);
  if (max_plan_bytes_ && mp.arena_bytes + scratch_bytes > max_plan_bytes_)
    throw Error(ErrorCode::kInvalidArgument, "the plan for these input shapes needs " +
                                                 std::to_string(mp.arena_bytes + scratch_bytes) +
                                                 " bytes of activations and scratch, over the limit of " +
                                                 std::to_string(max_plan_bytes_) + " (SessionOptions::max_plan_bytes)");
  try {
    p->arena = aligned_buffer(mp.arena_bytes + 64);  // slack: vector kernels may read past the last buffer
    p->scratch = aligned_buffer(scratch_bytes);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kRuntime, "out of memory allocating the " + std::to_string(mp.arena_bytes + scratch_bytes) +
                                         " bytes of activations and scratch these input shapes need");
  }
  for (const auto& r : requests)
    p->values[r.id] = Tensor::borrow(p->values[r.id].dtype(), p->values[r.id].shape(),
                                     static_cast<char*>(p->arena.get()) + mp.offsets.at(r.id));
  for (const InPlaceValue& v : in_place)
    p->values[v.id] = Tensor::borrow(p->values[v.id].dtype(), p->values[v.id].shape(),
                                     static_cast<char*>(p->values[v.concat].raw()) + v.byte_offset);

  StaticPlan* raw = p.get();
  p->outer_thunk = [this, raw](const std::string& name) -> const Tensor* {
    auto it = value_ids_.find(name);
    if (it != value_ids_.end() && !raw->values[it->second].empty()) return &raw->values[it->second];
    return raw->current_outer && *raw->current_outer ? (*raw->current_outer)(name) : nullptr;
  };
  for (size_t k : p->run_nodes) {
    const ExecNode& e = nodes_[k];
    std::vector<const Tensor*> ins;
    for (int id : e.inputs) ins.push_back(id >= 0 ? &p->values[id] : nullptr);
    std::vector<Tensor*> outs;
    for (int id : e.outputs) outs.push_back(p->values[id].empty() ? nullptr : &p->values[id]);
    p->contexts.emplace_back(*e.node, ins, outs, p->scratch.get(), threads_, p->outer_thunk);
  }
  for (const InPlaceValue& v : in_place) p->contexts[static_cast<size_t>(v.producer_step)].set_output_row_stride(v.producer_output, v.row_stride);
  stats_.concat_inputs_in_place = in_place.size();

  stats_.static_plan = true;
  stats_.arena_bytes = mp.arena_bytes;
  stats_.unplanned_bytes = mp.total_bytes;
  stats_.num_nodes = p->run_nodes.size();
  plan_ = std::move(p);
  dynamic_ = false;
  return true;
}

std::vector<Executor::InPlaceValue> Executor::place_concat_inputs(const StaticPlan& p, const std::vector<int>& def_step) const {
  // EDGERUN_CONCAT_IN_PLACE=0: every Concat copies (an A/B switch).
  const char* in_place = std::getenv("EDGERUN_CONCAT_IN_PLACE");
  if (in_place && std::string(in_place) == "0") return {};
  // A value read by nothing but one Concat, once, is in no other group; and a Concat's own output is
  // never placed in another (Concat does not write strided rows).
  std::vector<InPlaceValue> placed;
  for (const size_t k : p.run_nodes) {
    const ExecNode& e = nodes_[k];
    if (!e.kernel->concatenates_last_axis() || e.outputs.empty() || e.outputs[0] < 0 || e.inputs.empty()) continue;
    const int concat = e.outputs[0];
    const Tensor& out = p.values[static_cast<size_t>(concat)];
    if (out.dtype() != DType::kFloat32 || out.shape().empty()) continue;
    const int64_t row = out.shape().back();
    std::vector<InPlaceValue> group;
    int64_t column = 0;
    bool ok = true;
    for (int id : e.inputs) {
      // Written by a run node of this plan (at step def_step) that can store rows apart, and read by
      // nothing but this Concat (once): not a graph input, output, constant or subgraph's outer value.
      const size_t v = static_cast<size_t>(id);
      ok = id >= 0 && def_step[v] >= 0 && use_counts_[v] == 1 && p.values[v].dtype() == DType::kFloat32 &&
           !p.values[v].shape().empty();
      if (!ok) break;
      const ExecNode& producer = nodes_[p.run_nodes[static_cast<size_t>(def_step[v])]];
      const size_t slot = static_cast<size_t>(std::find(producer.outputs.begin(), producer.outputs.end(), id) -
                                              producer.outputs.begin());
      ok = slot < producer.outputs.size() && producer.kernel->writes_strided_output(slot);
      if (!ok) break;
      group.push_back({id, concat, static_cast<size_t>(column) * sizeof(float), row, def_step[v], slot});
      column += p.values[v].shape().back();
    }
    if (ok && column == row) placed.insert(placed.end(), group.begin(), group.end());
  }
  return placed;
}

void Executor::release_packed_constants(const ExecNode& e, StaticPlan& p, std::vector<int>& packed_uses) {
  for (size_t i = 0; i < e.inputs.size(); ++i) {
    const int id = e.inputs[i];
    if (id < 0 || constants_[id].empty() || constants_[id].raw() == nullptr || !e.kernel->packed_input(i)) continue;
    if (++packed_uses[id] < use_counts_[id]) continue;  // another consumer (or a graph output) may read it
    const Tensor shape_only = Tensor::borrow(constants_[id].dtype(), constants_[id].shape(), nullptr);
    stats_.weight_bytes -= constants_[id].nbytes();
    constants_[id] = shape_only;
    p.values[id] = shape_only;
    auto it = owned_graph_->initializers.find(value_names_[id]);
    if (it != owned_graph_->initializers.end()) it->second = shape_only;
  }
}

std::vector<Tensor> Executor::run_static(const std::vector<Tensor>& inputs, const OuterResolver& outer) {
  StaticPlan& p = *plan_;
  for (size_t i = 0; i < inputs.size(); ++i)
    p.values[input_ids_[i]] = Tensor::borrow(inputs[i].dtype(), inputs[i].shape(), const_cast<void*>(inputs[i].raw()));
  p.current_outer = &outer;
  for (size_t s = 0; s < p.run_nodes.size(); ++s) {
    const auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    try {
      nodes_[p.run_nodes[s]].kernel->run(p.contexts[s]);
    } catch (...) {
      rethrow_with_context(nodes_[p.run_nodes[s]], "run");
    }
    if (profiling_) record(p.run_nodes[s], start);
  }
  p.current_outer = nullptr;
  std::vector<Tensor> outputs;
  outputs.reserve(output_ids_.size());
  for (int id : output_ids_) outputs.push_back(p.values[id].clone());
  return outputs;
}

void Executor::enable_profiling() {
  if (profiling_) return;
  profiling_ = true;
  profile_epoch_ = std::chrono::steady_clock::now();
  profile_.assign(nodes_.size(), NodeProfile{});
  for (size_t i = 0; i < nodes_.size(); ++i) {
    profile_[i].name = nodes_[i].node->name;
    profile_[i].op_type = nodes_[i].node->op_type;
  }
}

void Executor::record(size_t node_index, std::chrono::steady_clock::time_point start) {
  const auto end = std::chrono::steady_clock::now();
  NodeProfile& p = profile_[node_index];
  const double us = std::chrono::duration<double, std::micro>(end - start).count();
  p.total_ms += us / 1000.0;
  ++p.calls;
  if (p.events.size() < 100000)  // bound trace memory on long benchmarks
    p.events.emplace_back(std::chrono::duration<double, std::micro>(start - profile_epoch_).count(), us);
}

std::vector<NodeProfile> Executor::profile() const {
  std::vector<NodeProfile> out;
  for (const auto& p : profile_)
    if (p.calls) out.push_back(p);
  return out;
}

std::vector<NodeSummary> Executor::node_summaries() const {
  std::vector<NodeSummary> out;
  if (!plan_) return out;
  for (size_t k : plan_->run_nodes) {
    const ExecNode& e = nodes_[k];
    NodeSummary s;
    s.name = e.node->name;
    s.op_type = e.node->op_type;
    for (int id : e.inputs) s.input_shapes.push_back(id >= 0 ? plan_->values[id].shape() : Shape{});
    for (size_t i = 0; i < e.node->outputs.size(); ++i)
      s.output_shapes.push_back(e.sink[i] ? Shape{} : plan_->values[e.outputs[i]].shape());
    s.flops = estimate_flops(*e.node, s.input_shapes, s.output_shapes);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace edgerun
