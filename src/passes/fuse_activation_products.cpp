// Activations exporters write as a product with the input: x * HardSigmoid(x) (HardSwish) and
// x * Sigmoid(x) (SiLU), each fused into one node.
#include <cmath>
#include <functional>
#include <string>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

// Mul(x, gate(x)) in `domain` (either operand order), the gate read by nothing else, becomes one node
// `fused` of `domain` on x. `accepts` vets the Mul and the gate beyond their op types.
int fuse_product_with_input(Graph& g, const std::string& domain, const std::string& gate_op, const std::string& fused,
                            const std::function<bool(const Node& mul, const Node& gate)>& accepts) {
  int count = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& mul = g.nodes[k];
    if (mul.domain != domain || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      const int p = producer_of(g, mul.inputs[side]);
      if (p < 0) continue;
      const Node& gate = g.nodes[p];
      if (gate.domain != domain || gate.op_type != gate_op || gate.inputs.size() != 1 || gate.outputs.size() != 1)
        continue;
      if (gate.inputs[0] != mul.inputs[1 - side]) continue;  // x * gate(x), not a gate on another tensor
      if (!accepts(mul, gate)) continue;
      if (count_uses(g).at(gate.outputs[0]) != 1 || is_graph_output(g, gate.outputs[0])) continue;
      Node node;
      node.name = mul.name.empty() ? gate.name : mul.name;
      node.domain = domain;
      node.op_type = fused;
      node.inputs = {gate.inputs[0]};
      node.outputs = mul.outputs;
      // The gate comes before the Mul; the fused node takes its place, the Mul goes.
      g.nodes[static_cast<size_t>(p)] = std::move(node);
      g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
      --k;
      ++count;
      break;
    }
  }
  return count;
}

}  // namespace

int fuse_hard_swish(Graph& g) {
  // HardSwish(x) = x * HardSigmoid(x) with alpha 1/6 and beta 1/2 exactly as ONNX defines it.
  return fuse_product_with_input(g, "", "HardSigmoid", "HardSwish", [](const Node&, const Node& gate) {
    return std::fabs(gate.attr_float("alpha", 0.2f) - 1.f / 6.f) <= 1e-7f && gate.attr_float("beta", 0.5f) == 0.5f;
  });
}

int fuse_silu(Graph& g) {
  return fuse_product_with_input(g, "edgerun", "Sigmoid", "Silu", [](const Node& mul, const Node&) {
    return !mul.has_attr("activation_min") && !mul.has_attr("activation_max");
  });
}

}  // namespace edgerun
