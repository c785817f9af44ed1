// FuseQdq: QDQ-format int8 patterns become integer ops on int8 tensors.
//
//   DQ(x), DQ(w), DQ(b) -> Conv [-> Relu | Clip] -> Q   =>  QLinearConv [-> int8 Clip]
//   DQ(x), DQ(w), DQ(b) -> Gemm | MatMul [-> act] -> Q  =>  edgerun.QFullyConnected [-> int8 Clip]
//   DQ(x), DQ(w), [DQ(b) | b] -> Gemm | MatMul (no Q)   =>  edgerun.QFullyConnectedToFloat (a classifier)
//   QLinearMatMul with constant int8 B                  =>  edgerun.QFullyConnected
//   DQ(a), DQ(b) -> Add [-> act] -> Q                   =>  edgerun.QLinearAdd [-> int8 Clip]
//   DQ(x) -> GlobalAveragePool -> Q                     =>  edgerun.QLinearGlobalAveragePool
//   DQ(x) -> MaxPool | Flatten | Reshape -> Q (same scale and zero point)  =>  the op on int8 data
//
// A clamp becomes an ONNX Clip on the int8 result with bounds Q(lo), Q(hi): quantization is monotonic,
// so Q(clamp(y, lo, hi)) = clamp(Q(y), Q(lo), Q(hi)) exactly. FuseActivations later folds it into the
// kernel. Fused ops read the int8 values that the DQ nodes read, and write the Q node's output, so two
// int8 ops in a row exchange int8 data; DQ nodes left without readers disappear. Every pattern is
// checked against the limits of the XNNPACK int8 operators; anything else keeps its DQ -> float op -> Q
// form, which the reference kernels compute.
#include <cmath>
#include <limits>
#include <set>

#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "passes/quant_params.h"

namespace edgerun {
namespace {

// An int8 input read through a per-tensor DequantizeLinear.
struct Int8Input {
  std::string value, scale, zero_point;
  Int8Quant quant;
};

// The QuantizeLinear that ends a pattern, and the clamp between the op and it (if any).
struct Int8Output {
  std::string value, scale, zero_point;
  Int8Quant quant;
  int quantize_node = -1;
  int clamp_node = -1;
  float clamp_lo = -std::numeric_limits<float>::infinity();
  float clamp_hi = std::numeric_limits<float>::infinity();
};

// A constant int8 weight read through a DequantizeLinear with zero zero points.
struct Int8Weight {
  std::string value, scale, zero_point;
  std::vector<float> scales;  // one per output channel
};

Attribute int_attr(int64_t v) {
  Attribute a;
  a.type = Attribute::Type::kInt;
  a.i = v;
  return a;
}

// QuantizeLinear's rounding (half to even, saturating), for clamp bounds.
int8_t quantize(float v, const Int8Quant& q) {
  const float r = std::nearbyint(v / q.scale) + static_cast<float>(q.zero_point);
  if (!(r >= -128.f)) return -128;
  if (r > 127.f) return 127;
  return static_cast<int8_t>(r);
}

class QdqFuser {
 public:
  explicit QdqFuser(Graph& g) : g_(g), names_(g), uses_(count_uses(g)) {
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      for (const auto& o : g.nodes[k].outputs)
        if (!o.empty()) producer_[o] = static_cast<int>(k);
      for (const auto& i : g.nodes[k].inputs)
        if (!i.empty()) readers_[i].push_back(static_cast<int>(k));
    }
  }

