#include "ir/graph_checks.h"

#include <map>

#include "edgerun/error.h"

namespace edgerun {
namespace {

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

// Names a subgraph reads from enclosing scopes.
std::set<std::string> free_names(const Graph& g) {
  std::set<std::string> defined;
  for (const auto& in : g.inputs) defined.insert(in.name);
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) defined.insert(o);
  std::set<std::string> free;
  for (const auto& n : g.nodes) {
    for (const auto& i : n.inputs)
      if (!i.empty() && !defined.count(i)) free.insert(i);
    for (const auto& i : n.implicit_inputs)
      if (!defined.count(i)) free.insert(i);
  }
  for (const auto& o : g.outputs)
    if (!defined.count(o.name)) free.insert(o.name);
  return free;
}

}  // namespace

void validate_graph(Graph& g, const std::set<std::string>& outer) {
  std::set<std::string> available = outer;
  for (const auto& in : g.inputs) available.insert(in.name);
  for (const auto& [name, t] : g.initializers) available.insert(name);

  // Producers, checking for duplicates.
  std::map<std::string, size_t> producer;
  std::set<std::string> inputs;
  for (const auto& in : g.inputs) inputs.insert(in.name);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs) {
      if (o.empty()) continue;
      // Values are assigned once: a node may not write over a graph input (whose buffer the caller owns).
      if (inputs.count(o)) invalid(g.nodes[i].describe() + ": output '" + o + "' is also a graph input");
      if (producer.count(o) || (g.initializers.count(o) && !outer.count(o)))
        invalid(g.nodes[i].describe() + ": output '" + o + "' is produced more than once");
      producer[o] = i;
    }

  // Subgraphs first: they may read anything visible at this node, which is a superset we bound by
  // all names of this scope; the precise order check happens through implicit inputs below.
  std::set<std::string> visible = available;
  for (const auto& [name, idx] : producer) visible.insert(name);
  for (auto& n : g.nodes) {
    std::set<std::string> implicit;
    for (auto& [key, a] : n.attrs) {
      std::vector<Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (auto& sg : a.graphs) subs.push_back(sg.get());
      for (Graph* sg : subs) {
        validate_graph(*sg, visible);
        for (const auto& f : free_names(*sg)) implicit.insert(f);
      }
    }
    n.implicit_inputs.assign(implicit.begin(), implicit.end());
  }

  // Kahn's algorithm over data edges (regular and implicit inputs).
  const size_t count = g.nodes.size();
  std::vector<int> pending(count, 0);
  std::vector<std::vector<size_t>> consumers(count);
  for (size_t i = 0; i < count; ++i) {
    const Node& n = g.nodes[i];
    std::vector<std::string> reads = n.inputs;
    reads.insert(reads.end(), n.implicit_inputs.begin(), n.implicit_inputs.end());
    std::set<size_t> deps;
    for (const auto& r : reads) {
      if (r.empty()) continue;
      auto it = producer.find(r);
      if (it != producer.end()) {
        if (it->second == i) invalid(n.describe() + ": reads its own output '" + r + "' (cycle)");
        deps.insert(it->second);
      } else if (!available.count(r)) {
        invalid(n.describe() + ": input '" + r + "' is not produced by any node, graph input or initializer");
      }
    }
    pending[i] = static_cast<int>(deps.size());
    for (size_t d : deps) consumers[d].push_back(i);
  }
  std::vector<size_t> order;
  order.reserve(count);
  for (size_t i = 0; i < count; ++i)
    if (pending[i] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k)
    for (size_t c : consumers[order[k]])
      if (--pending[c] == 0) order.push_back(c);
  if (order.size() != count) {
    for (size_t i = 0; i < count; ++i)
      if (pending[i] > 0) invalid(g.nodes[i].describe() + ": the graph has a cycle through this node");
  }
  std::vector<Node> sorted;
  sorted.reserve(count);
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);

  for (const auto& o : g.outputs)
    if (!producer.count(o.name) && !available.count(o.name))
      invalid("graph output '" + o.name + "' is not produced by any node, input or initializer");
}

}  // namespace edgerun
