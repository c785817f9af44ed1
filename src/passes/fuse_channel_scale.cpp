// Squeeze-excitation (MobileNetV3, EfficientNet): x * gate, with gate [N, 1, 1, C] computed from
// GlobalAveragePool(x), feeds the block's projecting convolution. The product becomes that
// convolution's input 3, a per-channel scale it applies itself (ConvNhwc scales its weights, which are
// usually far fewer than x's values), instead of a Mul pass over x.
#include <algorithm>
#include <set>
#include <string>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

// A 1x1 ConvNhwc without padding keeps a 1x1 image 1x1.
bool pointwise_unpadded(const Graph& g, const Node& n) {
  if (n.domain != "edgerun" || n.op_type != "ConvNhwc" || n.inputs.size() < 2) return false;
  const Tensor* w = constant_value(g, n.inputs[1]);
  if (!w || w->rank() != 4 || w->dim(2) != 1 || w->dim(3) != 1) return false;
  for (int64_t p : n.attr_ints("pads"))
    if (p != 0) return false;
  return true;
}

}  // namespace

int fuse_channel_scale(Graph& g) {
  // Values that are [N, 1, 1, C] by construction: a global pool, then per-pixel ops on it.
  static const std::set<std::string> kPerPixel = {"Clamp", "Sigmoid", "HardSwish", "Silu", "HardSigmoid",
                                                  "Relu",  "Clip",    "Tanh"};
  std::set<std::string> pooled;
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    const bool from_pooled = !n.inputs.empty() && pooled.count(n.inputs[0]) != 0;
    if ((n.domain == "edgerun" && n.op_type == "GlobalAveragePoolNhwc") ||
        (from_pooled && (kPerPixel.count(n.op_type) || pointwise_unpadded(g, n)))) {
      pooled.insert(n.outputs.begin(), n.outputs.end());
      continue;
    }
    if (n.domain != "edgerun" || n.op_type != "Mul" || n.inputs.size() != 2 || n.outputs.size() != 1) continue;
    if (n.has_attr("activation_min") || n.has_attr("activation_max")) continue;
    const int gate_side = pooled.count(n.inputs[1]) ? 1 : pooled.count(n.inputs[0]) ? 0 : -1;
    if (gate_side < 0 || pooled.count(n.inputs[1 - gate_side])) continue;
    const std::string& product = n.outputs[0];
    if (count_uses(g).at(product) != 1 || is_graph_output(g, product)) continue;
    size_t c = k + 1;
    while (c < g.nodes.size() && std::find(g.nodes[c].inputs.begin(), g.nodes[c].inputs.end(), product) == g.nodes[c].inputs.end())
      ++c;
    if (c == g.nodes.size()) continue;
    Node& conv = g.nodes[c];
    if (conv.domain != "edgerun" || conv.op_type != "ConvNhwc" || conv.inputs[0] != product || conv.inputs.size() > 3)
      continue;
    conv.inputs.resize(4);  // an absent bias stays ""
    conv.inputs[0] = n.inputs[1 - gate_side];
    conv.inputs[3] = n.inputs[gate_side];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
