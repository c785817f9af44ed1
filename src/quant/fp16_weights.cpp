// fp16 weight storage: float32 initializers are stored as float16 and cast back on load, which
// halves the file while computation stays float32 (exact up to the fp16 rounding of the weights).
#include <cmath>

#include "edgerun/compress.h"
#include "onnx/onnx_writer.h"
#include "passes/graph_edit.h"

namespace edgerun {
namespace {

// Small constants (clip bounds, epsilons, shape arithmetic) keep full precision; they cost nothing.
constexpr int64_t kMinElements = 16;
constexpr float kHalfMax = 65504.0f;

bool fits_half(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!(std::fabs(t.data<float>()[i]) <= kHalfMax)) return false;
  return true;
}

}  // namespace

int convert_weights_to_fp16(const Model& model, const std::string& out_path) {
  Graph g = model.graph();
  UniqueNames names(g);
  std::vector<Node> casts;
  int converted = 0;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    const Tensor& t = it->second;
    if (t.dtype() != DType::kFloat32 || t.numel() < kMinElements || !fits_half(t) || is_graph_output(g, it->first)) {
      ++it;
      continue;
    }
    Tensor h(DType::kFloat16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) h.data<uint16_t>()[i] = float_to_half(t.data<float>()[i]);
    const std::string name = it->first, stored = names.make(name + "_fp16");
    Node cast;
    cast.op_type = "Cast";
    cast.name = name + "_to_float32";
    cast.inputs = {stored};
    cast.outputs = {name};
    Attribute to;
    to.type = Attribute::Type::kInt;
    to.i = static_cast<int64_t>(DType::kFloat32);
    cast.attrs["to"] = to;
    casts.push_back(std::move(cast));
    it = g.initializers.erase(it);
    g.initializers[stored] = std::move(h);
    ++converted;
  }
  g.nodes.insert(g.nodes.begin(), casts.begin(), casts.end());
  save_model(g, out_path);
  return converted;
}

std::vector<LayerPrecision> layer_precisions(const Model& model) {
  const Graph& g = model.graph();
  static const std::map<std::string, size_t> kWeightInput = {
      {"Conv", 1}, {"ConvTranspose", 1}, {"Gemm", 1}, {"MatMul", 1}, {"QLinearConv", 3},
      {"QLinearMatMul", 3}, {"ConvInteger", 1}, {"MatMulInteger", 1}, {"LSTM", 1}, {"GRU", 1}, {"RNN", 1}};
  std::vector<LayerPrecision> out;
  for (const auto& n : g.nodes) {
    auto wi = kWeightInput.find(n.op_type);
    if (!n.domain.empty() || wi == kWeightInput.end() || wi->second >= n.inputs.size()) continue;
    // Follow the weight back through the node that decodes it (DequantizeLinear or Cast).
    std::string name = n.inputs[wi->second];
    std::string via;
    const Tensor* t = constant_value(g, name);
    if (!t) {
      const int p = producer_of(g, name);
      if (p < 0) continue;
      const Node& dec = g.nodes[p];
      if (!dec.domain.empty() || (dec.op_type != "DequantizeLinear" && dec.op_type != "Cast") || dec.inputs.empty()) continue;
      t = constant_value(g, dec.inputs[0]);
      via = dec.op_type == "DequantizeLinear" ? " (QDQ)" : "";
    }
    if (!t) continue;
    LayerPrecision l;
    l.node = n.name;
    l.op_type = n.op_type;
    switch (t->dtype()) {
      case DType::kFloat32: l.precision = "fp32"; break;
      case DType::kFloat16: l.precision = "fp16"; break;
      case DType::kBFloat16: l.precision = "bf16"; break;
      case DType::kInt8: l.precision = "int8"; break;
      case DType::kUInt8: l.precision = "uint8"; break;
      default: l.precision = dtype_name(t->dtype());
    }
    l.precision += via;
    l.weight_bytes = t->nbytes();
    out.push_back(l);
  }
  return out;
}

}  // namespace edgerun
