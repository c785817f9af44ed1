// A strided edgerun.ConvNhwc read only by an edgerun.MaxPoolNhwc becomes one edgerun.ConvMaxPoolNhwc,
// which computes the convolution's rows band by band as the pool reads them (the stems of ResNets,
// squeezenet and shufflenet). Written after FuseActivations, whose clamp or function the convolution
// carries over, and after FuseChannelScale and FuseResidualAdd: convolutions with a scale or a residual
// input stay as they are. Stride-1 convolutions stay too: ConvNhwc may run those with Winograd, which
// the fused kernel does not.
#include <algorithm>
#include <string>

#include "kernels/x86/conv_igemm_f32.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

bool fusable_conv(const Graph& g, const Node& n) {
  if (!plain_conv_nhwc(n) || n.attr_int("group", 1) != 1) return false;
  const Tensor* w = n.inputs[1].empty() ? nullptr : constant_value(g, n.inputs[1]);
  if (!w || w->dtype() != DType::kFloat32 || w->shape().size() != 4 ||
      w->shape()[2] * w->shape()[3] > ConvIgemmF32::kMaxTaps)
    return false;
  const std::vector<int64_t> strides = n.attr_ints("strides");
  return std::any_of(strides.begin(), strides.end(), [](int64_t s) { return s > 1; });
}

bool fusable_pool(const Node& n) {
  if (n.domain != "edgerun" || n.op_type != "MaxPoolNhwc" || n.inputs.size() != 1) return false;
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) return false;  // Indices
  return n.attr_ints("kernel_shape").size() == 2;
}

}  // namespace

int fuse_conv_max_pool(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& pool = g.nodes[k];
    if (!fusable_pool(pool)) continue;
    const int c = producer_of(g, pool.inputs[0]);
    if (c < 0) continue;
    const Node& conv = g.nodes[static_cast<size_t>(c)];
    if (!fusable_conv(g, conv)) continue;
    const std::string& between = conv.outputs[0];
    if (count_uses(g).at(between) != 1 || is_graph_output(g, between) || read_by_subgraph(g, between)) continue;
    Node node = conv;
    node.op_type = "ConvMaxPoolNhwc";
    node.name = conv.name + "+" + pool.name;
    node.inputs.resize(std::min<size_t>(node.inputs.size(), 3));
    node.outputs = {pool.outputs[0]};
    for (const auto& [key, value] : pool.attrs)
      if (key != "storage_order") node.attrs["pool_" + key] = value;
    // The pool's place: the convolution's input exists there too.
    g.nodes[k] = std::move(node);
    g.nodes.erase(g.nodes.begin() + c);
    --k;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
