// A residual connection, edgerun.Add(conv(x), shortcut) with the Add's clamp (ResNet's Relu), becomes the
// convolution's input 4: the kernels add the shortcut as they store their outputs, so the sum costs no
// pass over memory. Written after FuseActivations, which has put the Relu on the Add.
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {

int fuse_residual_add(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& add = g.nodes[k];
    if (add.domain != "edgerun" || add.op_type != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    if (add.inputs[0] == add.inputs[1]) continue;
    const auto uses = count_uses(g);
    for (int side = 0; side < 2; ++side) {
      const std::string& sum_input = add.inputs[side];
      const int p = producer_of(g, sum_input);
      if (p < 0) continue;
      const Node& conv = g.nodes[static_cast<size_t>(p)];
      if (conv.domain != "edgerun" || conv.op_type != "ConvNhwc" || conv.outputs.size() != 1 || conv.inputs.size() > 4)
        continue;
      // The activation of the fused node applies after the sum: the convolution must have none of its own.
      if (conv.has_attr("activation_min") || conv.has_attr("activation_max") || conv.has_attr("fused_function")) continue;
      if (uses.at(sum_input) != 1 || is_graph_output(g, sum_input)) continue;
      Node fused_conv = conv;
      fused_conv.inputs.resize(5);  // absent bias and scale stay ""
      fused_conv.inputs[4] = add.inputs[1 - side];
      fused_conv.outputs = add.outputs;
      for (const char* key : {"activation_min", "activation_max"})
        if (add.has_attr(key)) fused_conv.attrs[key] = add.attrs.at(key);
      Attribute name;
      name.type = Attribute::Type::kString;
      name.s = "Add" + (add.has_attr("fused_activation") ? "+" + add.attr_string("fused_activation", "") : std::string());
      fused_conv.attrs["fused_activation"] = name;
      // The Add's place: the shortcut exists there, and the convolution's inputs came earlier still.
      g.nodes[k] = std::move(fused_conv);
      g.nodes.erase(g.nodes.begin() + p);
      --k;
      ++fused;
      break;
    }
  }
  return fused;
}

}  // namespace edgerun
