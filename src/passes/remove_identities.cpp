#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

bool is_removable(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.inputs.empty() || n.inputs[0].empty() || n.outputs.empty()) return false;
  if (n.op_type == "Identity") return n.outputs.size() == 1;
  if (n.op_type != "Dropout") return false;
  // The mask output must be unused, and the node in inference mode: opset 12 takes training_mode
  // as input 2, opsets before 7 an is_test attribute.
  if (n.outputs.size() > 1 && !n.outputs[1].empty() && count_uses(g).count(n.outputs[1])) return false;
  if (g.opset_for("") < 7 && n.attr_int("is_test", 0) == 0) return false;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor* training = constant_value(g, n.inputs[2]);
    if (!training || training->dtype() != DType::kBool || training->numel() != 1 || training->data<bool>()[0]) return false;
  }
  return true;
}

}  // namespace

int remove_identities(Graph& g) {
  int removed = 0;
  for (size_t k = 0; k < g.nodes.size();) {
    const Node& n = g.nodes[k];
    if (!is_removable(g, n) || read_by_subgraph(g, n.outputs[0])) { ++k; continue; }
    const std::string in = n.inputs[0], out = n.outputs[0];
    if (is_graph_output(g, out)) {
      // Keep the output's name: the producer of the input writes it directly.
      const int producer = producer_of(g, in);
      if (producer < 0 || is_graph_output(g, in) || read_by_subgraph(g, in)) { ++k; continue; }
      for (auto& o : g.nodes[producer].outputs)
        if (o == in) o = out;
      rename_input(g, in, out);
    } else {
      rename_input(g, out, in);
    }
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    ++removed;
  }
  return removed;
}

}  // namespace edgerun
