#include <limits>

#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "passes/quant_params.h"

namespace edgerun {
namespace {

constexpr const char* kDomain = "edgerun";

Node make_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
               std::vector<std::string> outputs) {
  Node n;
  n.op_type = op;
  n.domain = kDomain;
  n.name = name;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

void set_float(Node& n, const std::string& key, float v) {
  Attribute a;
  a.type = Attribute::Type::kFloat;
  a.f = v;
  n.attrs[key] = a;
}

// 2-D float32 Conv with constant weights (and bias): what edgerun.ConvNhwc runs.
bool is_nhwc_conv(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.op_type != "Conv" || n.inputs.size() < 2 || n.outputs.size() != 1) return false;
  const Tensor* w = constant_value(g, n.inputs[1]);
  if (!w || w->dtype() != DType::kFloat32 || w->rank() != 4) return false;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor* b = constant_value(g, n.inputs[2]);
    if (!b || b->dtype() != DType::kFloat32) return false;
  }
  return true;
}

// ONNX QLinearConv that edgerun.QConvNhwc runs: 2-D, int8 activations with per-tensor constant
// quantization, constant int8 weights with zero zero points, constant int32 bias, and requantization
// scales XNNPACK's qc8 convolution accepts.
bool is_nhwc_qconv(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.op_type != "QLinearConv" || n.inputs.size() < 8 || n.inputs.size() > 9 ||
      n.outputs.size() != 1)
    return false;
  Int8Quant x, y;
  if (!per_tensor_int8(g, n.inputs[1], n.inputs[2], &x) || !per_tensor_int8(g, n.inputs[6], n.inputs[7], &y)) return false;
  const Tensor* w = constant_value(g, n.inputs[3]);
  if (!w || w->dtype() != DType::kInt8 || w->rank() != 4) return false;
  std::vector<float> w_scales;
  if (!symmetric_int8_scales(g, n.inputs[4], n.inputs[5], w->dim(0), &w_scales)) return false;
  if (n.inputs.size() == 9 && !n.inputs[8].empty()) {
    const Tensor* b = constant_value(g, n.inputs[8]);
    if (!b || b->dtype() != DType::kInt32 || b->numel() != w->dim(0)) return false;
  }
  return qc8_requantization_ok(x.scale, w_scales, y.scale);
}

// Clip on int8 data with constant int8 bounds (what FuseQdq writes for a fused activation).
bool is_int8_clip(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.op_type != "Clip" || n.outputs.size() != 1) return false;
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    if (n.inputs[i].empty()) continue;
    const Tensor* t = constant_value(g, n.inputs[i]);
    if (!t || t->dtype() != DType::kInt8 || t->numel() != 1) return false;
  }
  return true;
}

