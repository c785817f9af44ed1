#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

const Tensor* constant_matrix(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2) return nullptr;
  const Tensor* b = constant_value(g, n.inputs[1]);
  return b && b->dtype() == DType::kFloat32 && b->rank() == 2 ? b : nullptr;
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
  return rewritten;
}

}  // namespace edgerun
