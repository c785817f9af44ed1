#include <algorithm>
#include <limits>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

// XNNPACK kernels whose operators clamp their output at no cost.
bool clamps_output(const Node& n) {
  return n.domain == "edgerun" && n.outputs.size() == 1 &&
         (n.op_type == "ConvNhwc" || n.op_type == "FullyConnected" || n.op_type == "Add" || n.op_type == "Mul");
}

// Bounds of a clamp on float32 data, or false. Relu and Clip qualify here only after an edgerun
// float32 kernel, so their data type is known.
bool clamp_of(const Graph& g, const Node& n, float* lo, float* hi, std::string* name) {
  *lo = -std::numeric_limits<float>::infinity();
  *hi = std::numeric_limits<float>::infinity();
  if (n.outputs.size() != 1 || n.inputs.empty()) return false;
  if (n.domain == "edgerun" && n.op_type == "Clamp") {
    *lo = n.attr_float("activation_min", *lo);
    *hi = n.attr_float("activation_max", *hi);
    *name = n.attr_string("fused_activation", *lo == 0 && *hi == std::numeric_limits<float>::infinity() ? "Relu" : "Clip");
    return true;
  }
  if (!n.domain.empty()) return false;
  *name = n.op_type;
  if (n.op_type == "Relu") {
    *lo = 0;
    return true;
  }
  if (n.op_type != "Clip") return false;
  if (g.opset_for("") < 11) {
    *lo = n.attr_float("min", *lo);
    *hi = n.attr_float("max", *hi);
    return true;
  }
  for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
    if (n.inputs[i].empty()) continue;
    const Tensor* t = constant_value(g, n.inputs[i]);
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
    (i == 1 ? *lo : *hi) = t->data<float>()[0];
  }
  return true;
}

// XNNPACK int8 kernels that clamp their output in quantized units.
bool clamps_int8_output(const Node& n) {
  return n.domain == "edgerun" && n.outputs.size() == 1 &&
         (n.op_type == "QConvNhwc" || n.op_type == "QFullyConnected" || n.op_type == "QLinearAdd");
}

// Bounds of a Clip with constant int8 bounds (on int8 data, as FuseQdq writes them), or false.
bool int8_clamp_of(const Graph& g, const Node& n, int64_t* lo, int64_t* hi) {
  if (!n.domain.empty() || n.op_type != "Clip" || n.outputs.size() != 1 || n.inputs.empty()) return false;
  *lo = -128;
  *hi = 127;
  bool int8_bound = false;
  for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
    if (n.inputs[i].empty()) continue;
    const Tensor* t = constant_value(g, n.inputs[i]);
    if (!t || t->dtype() != DType::kInt8 || t->numel() != 1) return false;
    (i == 1 ? *lo : *hi) = t->data<int8_t>()[0];
    int8_bound = true;
  }
  return int8_bound;
}

// Folds the int8 Clip at node k into the int8 kernel producing its input; true if it did.
bool fuse_int8_clamp(Graph& g, size_t k) {
  int64_t lo, hi;
  if (!int8_clamp_of(g, g.nodes[k], &lo, &hi)) return false;
  const std::string in = g.nodes[k].inputs[0];
  const int p = producer_of(g, in);
  if (p < 0 || !clamps_int8_output(g.nodes[p]) || count_uses(g).at(in) != 1) return false;
  Node& producer = g.nodes[p];
  lo = std::max(lo, producer.attr_int("output_min", -128));
  hi = std::min(hi, producer.attr_int("output_max", 127));
  if (!(lo < hi)) return false;  // XNNPACK needs a non-empty range
  for (const auto& [key, v] : {std::pair<const char*, int64_t>{"output_min", lo}, {"output_max", hi}}) {
    Attribute a;
    a.type = Attribute::Type::kInt;
    a.i = v;
    producer.attrs[key] = a;
  }
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = producer.has_attr("fused_activation") ? producer.attr_string("fused_activation", "") + "+Clip" : "Clip";
  producer.attrs["fused_activation"] = a;
  producer.outputs[0] = g.nodes[k].outputs[0];
  g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
  return true;
}

void set_fused_name(Node& producer, const std::string& name) {
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = producer.has_attr("fused_activation") ? producer.attr_string("fused_activation", "") + "+" + name : name;
  producer.attrs["fused_activation"] = a;
}

// Folds the edgerun.Silu or edgerun.HardSwish at node k into the ConvNhwc producing its input
// (fused_function); true if it did. Only into a convolution without a clamp yet: the kernels apply the
// function before the clamp.
bool fuse_function_into_conv(Graph& g, size_t k) {
  const Node& silu = g.nodes[k];
  if (silu.domain != "edgerun" || (silu.op_type != "Silu" && silu.op_type != "HardSwish") || silu.inputs.size() != 1)
    return false;
  const int p = producer_of(g, silu.inputs[0]);
  if (p < 0) return false;
  Node& conv = g.nodes[p];
  if (conv.domain != "edgerun" || conv.op_type != "ConvNhwc" || conv.outputs.size() != 1) return false;
  if (conv.has_attr("activation_min") || conv.has_attr("activation_max") || conv.has_attr("fused_function"))
    return false;
  if (count_uses(g).at(silu.inputs[0]) != 1) return false;
  Attribute a;
  a.type = Attribute::Type::kString;
  a.s = silu.op_type;
  conv.attrs["fused_function"] = a;
  set_fused_name(conv, silu.op_type);
  conv.outputs[0] = silu.outputs[0];
  g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
  return true;
}

void set_attr(Node& n, const std::string& key, float v) {
  Attribute a;
  a.type = Attribute::Type::kFloat;
  a.f = v;
  n.attrs[key] = a;
}

}  // namespace

int fuse_activations(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (fuse_int8_clamp(g, k) || fuse_function_into_conv(g, k)) {
      --k;
      ++fused;
      continue;
    }
    float lo, hi;
    std::string name;
    if (!clamp_of(g, g.nodes[k], &lo, &hi, &name)) continue;
    const std::string in = g.nodes[k].inputs[0];
    const int p = producer_of(g, in);
    if (p < 0 || !clamps_output(g.nodes[p])) continue;
    if (count_uses(g).at(in) != 1) continue;  // the unclamped value is read elsewhere
    Node& producer = g.nodes[p];
    const float old_lo = producer.attr_float("activation_min", -std::numeric_limits<float>::infinity());
    const float old_hi = producer.attr_float("activation_max", std::numeric_limits<float>::infinity());
    lo = std::max(lo, old_lo);
    hi = std::min(hi, old_hi);
    if (!(lo < hi)) continue;  // XNNPACK needs a non-empty range
    set_attr(producer, "activation_min", lo);
    set_attr(producer, "activation_max", hi);
    set_fused_name(producer, name);
    producer.outputs[0] = g.nodes[k].outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
