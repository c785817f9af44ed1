#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {

int fold_constant_casts(Graph& g) {
  int folded = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (!n.domain.empty() || n.op_type != "Cast" || n.inputs.size() != 1 || n.outputs.size() != 1) continue;
    if (n.attr_int("to", 0) != static_cast<int64_t>(DType::kFloat32) || n.has_attr("saturate")) continue;
    const auto it = g.initializers.find(n.inputs[0]);
    if (it == g.initializers.end()) continue;
    const Tensor& src = it->second;
    if (src.dtype() != DType::kFloat16 && src.dtype() != DType::kBFloat16 && src.dtype() != DType::kFloat32) continue;
    const std::string out = n.outputs[0];
    if (g.initializers.count(out) || is_graph_input(g, out)) continue;
    Tensor f(DType::kFloat32, src.shape());
    for (int64_t i = 0; i < src.numel(); ++i) {
      const uint16_t* bits = src.data<uint16_t>();
      f.data<float>()[i] = src.dtype() == DType::kFloat16    ? half_to_float(bits[i])
                           : src.dtype() == DType::kBFloat16 ? bfloat16_to_float(bits[i])
                                                             : src.data<float>()[i];
    }
    g.initializers[out] = std::move(f);
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++folded;
  }
  return folded;
}

}  // namespace edgerun
