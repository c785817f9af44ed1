// FoldConstantDequantize: DequantizeLinear of constant int8/uint8/int32 data with constant scale and zero
// point becomes a float32 initializer, so that the float ops left in a QDQ model after FuseQdq (uint8
// models, unsupported patterns) see constant weights and get their fast kernels. Same arithmetic as the
// reference DequantizeLinear: float(x - zero_point) * scale.
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

template <typename T>
Tensor dequantize(const Tensor& x, const Tensor& scale, const Tensor* zero_point, int64_t axis) {
  Tensor y(DType::kFloat32, x.shape());
  const int64_t channels = scale.numel() == 1 ? 1 : x.dim(static_cast<size_t>(axis));
  int64_t inner = 1;
  if (channels > 1)
    for (size_t d = static_cast<size_t>(axis) + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const T* px = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = channels > 1 ? (i / inner) % channels : 0;
    const int64_t z = zero_point ? static_cast<int64_t>(zero_point->data<T>()[c]) : 0;
    y.data<float>()[i] = static_cast<float>(static_cast<int64_t>(px[i]) - z) * scale.data<float>()[c];
  }
  return y;
}

}  // namespace

bool dequantize_constant(const Graph& g, const Node& n, Tensor* out) {
  if (!n.domain.empty() || n.op_type != "DequantizeLinear" || n.inputs.size() < 2 || n.outputs.size() != 1) return false;
  const Tensor* x = constant_value(g, n.inputs[0]);
  const Tensor* s = constant_value(g, n.inputs[1]);
  const Tensor* z = n.inputs.size() > 2 && !n.inputs[2].empty() ? constant_value(g, n.inputs[2]) : nullptr;
  if (!x || !s || s->dtype() != DType::kFloat32 || s->rank() > 1) return false;
  if (n.inputs.size() > 2 && !n.inputs[2].empty() && (!z || z->dtype() != x->dtype() || z->numel() != s->numel()))
    return false;
  int64_t axis = n.attr_int("axis", 1);
  if (s->numel() != 1) {
    if (axis < 0) axis += static_cast<int64_t>(x->rank());
    if (axis < 0 || axis >= static_cast<int64_t>(x->rank()) || x->dim(static_cast<size_t>(axis)) != s->numel())
      return false;
  }
  if (x->dtype() == DType::kInt8) *out = dequantize<int8_t>(*x, *s, z, axis);
  else if (x->dtype() == DType::kUInt8) *out = dequantize<uint8_t>(*x, *s, z, axis);
  else if (x->dtype() == DType::kInt32) *out = dequantize<int32_t>(*x, *s, z, axis);
  else return false;
  return true;
}

int fold_constant_dequantize(Graph& g) {
  int folded = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    Tensor y;
    if (!dequantize_constant(g, n, &y)) continue;
    if (is_graph_output(g, n.outputs[0]) || read_by_subgraph(g, n.outputs[0])) continue;
    g.initializers[n.outputs[0]] = std::move(y);
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++folded;
  }
  return folded;
}

}  // namespace edgerun
