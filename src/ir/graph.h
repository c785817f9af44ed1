// The in-memory graph every loader produces and every pass and executor consumes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/session.h"
#include "edgerun/tensor.h"

namespace edgerun {

class Graph;

struct Attribute {
  enum class Type { kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors, kGraphs };
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" is ai.onnx
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::map<std::string, Attribute> attrs;
  // Values from enclosing scopes that subgraph attributes read (If/Loop/Scan bodies).
  std::vector<std::string> implicit_inputs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key) const;  // empty if absent
  std::vector<float> attr_floats(const std::string& key) const;
  std::vector<std::string> attr_strings(const std::string& key) const;
  const Tensor* attr_tensor(const std::string& key) const;  // null if absent
  const Graph* attr_graph(const std::string& key) const;    // null if absent
  // "Conv 'conv1'" for messages.
  std::string describe() const;
};

class Graph {
 public:
  std::string name;
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;
  std::vector<ValueDesc> inputs;   // graph inputs that are not initializers, in declared order
  std::vector<ValueDesc> outputs;
  std::map<std::string, ValueDesc> value_info;
  // Opset imports, domain -> version ("" and "ai.onnx" both map to ""). Shared by subgraphs.
  std::map<std::string, int64_t> opsets;
  Graph* parent = nullptr;  // enclosing graph for subgraphs

  int64_t opset_for(const std::string& domain) const;
};

}  // namespace edgerun