// Per-tensor QuantizeLinear to int8 or DequantizeLinear: elementwise, so layout-free.
bool is_per_tensor_qdq(const Graph& g, const Node& n) {
  if (!n.domain.empty() || (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear")) return false;
  if (n.inputs.size() != 3 || n.outputs.size() != 1) return false;
  const Tensor* s = constant_value(g, n.inputs[1]);
  const Tensor* z = constant_value(g, n.inputs[2]);
  return s && z && s->numel() == 1 && z->numel() == 1 && s->rank() <= 1 && z->dtype() == DType::kInt8;
}

// Bounds of Relu or of Clip with constant bounds (attributes before opset 11, inputs after).
bool clamp_bounds(const Graph& g, const Node& n, float* lo, float* hi) {
  *lo = -std::numeric_limits<float>::infinity();
  *hi = std::numeric_limits<float>::infinity();
  if (!n.domain.empty()) return false;
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
  return *lo < *hi;
}

// 2-D window attributes that the XNNPACK pools handle exactly.
bool is_nhwc_pool(const Node& n) {
  if (!n.domain.empty() || n.outputs.size() != 1 || n.inputs.size() != 1) return false;
  const auto kernel = n.attr_ints("kernel_shape");
  if (kernel.size() != 2 || kernel[0] * kernel[1] < 2) return false;
  if (n.op_type == "MaxPool") return true;  // without the Indices output, storage_order does not matter
  if (n.op_type != "AveragePool") return false;
  if (n.attr_int("count_include_pad", 0) == 0) return true;
  // Counting the padding matters only when there is padding.
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
  if (n.attr_int("ceil_mode", 0) != 0) return false;
  for (int64_t p : n.attr_ints("pads"))
    if (p != 0) return false;
  return true;
}

class NhwcRewriter {
 public:
  explicit NhwcRewriter(Graph& g) : g_(g), names_(g) {}

  int run() {
    std::vector<Node> nodes = std::move(g_.nodes);
    g_.nodes.clear();
    for (Node& n : nodes) {
      // Constant-bound and weight lookups see the nodes already moved to the output list.
      if (!rewrite(n)) {
        for (const auto& i : n.inputs) materialize_nchw(i);
        for (const auto& i : n.implicit_inputs) materialize_nchw(i);
        g_.nodes.push_back(std::move(n));
      }
    }
    for (const auto& o : g_.outputs) materialize_nchw(o.name);
    if (rewrites_ > 0) g_.opsets[kDomain] = 1;
    return rewrites_;
  }

 private:
  bool has_nhwc(const std::string& v) const { return !v.empty() && nhwc_.count(v); }

  // The NHWC name of a value, converting it where it is first needed in NHWC.
  std::string nhwc_input(const std::string& v) {
    auto it = nhwc_.find(v);
    if (it != nhwc_.end()) return it->second;
    const std::string out = names_.make(v + "_nhwc");
    g_.nodes.push_back(make_node("NchwToNhwc", out, {v}, {out}));
    nhwc_[v] = out;
    return out;
  }

  // Makes the NCHW value exist before a reader that needs it.
  void materialize_nchw(const std::string& v) {
    if (v.empty() || !pending_nchw_.count(v)) return;
    pending_nchw_.erase(v);
    g_.nodes.push_back(make_node("NhwcToNchw", v + "_to_nchw", {nhwc_.at(v)}, {v}));
  }

  // Emits `n` as an NHWC op: its outputs get NHWC names; the NCHW names appear only if read.
  void emit_nhwc(Node n, const std::string& op, bool int8_output = false) {
    n.domain = kDomain;
    n.op_type = op;
    for (auto& o : n.outputs) {
      if (o.empty()) continue;
      if (int8_output) int8_.insert(o);
      const std::string nhwc = names_.make(o + "_nhwc");
      nhwc_[o] = nhwc;
      pending_nchw_.insert(o);
      o = nhwc;
    }
    g_.nodes.push_back(std::move(n));
    ++rewrites_;
  }

  bool rewrite(Node& n) {
    if (is_nhwc_conv(g_, n)) {
      n.inputs[0] = nhwc_input(n.inputs[0]);
      emit_nhwc(std::move(n), "ConvNhwc");
      return true;
    }
    if (is_nhwc_qconv(g_, n)) {
      n.inputs[0] = nhwc_input(n.inputs[0]);
      emit_nhwc(std::move(n), "QConvNhwc", true);
      return true;
    }
    if (n.inputs.empty() || !has_nhwc(n.inputs[0])) return false;
    if (is_int8(n.inputs[0])) return rewrite_int8(n);
    if (n.domain == kDomain && n.op_type == "QuantizeInt8") {
      keep_on_nhwc(std::move(n), true, {0});
      return true;
    }
    if (rewrite_data_movement(n, false)) return true;
    if (!n.domain.empty()) return false;
    // The input is already NHWC and float32 (4-D): take the NHWC form of the op when it has one.
    if (is_per_tensor_qdq(g_, n) && n.op_type == "QuantizeLinear") {
      keep_on_nhwc(std::move(n), true, {0});
      return true;
    }
    float lo, hi;
    if (n.outputs.size() == 1 && clamp_bounds(g_, n, &lo, &hi)) {
      Node c = make_node("Clamp", n.name, {nhwc_.at(n.inputs[0])}, n.outputs);
      set_float(c, "activation_min", lo);
      set_float(c, "activation_max", hi);
      emit_nhwc(std::move(c), "Clamp");
      return true;
    }
    if ((n.op_type == "HardSwish" || n.op_type == "Sigmoid") && n.outputs.size() == 1) {
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      const std::string op = n.op_type;
      emit_nhwc(std::move(n), op);
      return true;
    }
    if ((n.op_type == "Add" || n.op_type == "Mul") && n.inputs.size() == 2 && has_nhwc(n.inputs[1])) {
      // Both operands are permuted alike, so broadcasting between them is unchanged.
      n.inputs = {nhwc_.at(n.inputs[0]), nhwc_.at(n.inputs[1])};
      const std::string op = n.op_type;
      emit_nhwc(std::move(n), op);
      return true;
    }
    if ((n.op_type == "MaxPool" || n.op_type == "AveragePool") && is_nhwc_pool(n)) {
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      const std::string op = n.op_type + "Nhwc";
      emit_nhwc(std::move(n), op);
      return true;
    }
    if (n.op_type == "GlobalAveragePool" && n.outputs.size() == 1) {
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      emit_nhwc(std::move(n), "GlobalAveragePoolNhwc");
      return true;
    }
    if (n.op_type == "Concat" && n.outputs.size() == 1) {
      for (const auto& i : n.inputs)
        if (!has_nhwc(i)) return false;
      int64_t axis = n.attr_int("axis", 1);
      if (axis < -4 || axis > 3) return false;
      if (axis < 0) axis += 4;
      static constexpr int64_t kNhwcAxis[4] = {0, 3, 1, 2};
      n.attrs["axis"].i = kNhwcAxis[axis];
      n.attrs["axis"].type = Attribute::Type::kInt;
      keep_on_nhwc(std::move(n));
      return true;
    }
    // Elementwise ops without an XNNPACK form run their ONNX kernel on the NHWC data as it is.
    static const std::set<std::string> kUnary = {"HardSigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Neg",
                                                 "Abs",         "Exp",  "Sqrt",      "Erf", "Softplus"};
    static const std::set<std::string> kBinary = {"Sub", "Div"};
    if (n.outputs.size() == 1 && ((kUnary.count(n.op_type) && n.inputs.size() == 1) ||
                                  (kBinary.count(n.op_type) && n.inputs.size() == 2 && has_nhwc(n.inputs[1])))) {
      keep_on_nhwc(std::move(n));
      return true;
    }
    return false;
  }

  // Ops on an NHWC int8 value (from an int8 kernel or a QuantizeLinear).
  bool rewrite_int8(Node& n) {
    if (rewrite_data_movement(n, true)) return true;
    if (n.domain == kDomain && n.op_type == "QLinearAdd" && n.inputs.size() == 8 && has_nhwc(n.inputs[3])) {
      // Both operands are permuted alike, so broadcasting between them is unchanged.
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      n.inputs[3] = nhwc_.at(n.inputs[3]);
      emit_nhwc(std::move(n), "QLinearAdd", true);
      return true;
    }
    if (n.domain == kDomain && n.op_type == "QLinearGlobalAveragePool" && n.outputs.size() == 1) {
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      n.attrs["channels_last"].type = Attribute::Type::kInt;
      n.attrs["channels_last"].i = 1;
      emit_nhwc(std::move(n), "QLinearGlobalAveragePool", true);
      return true;
    }
    if (!n.domain.empty()) return false;
    if (n.op_type == "MaxPool" && is_nhwc_pool(n)) {
      n.inputs[0] = nhwc_.at(n.inputs[0]);
      emit_nhwc(std::move(n), "MaxPoolNhwc", true);
      return true;
    }
    if (is_int8_clip(g_, n)) {
      keep_on_nhwc(std::move(n), true, {0});
      return true;
    }
    if (is_per_tensor_qdq(g_, n) && n.op_type == "DequantizeLinear") {
      keep_on_nhwc(std::move(n), false, {0});
      return true;
    }
    return false;
  }

  // Ops that move data of any type, on an NHWC input: edgerun.ChannelShuffle, Slice with constant axes
  // (the axes are renumbered), and Shape (the NCHW dims are gathered from the NHWC ones, so that shape
  // arithmetic does not make the NCHW value exist).
  bool rewrite_data_movement(Node& n, bool int8) {
    if (n.domain == kDomain && n.op_type == "ChannelShuffle" && n.outputs.size() == 1 &&
        n.attr_ints("shape").size() == 4) {
      n.attrs["channels_last"].type = Attribute::Type::kInt;
      n.attrs["channels_last"].i = 1;
      keep_on_nhwc(std::move(n), int8, {0});
      return true;
    }
    if (!n.domain.empty()) return false;
    if (n.op_type == "Slice" && n.outputs.size() == 1 && n.inputs.size() >= 4 && g_.opset_for("") >= 10) {
      const Tensor* axes = constant_value(g_, n.inputs[3]);
      if (!axes || axes->rank() != 1 || (axes->dtype() != DType::kInt64 && axes->dtype() != DType::kInt32)) return false;
      static constexpr int64_t kNhwcAxis[4] = {0, 3, 1, 2};
      Tensor remapped(DType::kInt64, {axes->numel()});
      for (int64_t i = 0; i < axes->numel(); ++i) {
        int64_t a = axes->dtype() == DType::kInt64 ? axes->data<int64_t>()[i] : axes->data<int32_t>()[i];
        if (a < -4 || a > 3) return false;
        if (a < 0) a += 4;
        remapped.data<int64_t>()[i] = kNhwcAxis[a];
      }
      const std::string name = names_.make(n.inputs[3] + "_nhwc");
      g_.initializers[name] = std::move(remapped);
      n.inputs[3] = name;
      keep_on_nhwc(std::move(n), int8, {0});
      return true;
    }
    if (n.op_type == "Shape" && n.outputs.size() == 1 && !n.has_attr("start") && !n.has_attr("end")) {
      const std::string dims = names_.make(n.outputs[0] + "_nhwc_dims");
      const std::string order = names_.make(n.outputs[0] + "_nchw_order");
      Tensor perm(DType::kInt64, {4});
      const int64_t nchw_from_nhwc[4] = {0, 3, 1, 2};
      std::copy(nchw_from_nhwc, nchw_from_nhwc + 4, perm.data<int64_t>());
      g_.initializers[order] = std::move(perm);
      Node shape = n;
      shape.inputs = {nhwc_.at(n.inputs[0])};
      shape.outputs = {dims};
      Node gather;
      gather.name = n.name + "_nchw_order";
      gather.op_type = "Gather";
      gather.inputs = {dims, order};
      gather.outputs = n.outputs;
      g_.nodes.push_back(std::move(shape));
      g_.nodes.push_back(std::move(gather));
      ++rewrites_;
      return true;
    }
    return false;
  }

  bool is_int8(const std::string& v) const { return int8_.count(v) != 0; }

  // Keeps an ONNX op whose result does not depend on the layout, reading and writing NHWC values.
  // `nhwc_inputs` lists the inputs that are NHWC values (all by default; constants stay as they are).
  void keep_on_nhwc(Node n, bool int8_output = false, std::vector<size_t> nhwc_inputs = {}) {
    if (nhwc_inputs.empty())
      for (auto& i : n.inputs) i = nhwc_.at(i);
    else
      for (size_t k : nhwc_inputs) n.inputs[k] = nhwc_.at(n.inputs[k]);
    for (auto& o : n.outputs) {
      if (int8_output) int8_.insert(o);
      const std::string nhwc = names_.make(o + "_nhwc");
      nhwc_[o] = nhwc;
      pending_nchw_.insert(o);
      o = nhwc;
    }
    g_.nodes.push_back(std::move(n));
    ++rewrites_;
  }

  Graph& g_;
  UniqueNames names_;
  std::map<std::string, std::string> nhwc_;  // NCHW name -> NHWC name of the same value
  std::set<std::string> pending_nchw_;       // produced in NHWC only, NCHW form not yet emitted
  std::set<std::string> int8_;               // NCHW names of NHWC values that hold int8 data
  int rewrites_ = 0;
};

}  // namespace

int convert_to_nhwc(Graph& g) { return NhwcRewriter(g).run(); }

int cancel_layout_conversions(Graph& g) {
  int cancelled = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& second = g.nodes[k];
    if (second.domain != kDomain || (second.op_type != "NchwToNhwc" && second.op_type != "NhwcToNchw")) continue;
    const int p = producer_of(g, second.inputs[0]);
    if (p < 0) continue;
    const Node& first = g.nodes[p];
    const bool inverse = first.domain == kDomain && ((first.op_type == "NhwcToNchw" && second.op_type == "NchwToNhwc") ||
                                                     (first.op_type == "NchwToNhwc" && second.op_type == "NhwcToNchw"));
    if (!inverse) continue;
    const std::string original = first.inputs[0], out = second.outputs[0];
    if (is_graph_output(g, out) || read_by_subgraph(g, out)) continue;
    rename_input(g, out, original);
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++cancelled;
  }
  return cancelled;
}

}  // namespace edgerun
