#include "ir/graph.h"

namespace edgerun {

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.i;
}
float Node::attr_float(const std::string& key, float fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.f;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : it->second.s;
}
std::vector<int64_t> Node::attr_ints(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? std::vector<int64_t>{} : it->second.ints;
}
std::vector<float> Node::attr_floats(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? std::vector<float>{} : it->second.floats;
}
std::vector<std::string> Node::attr_strings(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? std::vector<std::string>{} : it->second.strings;
}
const Tensor* Node::attr_tensor(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() || it->second.type != Attribute::Type::kTensor ? nullptr : &it->second.t;
}
const Graph* Node::attr_graph(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() || !it->second.g ? nullptr : it->second.g.get();
}
std::string Node::describe() const {
  return op_type + " node '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) + "'";
}

int64_t Graph::opset_for(const std::string& domain) const {
  const Graph* g = this;
  while (g->parent && g->opsets.empty()) g = g->parent;
  const std::string key = domain == "ai.onnx" ? "" : domain;
  auto it = g->opsets.find(key);
  return it == g->opsets.end() ? 0 : it->second;
}

}  // namespace edgerun
