// Reshape -> Transpose(perm 0,2,1,3,4) -> Reshape, with constant shapes, is how exporters write a
// channel shuffle (ShuffleNet): view [N, C, H, W] as [N, g, C/g, H, W], swap the two channel axes, view
// as [N, C, H, W] again. It becomes one edgerun.ChannelShuffle, which the NHWC pass can keep in NHWC
// (there the shuffle is a permutation of each pixel's channels) instead of converting to NCHW and back.
#include <vector>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace edgerun {
namespace {

// The constant target shape of an ONNX Reshape (allowzero 0) with `rank` elements, or false.
bool reshape_target(const Graph& g, const Node& n, size_t rank, std::vector<int64_t>* shape) {
  if (!n.domain.empty() || n.op_type != "Reshape" || n.inputs.size() != 2 || n.outputs.size() != 1) return false;
  if (n.attr_int("allowzero", 0) != 0) return false;
  const Tensor* s = constant_value(g, n.inputs[1]);
  if (!s || s->dtype() != DType::kInt64 || s->rank() != 1 || s->numel() != static_cast<int64_t>(rank)) return false;
  shape->assign(s->data<int64_t>(), s->data<int64_t>() + rank);
  return true;
}

// The only node reading `value`, or -1.
int only_reader(const Graph& g, const std::map<std::string, int>& uses, const std::string& value) {
  const auto it = uses.find(value);
  if (it == uses.end() || it->second != 1 || is_graph_output(g, value)) return -1;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (const auto& i : g.nodes[k].inputs)
      if (i == value) return static_cast<int>(k);
  return -1;
}

}  // namespace

int fuse_channel_shuffle(Graph& g) {
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    std::vector<int64_t> view, shape;
    if (!reshape_target(g, g.nodes[k], 5, &view)) continue;
    const auto uses = count_uses(g);
    const int t = only_reader(g, uses, g.nodes[k].outputs[0]);
    if (t < 0) continue;
    const Node& transpose = g.nodes[static_cast<size_t>(t)];
    if (!transpose.domain.empty() || transpose.op_type != "Transpose" ||
        transpose.attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3, 4} || transpose.inputs[0] != g.nodes[k].outputs[0])
      continue;
    const int r = only_reader(g, uses, transpose.outputs[0]);
    if (r < 0 || !reshape_target(g, g.nodes[static_cast<size_t>(r)], 4, &shape) ||
        g.nodes[static_cast<size_t>(r)].inputs[0] != transpose.outputs[0])
      continue;
    Node shuffle;
    shuffle.name = g.nodes[k].name;
    shuffle.domain = "edgerun";
    shuffle.op_type = "ChannelShuffle";
    shuffle.inputs = {g.nodes[k].inputs[0]};
    shuffle.outputs = g.nodes[static_cast<size_t>(r)].outputs;
    for (const auto& [key, v] : {std::pair<const char*, std::vector<int64_t>>{"view", view}, {"shape", shape}}) {
      Attribute a;
      a.type = Attribute::Type::kInts;
      a.ints = v;
      shuffle.attrs[key] = a;
    }
    // The first Reshape's place: its input exists there, and every reader of the last output comes later.
    g.nodes[k] = std::move(shuffle);
    const size_t hi = static_cast<size_t>(std::max(t, r)), lo = static_cast<size_t>(std::min(t, r));
    g.nodes.erase(g.nodes.begin() + static_cast<long>(hi));
    g.nodes.erase(g.nodes.begin() + static_cast<long>(lo));
    g.opsets["edgerun"] = 1;
    ++fused;
  }
  return fused;
}

}  // namespace edgerun