  int run() {
    if (g_.opset_for("") < 13) return 0;  // per-axis DequantizeLinear and int8 Clip need opset 13
    int fused = 0;
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      if (removed_.count(static_cast<int>(k))) continue;
      if (fuse(static_cast<int>(k))) ++fused;
    }
    if (fused == 0) return 0;
    use_fast_quantize();
    std::vector<Node> kept;
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      if (removed_.count(static_cast<int>(k))) continue;
      kept.push_back(std::move(g_.nodes[k]));
      // The fused op sits where the float op was; its clamp follows it, before any reader.
      auto clamp = clamp_after_.find(static_cast<int>(k));
      if (clamp != clamp_after_.end()) kept.push_back(std::move(clamp->second));
    }
    g_.nodes = std::move(kept);
    remove_dead_dequantize();
    g_.opsets["edgerun"] = 1;
    return fused;
  }

 private:
  const Node* producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : &g_.nodes[it->second];
  }

  int sole_reader(const std::string& v) const {
    if (is_graph_output(g_, v) || uses_.count(v) == 0 || uses_.at(v) != 1) return -1;
    auto it = readers_.find(v);
    return it == readers_.end() || it->second.size() != 1 ? -1 : it->second[0];
  }

  static bool is_onnx(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

  bool int8_input(const std::string& v, Int8Input* in) const {
    const Node* dq = producer(v);
    if (!dq || !is_onnx(*dq, "DequantizeLinear") || dq->inputs.size() < 3) return false;
    if (!per_tensor_int8(g_, dq->inputs[1], dq->inputs[2], &in->quant)) return false;
    in->value = dq->inputs[0];
    in->scale = dq->inputs[1];
    in->zero_point = dq->inputs[2];
    return !in->value.empty();
  }

  // Constant int8 `rank`-D weight with `channels` output channels along `channel_axis`.
  bool int8_weight(const std::string& v, size_t rank, int channel_axis, Int8Weight* w) const {
    const Node* dq = producer(v);
    if (!dq || !is_onnx(*dq, "DequantizeLinear") || dq->inputs.size() < 2) return false;
    const Tensor* t = constant_value(g_, dq->inputs[0]);
    if (!t || t->dtype() != DType::kInt8 || t->rank() != rank) return false;
    const Tensor* s = constant_value(g_, dq->inputs[1]);
    if (!s) return false;
    if (s->numel() != 1) {
      int64_t axis = dq->attr_int("axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(rank);
      if (axis != channel_axis) return false;
    }
    w->value = dq->inputs[0];
    w->scale = dq->inputs[1];
    w->zero_point = dq->inputs.size() > 2 ? dq->inputs[2] : "";
    return symmetric_int8_scales(g_, w->scale, w->zero_point, t->dim(static_cast<size_t>(channel_axis)), &w->scales);
  }

  // Constant int32 bias in x_scale * w_scale units: what QLinearConv and XNNPACK add before requantizing.
  bool int32_bias(const std::string& v, float x_scale, const std::vector<float>& w_scales, std::string* bias) const {
    const Node* dq = producer(v);
    if (!dq || !is_onnx(*dq, "DequantizeLinear") || dq->inputs.size() < 2) return false;
    const Tensor* t = constant_value(g_, dq->inputs[0]);
    const int64_t channels = static_cast<int64_t>(w_scales.size());
    if (!t || t->dtype() != DType::kInt32 || t->numel() != channels || t->rank() != 1) return false;
    const Tensor* s = constant_value(g_, dq->inputs[1]);
    if (!s || s->dtype() != DType::kFloat32 || (s->numel() != 1 && s->numel() != channels)) return false;
    if (dq->inputs.size() > 2 && !dq->inputs[2].empty()) {
      const Tensor* z = constant_value(g_, dq->inputs[2]);
      if (!z || z->dtype() != DType::kInt32) return false;
      for (int64_t i = 0; i < z->numel(); ++i)
        if (z->data<int32_t>()[i] != 0) return false;
    }
    for (int64_t m = 0; m < channels; ++m) {
      const float expected = x_scale * w_scales[m];
      const float got = s->data<float>()[s->numel() == 1 ? 0 : m];
      if (!(std::fabs(got - expected) <= 1e-5f * expected)) return false;
    }
    *bias = dq->inputs[0];
    return true;
  }

  // Bounds of Relu or Clip with constant float bounds.
  bool clamp_bounds(const Node& n, float* lo, float* hi) const {
    if (is_onnx(n, "Relu")) {
      *lo = 0;
      return true;
    }
    if (!is_onnx(n, "Clip")) return false;
    for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor* t = constant_value(g_, n.inputs[i]);
      if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
      (i == 1 ? *lo : *hi) = t->data<float>()[0];
    }
    return *lo <= *hi;
  }

  bool int8_output(const std::string& v, bool allow_clamp, Int8Output* out) const {
    int r = sole_reader(v);
    if (r < 0) return false;
    if (allow_clamp && clamp_bounds(g_.nodes[r], &out->clamp_lo, &out->clamp_hi)) {
      out->clamp_node = r;
      r = sole_reader(g_.nodes[r].outputs[0]);
      if (r < 0) return false;
    }
    const Node& q = g_.nodes[r];
    if (!is_onnx(q, "QuantizeLinear") || q.inputs.size() < 3 || q.outputs.size() != 1) return false;
    if (q.attr_int("saturate", 1) != 1) return false;
    if (!per_tensor_int8(g_, q.inputs[1], q.inputs[2], &out->quant)) return false;
    out->value = q.outputs[0];
    out->scale = q.inputs[1];
    out->zero_point = q.inputs[2];
    out->quantize_node = r;
    return true;
  }

  static bool same_quant(const Int8Quant& a, const Int8Quant& b) {
    return a.scale == b.scale && a.zero_point == b.zero_point;
  }

  // Replaces node k (and the clamp and Q after it) by `fused`, which writes the Q's output.
  void replace(int k, Node fused, const Int8Output& out) {
    removed_.insert(out.quantize_node);
    if (out.clamp_node >= 0) removed_.insert(out.clamp_node);
    const int8_t lo = quantize(out.clamp_lo, out.quant), hi = quantize(out.clamp_hi, out.quant);
    if (out.clamp_node >= 0 && (lo > -128 || hi < 127)) {
      const std::string unclamped = names_.make(out.value + "_unclamped");
      fused.outputs = {unclamped};
      Node clip;
      clip.op_type = "Clip";
      clip.name = g_.nodes[out.clamp_node].name;
      clip.inputs = {unclamped, int8_constant(clip.name + "_min", lo), int8_constant(clip.name + "_max", hi)};
      clip.outputs = {out.value};
      clamp_after_[k] = std::move(clip);
    } else {
      fused.outputs = {out.value};
    }
    g_.nodes[k] = std::move(fused);
  }

  std::string int8_constant(const std::string& base, int8_t v) {
    const std::string name = names_.make(base);
    Tensor t(DType::kInt8, {});
    t.data<int8_t>()[0] = v;
    g_.initializers[name] = t;
    return name;
  }

  std::string int8_zeros(const std::string& base, int64_t n) {
    const std::string name = names_.make(base);
    g_.initializers[name] = Tensor(DType::kInt8, {n});  // zero-filled
    return name;
  }

  static Node make(const std::string& domain, const std::string& op, const Node& from, std::vector<std::string> inputs) {
    Node n;
    n.domain = domain;
    n.op_type = op;
    n.name = from.name;
    n.inputs = std::move(inputs);
    return n;
  }

  bool fuse(int k) {
    const Node& n = g_.nodes[k];
    if (n.outputs.size() != 1 || n.outputs[0].empty()) return false;
    if (is_onnx(n, "Conv")) return fuse_conv(k);
    if (is_onnx(n, "Gemm") || is_onnx(n, "MatMul")) return fuse_fully_connected(k);
    if (is_onnx(n, "QLinearMatMul")) return use_fully_connected(k);
    if (is_onnx(n, "Add")) return fuse_add(k);
    if (is_onnx(n, "GlobalAveragePool")) return fuse_global_average_pool(k);
    if (is_onnx(n, "MaxPool") || is_onnx(n, "Flatten") || is_onnx(n, "Reshape")) return run_on_int8(k);
    return false;
  }

  bool fuse_conv(int k) {
    const Node& n = g_.nodes[k];
    if (n.inputs.size() < 2 || n.inputs.size() > 3) return false;
    Int8Input x;
    Int8Weight w;
    Int8Output y;
    if (!int8_input(n.inputs[0], &x) || !int8_weight(n.inputs[1], 4, 0, &w) || !int8_output(n.outputs[0], true, &y))
      return false;
    std::string bias;
    if (n.inputs.size() == 3 && !n.inputs[2].empty() && !int32_bias(n.inputs[2], x.quant.scale, w.scales, &bias))
      return false;
    if (!qc8_requantization_ok(x.quant.scale, w.scales, y.quant.scale)) return false;
    // QLinearConv requires a weight zero point.
    const std::string w_zp =
        w.zero_point.empty() ? int8_zeros(w.value + "_zero_point", constant_value(g_, w.scale)->numel()) : w.zero_point;
    Node q = make("", "QLinearConv", n,
                  {x.value, x.scale, x.zero_point, w.value, w.scale, w_zp, y.scale, y.zero_point});
    if (!bias.empty()) q.inputs.push_back(bias);
    q.attrs = n.attrs;
    replace(k, std::move(q), y);
    return true;
  }

  bool fuse_fully_connected(int k) {
    const Node& n = g_.nodes[k];
    const bool gemm = n.op_type == "Gemm";
    if (n.inputs.size() < 2 || n.inputs.size() > (gemm ? 3u : 2u)) return false;
    bool weights_kn = true;  // W as [K, N]
    if (gemm) {
      if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f || n.attr_float("beta", 1.f) != 1.f)
        return false;
      weights_kn = n.attr_int("transB", 0) == 0;
    }
    Int8Input a;
    Int8Weight w;
    Int8Output y;
    if (!int8_input(n.inputs[0], &a) || !int8_weight(n.inputs[1], 2, weights_kn ? 1 : 0, &w)) return false;
    if (!int8_output(n.outputs[0], true, &y)) return fuse_fully_connected_to_float(k, a, w, weights_kn);
    std::string bias;
    if (n.inputs.size() == 3 && !n.inputs[2].empty() && !int32_bias(n.inputs[2], a.quant.scale, w.scales, &bias))
      return false;
    if (!qc8_requantization_ok(a.quant.scale, w.scales, y.quant.scale)) return false;
    Node fc = make("edgerun", "QFullyConnected", n,
                   {a.value, a.scale, a.zero_point, w.value, w.scale, w.zero_point, y.scale, y.zero_point});
    if (!bias.empty()) fc.inputs.push_back(bias);
    fc.attrs["transpose_weights"] = int_attr(weights_kn ? 1 : 0);
    replace(k, std::move(fc), y);
    return true;
  }

  // A fully connected layer on int8 data whose float output is not quantized again (the classifier at
  // the end of a quantized CNN): int32 sums scaled to float, with the bias as float values.
  bool fuse_fully_connected_to_float(int k, const Int8Input& a, const Int8Weight& w, bool weights_kn) {
    const Node& n = g_.nodes[k];
    const int64_t channels = static_cast<int64_t>(w.scales.size());
    // The kernel's int32 sums hold up to 65536 products of |a - zero point| <= 255 and |w| <= 128.
    const Tensor* weights = constant_value(g_, w.value);
    if (!weights || weights->dim(weights_kn ? 0 : 1) > 65536) return false;
    std::string bias;
    if (n.inputs.size() == 3 && !n.inputs[2].empty() && !float_bias(n.inputs[2], channels, &bias)) return false;
    Node fc = make("edgerun", "QFullyConnectedToFloat", n, {a.value, a.scale, a.zero_point, w.value, w.scale, w.zero_point});
    if (!bias.empty()) fc.inputs.push_back(bias);
    fc.attrs["transpose_weights"] = int_attr(weights_kn ? 1 : 0);
    fc.outputs = n.outputs;
    g_.nodes[k] = std::move(fc);
    return true;
  }

  // A bias of 1 or `channels` float values: a float32 constant, or DequantizeLinear of constant int8 or
  // int32 data (computed here, as FoldConstantDequantize computes it).
  bool float_bias(const std::string& v, int64_t channels, std::string* bias) {
    const Tensor* t = constant_value(g_, v);
    if (t) {
      if (t->dtype() != DType::kFloat32 || (t->numel() != 1 && t->numel() != channels) || t->rank() > 1) return false;
      *bias = v;
      return true;
    }
    const Node* dq = producer(v);
    if (!dq || dq->inputs.empty()) return false;
    const Tensor* x = constant_value(g_, dq->inputs[0]);
    if (!x || x->rank() != 1 || x->numel() != channels || (x->dtype() != DType::kInt8 && x->dtype() != DType::kInt32))
      return false;
    Tensor c;
    if (!dequantize_constant(g_, *dq, &c)) return false;
    *bias = names_.make(v + "_float");
    g_.initializers[*bias] = std::move(c);
    return true;
  }

  // QLinearMatMul from other tools: int8 A, constant int8 B [K, N] with zero zero points.
  bool use_fully_connected(int k) {
    Node& n = g_.nodes[k];
    if (n.inputs.size() != 8) return false;
    Int8Quant a, y;
    if (!per_tensor_int8(g_, n.inputs[1], n.inputs[2], &a) || !per_tensor_int8(g_, n.inputs[6], n.inputs[7], &y))
      return false;
    const Tensor* b = constant_value(g_, n.inputs[3]);
    if (!b || b->dtype() != DType::kInt8 || b->rank() != 2) return false;
    std::vector<float> scales;
    if (!symmetric_int8_scales(g_, n.inputs[4], n.inputs[5], b->dim(1), &scales)) return false;
    if (!qc8_requantization_ok(a.scale, scales, y.scale)) return false;
    n.domain = "edgerun";
    n.op_type = "QFullyConnected";
    n.attrs.clear();
    n.attrs["transpose_weights"] = int_attr(1);
    return true;
  }

  bool fuse_add(int k) {
    const Node& n = g_.nodes[k];
    if (n.inputs.size() != 2) return false;
    Int8Input a, b;
    Int8Output y;
    if (!int8_input(n.inputs[0], &a) || !int8_input(n.inputs[1], &b) || !int8_output(n.outputs[0], true, &y))
      return false;
    if (!qs8_add_ok(a.quant.scale, b.quant.scale, y.quant.scale)) return false;
    replace(k,
            make("edgerun", "QLinearAdd", n,
                 {a.value, a.scale, a.zero_point, b.value, b.scale, b.zero_point, y.scale, y.zero_point}),
            y);
    return true;
  }

  bool fuse_global_average_pool(int k) {
    const Node& n = g_.nodes[k];
    Int8Input x;
    Int8Output y;
    if (n.inputs.size() != 1 || !int8_input(n.inputs[0], &x) || !int8_output(n.outputs[0], false, &y)) return false;
    if (!qs8_global_average_pool_ok(x.quant.scale, y.quant.scale)) return false;
    Node gap = make("edgerun", "QLinearGlobalAveragePool", n, {x.value, x.scale, x.zero_point, y.scale, y.zero_point});
    gap.attrs["channels_last"] = int_attr(0);
    replace(k, std::move(gap), y);
    return true;
  }

  // Ops that only select or move values: on int8 data with one scale and zero point they compute
  // exactly what DQ -> op -> Q computes.
  bool run_on_int8(int k) {
    const Node& n = g_.nodes[k];
    if (n.inputs.empty() || n.inputs.size() > 2) return false;
    Int8Input x;
    Int8Output y;
    if (!int8_input(n.inputs[0], &x) || !int8_output(n.outputs[0], false, &y)) return false;
    if (!same_quant(x.quant, y.quant)) return false;
    Node op = g_.nodes[k];
    op.inputs[0] = x.value;
    replace(k, std::move(op), y);
    return true;
  }

  // Per-tensor QuantizeLinear to int8 where values enter the int8 region: edgerun.QuantizeInt8.
  void use_fast_quantize() {
    if (g_.opset_for("") > 20) return;  // from opset 21 x may be float16 with a float32 scale
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      Node& n = g_.nodes[k];
      if (removed_.count(static_cast<int>(k)) || !is_onnx(n, "QuantizeLinear") || n.inputs.size() != 3) continue;
      Int8Quant q;
      if (n.attr_int("saturate", 1) != 1 || !per_tensor_int8(g_, n.inputs[1], n.inputs[2], &q)) continue;
      n.domain = "edgerun";
      n.op_type = "QuantizeInt8";
      n.attrs.clear();
    }
  }

  void remove_dead_dequantize() {
    const auto uses = count_uses(g_);
    std::vector<Node> kept;
    for (Node& n : g_.nodes) {
      const bool dead = is_onnx(n, "DequantizeLinear") && n.outputs.size() == 1 && !uses.count(n.outputs[0]);
      if (!dead) kept.push_back(std::move(n));
    }
    g_.nodes = std::move(kept);
  }

  Graph& g_;
  UniqueNames names_;
  std::map<std::string, int> uses_;
  std::map<std::string, int> producer_;
  std::map<std::string, std::vector<int>> readers_;
  std::set<int> removed_;
  std::map<int, Node> clamp_after_;  // int8 Clip written after fused node k
};

}  // namespace

int fuse_qdq(Graph& g) { return QdqFuser(g).run(); }

}  // namespace edgerun
