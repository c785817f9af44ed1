#include <cmath>
#include <string>
#include <vector>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

// A constant float32 vector of `n` values, or null.
const float* constant_floats(const Graph& g, const Node& n, size_t i, int64_t count) {
  if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
  const Tensor* t = constant_value(g, n.inputs[i]);
  return t && t->dtype() == DType::kFloat32 && t->numel() == count ? t->data<float>() : nullptr;
}

}  // namespace

int fuse_conv_batchnorm(Graph& g) {
  int fused = 0;
  UniqueNames names(g);
  // Counted once and kept current: recounting per BatchNormalization made the pass quadratic.
  auto uses = count_uses(g);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& bn = g.nodes[k];
    if (!bn.domain.empty() || bn.op_type != "BatchNormalization" || bn.inputs.size() != 5) continue;
    if (bn.attr_int("training_mode", 0) != 0 || bn.outputs.empty()) continue;
    if (bn.outputs.size() > 1 && uses.count(bn.outputs[1])) continue;  // running mean/var read: training
    if (g.opset_for("") < 7) continue;  // spatial/is_test attributes of old opsets
    const int p = producer_of(g, bn.inputs[0]);
    if (p < 0) continue;
    Node& conv = g.nodes[p];
    if (!conv.domain.empty() || conv.op_type != "Conv" || conv.outputs.size() != 1) continue;
    if (uses.at(bn.inputs[0]) != 1) continue;  // the unnormalized output is read elsewhere
    const Tensor* w = conv.inputs.size() > 1 ? constant_value(g, conv.inputs[1]) : nullptr;
    if (!w || w->dtype() != DType::kFloat32 || w->rank() < 3) continue;
    const int64_t m = w->dim(0);
    const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
    const float* bias = has_bias ? constant_floats(g, conv, 2, m) : nullptr;
    if (has_bias && !bias) continue;
    const float* scale = constant_floats(g, bn, 1, m);
    const float* shift = constant_floats(g, bn, 2, m);
    const float* mean = constant_floats(g, bn, 3, m);
    const float* var = constant_floats(g, bn, 4, m);
    if (!scale || !shift || !mean || !var) continue;
    const double eps = bn.attr_float("epsilon", 1e-5f);

    // Weights this convolution alone reads, held by no other tensor, are scaled where they are:
    // a fresh copy would touch as many new pages as the model has weights.
    const std::string& w_in = conv.inputs[1];
    auto w_it = g.initializers.find(w_in);
    const bool in_place = w_it != g.initializers.end() && uses.at(w_in) == 1 && w_it->second.sole_owner();
    Tensor new_w = in_place ? std::move(w_it->second) : Tensor::uninitialized(DType::kFloat32, w->shape());
    if (in_place) {
      g.initializers.erase(w_it);
      w = &new_w;
    }
    Tensor new_b(DType::kFloat32, {m});
    const int64_t per_channel = w->numel() / std::max<int64_t>(m, 1);
    for (int64_t c = 0; c < m; ++c) {
      const double s = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
      const float* src = w->data<float>() + c * per_channel;
      float* dst = new_w.data<float>() + c * per_channel;
      for (int64_t j = 0; j < per_channel; ++j) dst[j] = static_cast<float>(src[j] * s);
      new_b.data<float>()[c] = static_cast<float>(((bias ? bias[c] : 0.0) - mean[c]) * s + shift[c]);
    }
    const std::string w_name = names.make(w_in + "_bn"), b_name = names.make(conv.outputs[0] + "_bias_bn");
    g.initializers[w_name] = std::move(new_w);
    g.initializers[b_name] = std::move(new_b);
    // Constants only this pair read go now, not at the end of the passes: a model of 100 MB of
    // weights would otherwise hold both the original and the folded weights at once.
    std::vector<std::string> replaced(bn.inputs.begin() + 1, bn.inputs.end());
    replaced.insert(replaced.end(), conv.inputs.begin() + 1, conv.inputs.end());
    for (const auto& name : replaced) {
      auto it = uses.find(name);
      if (name.empty() || it == uses.end()) continue;
      if (--it->second == 0) {
        uses.erase(it);
        g.initializers.erase(name);
      }
    }
    uses.erase(bn.inputs[0]);
    uses[w_name] = 1;
    uses[b_name] = 1;
    conv.inputs.resize(3);
    conv.inputs[1] = w_name;
    conv.inputs[2] = b_name;
    conv.outputs[0] = bn.outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
    --k;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
