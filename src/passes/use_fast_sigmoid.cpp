// Sigmoid outside the NHWC region (a detection head after Reshape/Transpose, a gate on a flattened
// value) runs on the reference kernel: one thread, scalar exp. Where its input is known to be float32,
// it becomes edgerun.Sigmoid, which runs on any shape. Passes see no data types, so float32 is proven by
// provenance: the value comes from an edgerun float kernel through ops that only move data.
#include <set>
#include <string>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {

int use_fast_sigmoid(Graph& g) {
  static const std::set<std::string> kFloatKernels = {"ConvNhwc", "FullyConnected", "Silu",  "Sigmoid",
                                                      "HardSwish", "Clamp",         "GlobalAveragePoolNhwc"};
  // Their output has the type of input 0 (NhwcToNchw also carries int8 values, so it is one of them).
  static const std::set<std::string> kDataMoves = {"Reshape", "Transpose", "Flatten",  "Squeeze",
                                                   "Unsqueeze", "Slice",   "Identity", "Split"};
  std::set<std::string> float32;
  int rewritten = 0;
  // Nodes are in topological order (sorted at load; passes keep it), so producers come first; were one
  // out of order, its Sigmoid would only be left alone.
  for (Node& n : g.nodes) {
    const bool from_float = !n.inputs.empty() && float32.count(n.inputs[0]) != 0;
    if (n.domain == "edgerun" && kFloatKernels.count(n.op_type)) {
      float32.insert(n.outputs.begin(), n.outputs.end());
    } else if ((n.domain.empty() && kDataMoves.count(n.op_type)) ||
               (n.domain == "edgerun" && n.op_type == "NhwcToNchw")) {
      if (from_float) float32.insert(n.outputs.begin(), n.outputs.end());
    } else if (n.domain.empty() && n.op_type == "Sigmoid" && from_float && n.outputs.size() == 1) {
      n.domain = "edgerun";
      float32.insert(n.outputs[0]);
      ++rewritten;
    }
  }
  if (rewritten) g.opsets["edgerun"] = 1;
  return rewritten;
}

}  // namespace edgerun
