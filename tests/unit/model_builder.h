// Builds small ONNX models in memory for tests.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace edgerun::test {

inline void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& values) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

inline void set_int(onnx::NodeProto* n, const std::string& name, int64_t value) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

// Sets an environment variable for a scope ("" unsets it), an A/B switch the kernels read.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (*value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// n values drawn uniformly from [-scale, scale], the same for the same seed.
inline std::vector<float> uniform(size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline onnx::ValueInfoProto value_info(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else dim->set_dim_param("N");
  }
  return v;
}

struct ModelSpec {
  onnx::ModelProto proto;
  ModelSpec(int opset = 17) {
    proto.set_ir_version(8);
    proto.set_producer_name("edgerun-tests");
    auto* op = proto.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    proto.mutable_graph()->set_name("g");
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out,
                        const std::string& name = "") {
    auto* n = proto.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(proto.graph().node_size()) : name);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return n;
  }
  void input(const std::string& name, const std::vector<int64_t>& dims, int elem_type = onnx::TensorProto::FLOAT) {
    *proto.mutable_graph()->add_input() = value_info(name, elem_type, dims);
  }
  void output(const std::string& name, const std::vector<int64_t>& dims, int elem_type = onnx::TensorProto::FLOAT) {
    *proto.mutable_graph()->add_output() = value_info(name, elem_type, dims);
  }
  onnx::TensorProto* initializer(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    auto* t = proto.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return t;
  }
  std::string bytes() const { return proto.SerializeAsString(); }
};

}  // namespace edgerun::test
