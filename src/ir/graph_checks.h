// Structural validation of a loaded graph: every edge has a producer, no cycles, unique names.
#pragma once
#include <set>
#include <string>

#include "ir/graph.h"

namespace edgerun {

// Sorts nodes topologically (in place), fills Node::implicit_inputs for subgraph-bearing nodes, and
// throws Error(kInvalidModel) naming the node for a dangling edge, a cycle or a duplicate producer.
// `outer` holds names visible from enclosing scopes (empty for the main graph).
void validate_graph(Graph& g, const std::set<std::string>& outer = {});

}  // namespace edgerun
