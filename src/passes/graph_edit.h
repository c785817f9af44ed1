// Queries and edits shared by the graph passes.
#pragma once
#include <map>
#include <set>
#include <string>

#include "ir/graph.h"

namespace edgerun {

// Readers of each value: node inputs, subgraph (implicit) inputs and graph outputs each count once.
std::map<std::string, int> count_uses(const Graph& g);

bool is_graph_output(const Graph& g, const std::string& name);
bool is_graph_input(const Graph& g, const std::string& name);
// True when a subgraph of some node reads `name` from this scope.
bool read_by_subgraph(const Graph& g, const std::string& name);

// Index of the node producing `name`, or -1 (graph inputs, initializers, unknown names).
int producer_of(const Graph& g, const std::string& name);

// An edgerun.ConvNhwc with one output and neither a channel scale (input 3) nor a residual (input 4):
// one the fusion passes can merge with its neighbour.
bool plain_conv_nhwc(const Node& n);

// The value of `name` when it is an initializer or the output of a Constant node with a `value`
// tensor; null otherwise.
const Tensor* constant_value(const Graph& g, const std::string& name);

// Fresh value names for one pass: `base`, or base_1, base_2... unused by the graph and by
// earlier names from the same object.
class UniqueNames {
 public:
  explicit UniqueNames(const Graph& g);
  std::string make(const std::string& base);

 private:
  std::set<std::string> used_;
};

// Replaces every node input (not subgraph reads) named `from` by `to`.
void rename_input(Graph& g, const std::string& from, const std::string& to);

// Drops initializers that no node reads and that are not graph outputs.
int remove_unused_initializers(Graph& g);

}  // namespace edgerun
