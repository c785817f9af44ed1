// Activations exporters write as a product with the input: x * HardSigmoid(x) (HardSwish) and
// x * Sigmoid(x) (SiLU), each fused into one node.
#include <cmath>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {

int fuse_hard_swish(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& mul = g.nodes[k];
    if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      const int p = producer_of(g, mul.inputs[side]);
      if (p < 0) continue;
      const Node& sig = g.nodes[p];
      if (!sig.domain.empty() || sig.op_type != "HardSigmoid" || sig.inputs.size() != 1 || sig.outputs.size() != 1)
        continue;
      // HardSwish(x) = x * HardSigmoid(x) with alpha 1/6 and beta 1/2 exactly as ONNX defines it.
      if (sig.inputs[0] != mul.inputs[1 - side]) continue;
      if (std::fabs(sig.attr_float("alpha", 0.2f) - 1.f / 6.f) > 1e-7f || sig.attr_float("beta", 0.5f) != 0.5f) continue;
      if (count_uses(g).at(sig.outputs[0]) != 1 || is_graph_output(g, sig.outputs[0])) continue;
      Node swish;
      swish.name = mul.name.empty() ? sig.name : mul.name;
      swish.op_type = "HardSwish";
      swish.inputs = {sig.inputs[0]};
      swish.outputs = mul.outputs;
      // The HardSigmoid comes before the Mul; the HardSwish takes its place, the Mul goes.
      g.nodes[static_cast<size_t>(p)] = std::move(swish);
      g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
      --k;
      ++fused;
      break;
    }
  }
  return fused;
}

}  // namespace edgerun

namespace edgerun {

int fuse_silu(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& mul = g.nodes[k];
    if (mul.domain != "edgerun" || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1 ||
        mul.has_attr("activation_min") || mul.has_attr("activation_max"))
      continue;
    for (int side = 0; side < 2; ++side) {
      const int p = producer_of(g, mul.inputs[side]);
      if (p < 0) continue;
      const Node& sig = g.nodes[p];
      if (sig.domain != "edgerun" || sig.op_type != "Sigmoid" || sig.inputs.size() != 1 || sig.outputs.size() != 1)
        continue;
      if (sig.inputs[0] != mul.inputs[1 - side]) continue;  // x * sigmoid(x), not a gate on another tensor
      if (count_uses(g).at(sig.outputs[0]) != 1 || is_graph_output(g, sig.outputs[0])) continue;
      Node silu;
      silu.name = mul.name.empty() ? sig.name : mul.name;
      silu.domain = "edgerun";
      silu.op_type = "Silu";
      silu.inputs = {sig.inputs[0]};
      silu.outputs = mul.outputs;
      g.nodes[static_cast<size_t>(p)] = std::move(silu);
      g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
      --k;
      ++fused;
      break;
    }
  }
  return fused;
}

}  // namespace edgerun
