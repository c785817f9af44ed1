#include "passes/graph_edit.h"

#include <algorithm>

namespace edgerun {

std::map<std::string, int> count_uses(const Graph& g) {
  std::map<std::string, int> uses;
  for (const auto& n : g.nodes) {
    for (const auto& i : n.inputs)
      if (!i.empty()) ++uses[i];
    for (const auto& i : n.implicit_inputs) ++uses[i];
  }
  for (const auto& o : g.outputs) ++uses[o.name];
  return uses;
}

bool is_graph_output(const Graph& g, const std::string& name) {
  return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueDesc& o) { return o.name == name; });
}

bool is_graph_input(const Graph& g, const std::string& name) {
  return std::any_of(g.inputs.begin(), g.inputs.end(), [&](const ValueDesc& o) { return o.name == name; });
}

bool read_by_subgraph(const Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (std::find(n.implicit_inputs.begin(), n.implicit_inputs.end(), name) != n.implicit_inputs.end()) return true;
  return false;
}

int producer_of(const Graph& g, const std::string& name) {
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (const auto& o : g.nodes[k].outputs)
      if (o == name) return static_cast<int>(k);
  return -1;
}

bool plain_conv_nhwc(const Node& n) {
  if (n.domain != "edgerun" || n.op_type != "ConvNhwc" || n.outputs.size() != 1 || n.inputs.size() < 2) return false;
  for (size_t i = 3; i < n.inputs.size(); ++i)
    if (!n.inputs[i].empty()) return false;  // a channel scale or a residual
  return true;
}

const Tensor* constant_value(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  if (it != g.initializers.end()) return &it->second;
  const int k = producer_of(g, name);
  if (k < 0) return nullptr;
  const Node& n = g.nodes[k];
  if (!n.domain.empty() || n.op_type != "Constant") return nullptr;
  return n.attr_tensor("value");
}

UniqueNames::UniqueNames(const Graph& g) {
  for (const auto& [name, t] : g.initializers) used_.insert(name);
  for (const auto& i : g.inputs) used_.insert(i.name);
  for (const auto& o : g.outputs) used_.insert(o.name);
  for (const auto& n : g.nodes) {
    used_.insert(n.inputs.begin(), n.inputs.end());
    used_.insert(n.outputs.begin(), n.outputs.end());
    used_.insert(n.implicit_inputs.begin(), n.implicit_inputs.end());
  }
}

std::string UniqueNames::make(const std::string& base) {
  std::string name = base;
  for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
  used_.insert(name);
  return name;
}

void rename_input(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes)
    for (auto& i : n.inputs)
      if (i == from) i = to;
}

int remove_unused_initializers(Graph& g) {
  const auto uses = count_uses(g);
  int removed = 0;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (uses.count(it->first)) { ++it; continue; }
    it = g.initializers.erase(it);
    ++removed;
  }
  return removed;
}

}  // namespace edgerun
