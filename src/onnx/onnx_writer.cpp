#include "onnx/onnx_writer.h"

#include <onnx/onnx_pb.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "edgerun/error.h"

namespace edgerun {
namespace {

void write_tensor(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(static_cast<int>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(t.data<std::string>()[i]);
  } else {
    // Tensors are little-endian in memory on every target edgerun supports, as raw_data requires.
    p->set_raw_data(t.raw(), t.nbytes());
  }
}

void write_value(const ValueDesc& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (v.dtype == DType::kUndefined) return;
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int>(v.dtype));
  if (!v.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : v.dims) {
    auto* dim = shape->add_dim();
    if (d.value >= 0) dim->set_dim_value(d.value);
    else if (!d.symbol.empty()) dim->set_dim_param(d.symbol);
  }
}

void write_graph(const Graph& g, onnx::GraphProto* p);

void write_attribute(const std::string& name, const Attribute& a, onnx::AttributeProto* p) {
  using A = onnx::AttributeProto;
  p->set_name(name);
  switch (a.type) {
    case Attribute::Type::kFloat: p->set_type(A::FLOAT); p->set_f(a.f); break;
    case Attribute::Type::kInt: p->set_type(A::INT); p->set_i(a.i); break;
    case Attribute::Type::kString: p->set_type(A::STRING); p->set_s(a.s); break;
    case Attribute::Type::kTensor: p->set_type(A::TENSOR); write_tensor(a.t, "", p->mutable_t()); break;
    case Attribute::Type::kGraph: p->set_type(A::GRAPH); write_graph(*a.g, p->mutable_g()); break;
    case Attribute::Type::kFloats:
      p->set_type(A::FLOATS);
      for (float f : a.floats) p->add_floats(f);
      break;
    case Attribute::Type::kInts:
      p->set_type(A::INTS);
      for (int64_t i : a.ints) p->add_ints(i);
      break;
    case Attribute::Type::kStrings:
      p->set_type(A::STRINGS);
      for (const auto& s : a.strings) p->add_strings(s);
      break;
    case Attribute::Type::kTensors:
      p->set_type(A::TENSORS);
      for (const auto& t : a.tensors) write_tensor(t, "", p->add_tensors());
      break;
    case Attribute::Type::kGraphs:
      p->set_type(A::GRAPHS);
      for (const auto& sg : a.graphs) write_graph(*sg, p->add_graphs());
      break;
    case Attribute::Type::kUndefined:
      throw Error(ErrorCode::kUnsupported, "attribute '" + name + "' has a type that cannot be written back");
  }
}

void write_graph(const Graph& g, onnx::GraphProto* p) {
  p->set_name(g.name);
  for (const auto& n : g.nodes) {
    auto* np = p->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& [key, a] : n.attrs) write_attribute(key, a, np->add_attribute());
  }
  for (const auto& [name, t] : g.initializers) write_tensor(t, name, p->add_initializer());
  for (const auto& in : g.inputs) write_value(in, p->add_input());
  for (const auto& out : g.outputs) write_value(out, p->add_output());
  for (const auto& [name, v] : g.value_info) write_value(v, p->add_value_info());
}

}  // namespace

std::string serialize_model(const Graph& g, const std::string& producer) {
  onnx::ModelProto mp;
  mp.set_ir_version(8);  // ONNX 1.13 (opsets up to 18)
  mp.set_producer_name(producer);
  for (const auto& [domain, version] : g.opsets) {
    auto* op = mp.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  write_graph(g, mp.mutable_graph());
  std::string bytes;
  if (!mp.SerializeToString(&bytes))
    throw Error(ErrorCode::kUnsupported, "model is too large for a single protobuf file (2 GiB)");
  return bytes;
}

void save_model(const Graph& g, const std::string& path, const std::string& producer) {
  const std::string bytes = serialize_model(g, producer);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw Error(ErrorCode::kIo, "writing '" + path + "' failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + ec.message());
  }
}

}  // namespace edgerun
