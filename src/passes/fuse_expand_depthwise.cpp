// A 1x1 edgerun.ConvNhwc (stride 1, no padding) read only by a depthwise edgerun.ConvNhwc becomes one
// edgerun.ExpandDepthwiseNhwc, which computes the expanded rows band by band as the depthwise
// convolution reads them (the first two layers of an inverted residual block). Written after
// FuseActivations, whose clamps and functions both convolutions carry over, and after FuseChannelScale
// and FuseResidualAdd: convolutions with a scale or a residual input stay as they are.
#include <algorithm>
#include <string>

#include "kernels/x86/conv_depthwise_f32.h"

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

bool all_equal(const std::vector<int64_t>& values, int64_t v) {
  return std::all_of(values.begin(), values.end(), [v](int64_t x) { return x == v; });
}

// A float32 constant of `rank` dimensions, or null.
const Tensor* float_constant(const Graph& g, const std::string& name, size_t rank) {
  const Tensor* t = name.empty() ? nullptr : constant_value(g, name);
  return t && t->dtype() == DType::kFloat32 && t->shape().size() == rank ? t : nullptr;
}

bool is_expansion(const Graph& g, const Node& n) {
  if (!plain_conv_nhwc(n) || n.attr_int("group", 1) != 1) return false;
  if (n.has_attr("auto_pad") && n.attr_string("auto_pad", "NOTSET") != "NOTSET") return false;
  const Tensor* w = float_constant(g, n.inputs[1], 4);
  return w && w->shape()[2] == 1 && w->shape()[3] == 1 && all_equal(n.attr_ints("strides"), 1) &&
         all_equal(n.attr_ints("pads"), 0) && all_equal(n.attr_ints("dilations"), 1);
}

// A depthwise convolution ConvNhwc would run on ConvDepthwiseF32 (not one it leaves to XNNPACK as faster:
// fused, it would run on the own kernel).
bool is_depthwise(const Graph& g, const Node& n, int64_t channels) {
  if (!plain_conv_nhwc(n) || n.attr_int("group", 1) != channels) return false;
  const Tensor* w = float_constant(g, n.inputs[1], 4);
  if (!(w && w->shape()[0] == channels && w->shape()[1] == 1 &&
        w->shape()[2] * w->shape()[3] <= ConvDepthwiseF32::kMaxTaps && all_equal(n.attr_ints("dilations"), 1)))
    return false;
  const std::vector<int64_t> strides = n.attr_ints("strides");
  ConvNhwcGeometry geometry;
  geometry.stride_h = strides.size() == 2 ? strides[0] : 1;
  geometry.stride_w = strides.size() == 2 ? strides[1] : 1;
  OutputActivation activation;
  const std::string function = n.attr_string("fused_function", "");
  if (function == "Silu") activation.function = OutputActivation::Function::kSilu;
  else if (function == "HardSwish") activation.function = OutputActivation::Function::kHardSwish;
  return ConvDepthwiseF32::preferred(channels, w->shape()[2], w->shape()[3], geometry, activation);
}

}  // namespace

int fuse_expand_depthwise(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& dw = g.nodes[k];
    if (!plain_conv_nhwc(dw)) continue;
    const int p = producer_of(g, dw.inputs[0]);
    if (p < 0) continue;
    const Node& expand = g.nodes[static_cast<size_t>(p)];
    if (!is_expansion(g, expand)) continue;
    const int64_t expanded = constant_value(g, expand.inputs[1])->shape()[0];
    if (!is_depthwise(g, dw, expanded)) continue;
    const std::string& between = expand.outputs[0];
    if (count_uses(g).at(between) != 1 || is_graph_output(g, between) || read_by_subgraph(g, between)) continue;
    Node node = dw;
    node.op_type = "ExpandDepthwiseNhwc";
    node.name = expand.name + "+" + dw.name;
    auto bias = [](const Node& n) { return n.inputs.size() > 2 ? n.inputs[2] : std::string(); };
    node.inputs = {expand.inputs[0], expand.inputs[1], bias(expand), dw.inputs[1], bias(dw)};
    for (const char* key : {"activation_min", "activation_max", "fused_function"})
      if (expand.has_attr(key)) node.attrs[std::string("expand_") + key] = expand.attrs.at(key);
    // The depthwise convolution's place: the expansion's input exists there too.
    g.nodes[k] = std::move(node);
    g.nodes.erase(g.nodes.begin() + p);
    --k;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
