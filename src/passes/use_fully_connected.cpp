#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

const Tensor* constant_matrix(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2) return nullptr;
  const Tensor* b = constant_value(g, n.inputs[1]);
  return b && b->dtype() == DType::kFloat32 && b->rank() == 2 ? b : nullptr;
}

// MatMul + Add(constant vector of N values), as exporters write a dense layer, becomes one
// FullyConnected with a bias: the sum is made in the kernel's accumulators instead of in a second pass.
int fold_bias_adds(Graph& g) {
  int folded = 0;
  const auto uses = count_uses(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& fc = g.nodes[i];
    if (fc.domain != "edgerun" || fc.op_type != "FullyConnected" || fc.inputs.size() != 2) continue;
    const std::string& out = fc.outputs[0];
    const auto it = uses.find(out);
    if (it == uses.end() || it->second != 1 || is_graph_output(g, out)) continue;
    const Tensor* w = constant_value(g, fc.inputs[1]);
    const int64_t n = fc.attr_int("transpose_weights", 0) ? w->dim(1) : w->dim(0);
    for (size_t j = i + 1; j < g.nodes.size(); ++j) {
      const Node& add = g.nodes[j];
      if (!add.domain.empty() || add.op_type != "Add" || add.inputs.size() != 2) continue;
      if (add.inputs[0] != out && add.inputs[1] != out) continue;
      const std::string& other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0];
      const Tensor* bias = constant_value(g, other);
      // A rank-1 bias of N values broadcasts over the rows without changing the output shape.
      if (other != out && bias && bias->dtype() == DType::kFloat32 && bias->rank() == 1 && bias->dim(0) == n) {
        fc.inputs.push_back(other);
        fc.outputs[0] = add.outputs[0];
        g.nodes.erase(g.nodes.begin() + static_cast<long>(j));
        ++folded;
      }
      break;
    }
  }
  return folded;
}

}  // namespace

int use_fully_connected(Graph& g) {
  int rewritten = 0;
  for (Node& n : g.nodes) {
    if (!n.domain.empty() || n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0].empty()) continue;
    const Tensor* b = constant_matrix(g, n);
    if (!b) continue;
    bool transpose_weights = true;  // W as [K, N]
    if (n.op_type == "Gemm") {
      // Y = A x op(B) + C with C a vector of N values; other alpha, beta, transA stay on the reference Gemm.
      if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f) continue;
      transpose_weights = n.attr_int("transB", 0) == 0;
      const int64_t outputs = transpose_weights ? b->dim(1) : b->dim(0);
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const Tensor* c = constant_value(g, n.inputs[2]);
        if (!c || c->dtype() != DType::kFloat32 || c->numel() != outputs || n.attr_float("beta", 1.f) != 1.f) continue;
        if (c->rank() > 2 || (c->rank() == 2 && c->dim(0) != 1)) continue;
      }
      n.attrs.erase("transA");
      n.attrs.erase("transB");
      n.attrs.erase("alpha");
      n.attrs.erase("beta");
    } else if (n.op_type == "MatMul") {
      if (n.inputs.size() != 2) continue;
    } else {
      continue;
    }
    n.domain = "edgerun";
    n.op_type = "FullyConnected";
    Attribute t;
    t.type = Attribute::Type::kInt;
    t.i = transpose_weights ? 1 : 0;
    n.attrs["transpose_weights"] = t;
    ++rewritten;
  }
  if (rewritten) g.opsets["edgerun"] = 1;
  rewritten += fold_bias_adds(g);
  return rewritten;
}

}  // namespace edgerun
