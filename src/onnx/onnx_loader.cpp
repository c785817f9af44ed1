#include "onnx/onnx_loader.h"

#include "onnx/initializer_data.h"

#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/onnx_pb.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "edgerun/session.h"
#include "ir/graph_checks.h"

namespace edgerun {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

bool is_little_endian() {
  const uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}

// Opens a regular file for reading; returns the descriptor and its size. Throws kIo otherwise.
int open_regular_file(const std::string& path, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "'" + path + "' is not a regular file");
  }
  *size = static_cast<size_t>(st.st_size);
  return fd;
}

// A whole file read into memory with one read of its known size (read rather than mapped: a file
// truncated by another process while mapped would kill this one with SIGBUS).
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
    size_t expected = 0;
    const int fd = open_regular_file(path, &expected);
    data_.reset(new char[expected + 1]);  // uninitialized: every byte is read over
    while (size_ < expected) {
      const ssize_t n = ::read(fd, data_.get() + size_, expected - size_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      size_ += static_cast<size_t>(n);
    }
    ::close(fd);
    if (size_ != expected) throw Error(ErrorCode::kIo, "'" + path + "' could not be read whole (changed while reading?)");
  }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

// Reads the bytes of an external-data tensor, refusing locations outside the model's folder.
std::string read_external(const onnx::TensorProto& p, const std::string& base_dir, size_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& e : p.external_data()) {
    if (e.key() == "location") location = e.value();
    else if (e.key() == "offset") offset = std::stoll(e.value());
    else if (e.key() == "length") length = std::stoll(e.value());
  }
  if (location.empty()) invalid("tensor '" + p.name() + "' has external data without a location");
  const fs::path rel(location);
  if (rel.is_absolute()) invalid("tensor '" + p.name() + "': external data location must be relative: " + location);
  const fs::path base = fs::weakly_canonical(base_dir.empty() ? fs::current_path() : fs::path(base_dir));
  const fs::path full = fs::weakly_canonical(base / rel);
  auto [b, f] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b != base.end())
    invalid("tensor '" + p.name() + "': external data location escapes the model folder: " + location);
  std::ifstream in(full, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "tensor '" + p.name() + "': cannot open external data file " + full.string());
  in.seekg(0, std::ios::end);
  const int64_t file_size = in.tellg();
  if (length < 0) length = static_cast<int64_t>(expected);
  if (offset < 0 || offset > file_size || length > file_size - offset)
    invalid("tensor '" + p.name() + "': external data range is outside file " + location);
  if (static_cast<size_t>(length) != expected)
    invalid("tensor '" + p.name() + "': external data length " + std::to_string(length) + " != expected " +
            std::to_string(expected));
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in) throw Error(ErrorCode::kIo, "tensor '" + p.name() + "': short read of external data");
  return bytes;
}

template <typename Dst, typename Field>
void copy_field(Tensor& t, const Field& field, const std::string& name) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    invalid("tensor '" + name + "' holds " + std::to_string(field.size()) + " values, shape " + shape_str(t.shape()) +
            " needs " + std::to_string(t.numel()));
  Dst* d = t.data<Dst>();
  for (int i = 0; i < field.size(); ++i) d[i] = static_cast<Dst>(field.Get(i));
}

// The main graph's initializers may have their raw_data outside the parsed message (see
// initializer_data.h): `raw` says where, `read` reads it.
struct RawDataSource {
  const ReadAt* read = nullptr;
  const RawDataLocation* raw = nullptr;
};

Tensor tensor_from_proto_at(const onnx::TensorProto& p, const std::string& base_dir, RawDataSource outside) {
  const auto dtype = static_cast<DType>(p.data_type());
  if (dtype_size(dtype) == 0)
    throw Error(ErrorCode::kUnsupported, "tensor '" + p.name() + "' has unsupported data type " + std::to_string(p.data_type()));
  if (p.has_segment()) throw Error(ErrorCode::kUnsupported, "tensor '" + p.name() + "' is segmented");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) invalid("tensor '" + p.name() + "' has negative dimension in " + shape_str(shape));
  const std::string& name = p.name();
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  const bool has_raw = p.has_raw_data() || outside.raw;
  if (dtype != DType::kString && !external && has_raw) {
    // The byte count is checked before anything is allocated; the copy fills every byte.
    const size_t needed = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    const uint64_t have = outside.raw ? outside.raw->size : p.raw_data().size();
    if (have != needed)
      invalid("tensor '" + name + "' has " + std::to_string(have) + " bytes of data, shape " + shape_str(shape) + " of " +
              dtype_name(dtype) + " needs " + std::to_string(needed));
    if (!is_little_endian()) throw Error(ErrorCode::kUnsupported, "big-endian hosts are not supported");
    Tensor t = Tensor::uninitialized(dtype, shape);
    if (outside.raw) {
      if (needed && !(*outside.read)(outside.raw->offset, t.raw(), needed))
        throw Error(ErrorCode::kIo, "tensor '" + name + "': short read of its data");
    } else if (needed) {
      std::memcpy(t.raw(), p.raw_data().data(), needed);
    }
    return t;
  }
  // Nothing is allocated before the data is known to fill it: the external file's length, or a typed
  // field holding as many values as the shape needs (a hostile shape costs no memory).
  const int64_t numel = shape_numel(shape);
  std::string ext;
  if (external) ext = read_external(p, base_dir, static_cast<size_t>(numel) * dtype_size(dtype));
  const int64_t available = std::max({p.float_data_size(), p.double_data_size(), p.int32_data_size(), p.int64_data_size(),
                                      p.uint64_data_size(), p.string_data_size()});
  if (!external && !has_raw && numel > available)
    invalid("tensor '" + name + "' holds " + std::to_string(available) + " values, shape " + shape_str(shape) +
            " needs " + std::to_string(numel));
  Tensor t(dtype, shape);
  if (dtype == DType::kString) {
    if (static_cast<int64_t>(p.string_data_size()) != t.numel())
      invalid("string tensor '" + name + "' has " + std::to_string(p.string_data_size()) + " values for shape " + shape_str(shape));
    auto* d = t.data<std::string>();
    for (int i = 0; i < p.string_data_size(); ++i) d[i] = p.string_data(i);
    return t;
  }
  if (external || p.has_raw_data()) {
    const std::string& bytes = external ? ext : p.raw_data();
    if (bytes.size() != t.nbytes())
      invalid("tensor '" + name + "' has " + std::to_string(bytes.size()) + " bytes of data, shape " + shape_str(shape) +
              " of " + dtype_name(dtype) + " needs " + std::to_string(t.nbytes()));
    if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
    if (!is_little_endian()) throw Error(ErrorCode::kUnsupported, "big-endian hosts are not supported");
    return t;
  }
  switch (dtype) {
    case DType::kFloat32: copy_field<float>(t, p.float_data(), name); break;
    case DType::kFloat64: copy_field<double>(t, p.double_data(), name); break;
    case DType::kInt64: copy_field<int64_t>(t, p.int64_data(), name); break;
    case DType::kUInt32: copy_field<uint32_t>(t, p.uint64_data(), name); break;
    case DType::kUInt64: copy_field<uint64_t>(t, p.uint64_data(), name); break;
    case DType::kInt32: copy_field<int32_t>(t, p.int32_data(), name); break;
    case DType::kInt16: copy_field<int16_t>(t, p.int32_data(), name); break;
    case DType::kInt8: copy_field<int8_t>(t, p.int32_data(), name); break;
    case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16:
      copy_field<uint16_t>(t, p.int32_data(), name); break;
    case DType::kUInt8: copy_field<uint8_t>(t, p.int32_data(), name); break;
    case DType::kBool: {
      if (static_cast<int64_t>(p.int32_data_size()) != t.numel()) invalid("tensor '" + name + "' has the wrong number of values");
      for (int i = 0; i < p.int32_data_size(); ++i) t.data<bool>()[i] = p.int32_data(i) != 0;
      break;
    }
    default: throw Error(ErrorCode::kUnsupported, "tensor '" + name + "': unsupported data type");
  }
  return t;
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir) {
  return tensor_from_proto_at(p, base_dir, {});
}

namespace {

// Where the main graph's left-out weight bytes are, and how to read them.
struct InitializerSource {
  ReadAt read;
  std::vector<std::optional<RawDataLocation>> raw_data;
};

ValueDesc value_desc(const onnx::ValueInfoProto& v) {
  ValueDesc d;
  d.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    d.dtype = static_cast<DType>(tt.elem_type());
    if (tt.has_shape()) {
      d.has_shape = true;
      for (const auto& dim : tt.shape().dim()) {
        DimInfo di;
        if (dim.has_dim_value()) di.value = dim.dim_value();
        else if (dim.has_dim_param()) di.symbol = dim.dim_param();
        d.dims.push_back(di);
      }
    }
  }
  return d;
}

std::shared_ptr<Graph> convert_graph(const onnx::GraphProto& gp, const std::string& base_dir, Graph* parent,
                                     onnx::GraphProto* owned = nullptr, const InitializerSource* outside = nullptr);

Attribute convert_attribute(const onnx::AttributeProto& a, const std::string& base_dir, Graph* owner) {
  Attribute r;
  using A = onnx::AttributeProto;
  switch (a.type()) {
    case A::FLOAT: r.type = Attribute::Type::kFloat; r.f = a.f(); break;
    case A::INT: r.type = Attribute::Type::kInt; r.i = a.i(); break;
    case A::STRING: r.type = Attribute::Type::kString; r.s = a.s(); break;
    case A::TENSOR: r.type = Attribute::Type::kTensor; r.t = tensor_from_proto(a.t(), base_dir); break;
    case A::GRAPH: r.type = Attribute::Type::kGraph; r.g = convert_graph(a.g(), base_dir, owner); break;
    case A::FLOATS: r.type = Attribute::Type::kFloats; r.floats.assign(a.floats().begin(), a.floats().end()); break;
    case A::INTS: r.type = Attribute::Type::kInts; r.ints.assign(a.ints().begin(), a.ints().end()); break;
    case A::STRINGS: r.type = Attribute::Type::kStrings; r.strings.assign(a.strings().begin(), a.strings().end()); break;
    case A::TENSORS:
      r.type = Attribute::Type::kTensors;
      for (const auto& t : a.tensors()) r.tensors.push_back(tensor_from_proto(t, base_dir));
      break;
    case A::GRAPHS:
      r.type = Attribute::Type::kGraphs;
      for (const auto& g : a.graphs()) r.graphs.push_back(convert_graph(g, base_dir, owner));
      break;
    case A::SPARSE_TENSOR: case A::SPARSE_TENSORS:
      throw Error(ErrorCode::kUnsupported, "attribute '" + a.name() + "': sparse tensors are not supported");
    case A::TYPE_PROTO: case A::TYPE_PROTOS:
      r.type = Attribute::Type::kUndefined;  // type attributes (Optional/SequenceEmpty) are kept opaque
      break;
    default:
      // Older producers leave `type` unset; infer from the populated field.
      if (a.has_f()) { r.type = Attribute::Type::kFloat; r.f = a.f(); }
      else if (a.has_i()) { r.type = Attribute::Type::kInt; r.i = a.i(); }
      else if (a.has_s()) { r.type = Attribute::Type::kString; r.s = a.s(); }
      else if (a.has_t()) { r.type = Attribute::Type::kTensor; r.t = tensor_from_proto(a.t(), base_dir); }
      else if (a.has_g()) { r.type = Attribute::Type::kGraph; r.g = convert_graph(a.g(), base_dir, owner); }
      else if (a.floats_size()) { r.type = Attribute::Type::kFloats; r.floats.assign(a.floats().begin(), a.floats().end()); }
      else if (a.ints_size()) { r.type = Attribute::Type::kInts; r.ints.assign(a.ints().begin(), a.ints().end()); }
      else if (a.strings_size()) { r.type = Attribute::Type::kStrings; r.strings.assign(a.strings().begin(), a.strings().end()); }
      else invalid("attribute '" + a.name() + "' has no value");
  }
  return r;
}

// Constant nodes become initializers so planning sees their values.
bool constant_to_initializer(const Node& n, Graph& g) {
  if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1) return false;
  if (n.attrs.size() != 1) invalid(n.describe() + ": Constant needs exactly one value attribute");
  const auto& [key, a] = *n.attrs.begin();
  Tensor t;
  if (key == "value") t = a.t;
  else if (key == "value_float") { t = Tensor(DType::kFloat32, {}); *t.data<float>() = a.f; }
  else if (key == "value_floats") {
    t = Tensor(DType::kFloat32, {static_cast<int64_t>(a.floats.size())});
    std::copy(a.floats.begin(), a.floats.end(), t.data<float>());
  } else if (key == "value_int") { t = Tensor(DType::kInt64, {}); *t.data<int64_t>() = a.i; }
  else if (key == "value_ints") {
    t = Tensor(DType::kInt64, {static_cast<int64_t>(a.ints.size())});
    std::copy(a.ints.begin(), a.ints.end(), t.data<int64_t>());
  } else if (key == "value_string") { t = Tensor(DType::kString, {}); *t.data<std::string>() = a.s; }
  else if (key == "value_strings") {
    t = Tensor(DType::kString, {static_cast<int64_t>(a.strings.size())});
    std::copy(a.strings.begin(), a.strings.end(), t.data<std::string>());
  } else {
    throw Error(ErrorCode::kUnsupported, n.describe() + ": Constant attribute '" + key + "' is not supported");
  }
  if (t.empty()) invalid(n.describe() + ": Constant has no tensor value");
  g.initializers[n.outputs[0]] = std::move(t);
  return true;
}

// `owned`, when given, is `gp` itself, writable: each initializer's bytes are freed once converted, so
// the parsed model and the tensors do not both hold every weight at once.
std::shared_ptr<Graph> convert_graph(const onnx::GraphProto& gp, const std::string& base_dir, Graph* parent,
                                     onnx::GraphProto* owned, const InitializerSource* outside) {
  auto g = std::make_shared<Graph>();
  g->name = gp.name();
  g->parent = parent;
  for (int i = 0; i < gp.initializer_size(); ++i) {
    const auto& init = gp.initializer(i);
    if (init.name().empty()) invalid("graph '" + gp.name() + "' has an initializer without a name");
    RawDataSource raw;
    if (outside && outside->raw_data[i]) raw = {&outside->read, &*outside->raw_data[i]};
    g->initializers[init.name()] = tensor_from_proto_at(init, base_dir, raw);
    if (owned) std::string().swap(*owned->mutable_initializer(i)->mutable_raw_data());
  }
  if (gp.sparse_initializer_size())
    throw Error(ErrorCode::kUnsupported, "graph '" + gp.name() + "': sparse initializers are not supported");
  for (const auto& in : gp.input()) {
    if (g->initializers.count(in.name())) continue;  // an input with a default value is treated as constant
    g->inputs.push_back(value_desc(in));
  }
  for (const auto& out : gp.output()) g->outputs.push_back(value_desc(out));
  for (const auto* list : {&gp.input(), &gp.output()})
    for (const auto& v : *list)
      if (v.has_type() && !v.type().has_tensor_type() && !g->initializers.count(v.name()))
        throw Error(ErrorCode::kUnsupported, "graph '" + gp.name() + "': value '" + v.name() +
                                                 "' is a sequence, map or optional; only tensors are supported");
  for (const auto& vi : gp.value_info()) g->value_info[vi.name()] = value_desc(vi);
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (a.ref_attr_name().size()) throw Error(ErrorCode::kUnsupported, n.describe() + ": attribute references are not supported");
      n.attrs[a.name()] = convert_attribute(a, base_dir, g.get());
    }
    // Before opset 7, binary ops could broadcast from an explicit axis; numpy rules differ there.
    if (n.has_attr("broadcast") && n.attr_int("broadcast", 0) != 0 && n.has_attr("axis"))
      throw Error(ErrorCode::kUnsupported, n.describe() + ": legacy broadcasting with an explicit axis (opset < 7)");
    if (constant_to_initializer(n, *g)) continue;
    g->nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace

class ModelBuilder {
 public:
  static std::shared_ptr<Model> build(onnx::ModelProto& mp, const std::string& base_dir,
                                      const InitializerSource* outside) {
    std::shared_ptr<Model> m(new Model());
    if (!mp.has_graph()) invalid("model has no graph");
    m->producer_ = mp.producer_name();
    std::map<std::string, int64_t> opsets;
    for (const auto& op : mp.opset_import()) opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
    if (mp.opset_import_size() == 0) opsets[""] = 1;
    m->opset_ = opsets.count("") ? opsets[""] : 0;
    if (m->opset_ > 18)
      throw Error(ErrorCode::kUnsupported, "opset " + std::to_string(m->opset_) + " is newer than the supported 1..18");
    if (mp.functions_size()) {
      // Model-local functions: supported only if no node calls them (checked during validation).
    }
    auto g = convert_graph(mp.graph(), base_dir, nullptr, mp.mutable_graph(), outside);
    g->opsets = opsets;
    m->inputs_ = g->inputs;
    m->outputs_ = g->outputs;
    validate_graph(*g);
    m->graph_ = std::make_unique<Graph>(std::move(*g));
    fix_parents(*m->graph_);
    return m;
  }

  // Subgraph parents point at the graph object; re-point after the move into Model.
  static void fix_parents(Graph& g) {
    for (auto& n : g.nodes)
      for (auto& [k, a] : n.attrs) {
        if (a.g) { a.g->parent = &g; fix_parents(*a.g); }
        for (auto& sg : a.graphs) { sg->parent = &g; fix_parents(*sg); }
      }
  }
};

namespace {

std::shared_ptr<Model> build_model(onnx::ModelProto& mp, bool parsed, const std::string& base_dir,
                                   const InitializerSource* outside) {
  if (!parsed) invalid("not a valid ONNX model: the protobuf could not be parsed (truncated or corrupt file?)");
  if (!mp.has_graph() || mp.ir_version() <= 0) invalid("not a valid ONNX model: missing graph or ir_version");
  return ModelBuilder::build(mp, base_dir, outside);
}

// Parses the model with the main graph's weight bytes left out, recording where they are (see
// initializer_data.h). False when the bytes do not split plainly; the caller then parses them whole.
bool parse_split(const ReadAt& read, uint64_t size, onnx::ModelProto& mp, InitializerSource& outside) {
  auto split = split_initializer_data(read, size);
  if (!split) return false;
  if (!mp.ParseFromString(split->skeleton) ||
      mp.graph().initializer_size() != static_cast<int>(split->raw_data.size())) {
    mp.Clear();
    return false;
  }
  outside.read = read;
  outside.raw_data = std::move(split->raw_data);
  return true;
}

// `size` bytes at `offset`, however many system calls that takes.
bool pread_full(int fd, uint64_t offset, void* dst, size_t size) {
  char* p = static_cast<char*>(dst);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::shared_ptr<Model> Model::load_from_memory(const void* data, size_t size, const std::string& base_dir) {
  if (size == 0) invalid("model file is empty");
  if (size > static_cast<size_t>(INT32_MAX)) throw Error(ErrorCode::kUnsupported, "model files over 2 GiB need external data");
  onnx::ModelProto mp;
  InitializerSource outside;
  const char* bytes = static_cast<const char*>(data);
  const ReadAt read = [bytes, size](uint64_t offset, void* dst, size_t n) {
    if (offset > size || n > size - offset) return false;
    std::memcpy(dst, bytes + offset, n);
    return true;
  };
  if (parse_split(read, size, mp, outside)) return build_model(mp, true, base_dir, &outside);
  const bool parsed = mp.ParseFromArray(data, static_cast<int>(size));
  return build_model(mp, parsed, base_dir, nullptr);
}

std::shared_ptr<Model> Model::load(const std::string& path) {
  if (fs::is_directory(path)) throw Error(ErrorCode::kIo, "'" + path + "' is a directory, not a model file");
  size_t size = 0;
  const int fd = open_regular_file(path, &size);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  onnx::ModelProto mp;
  InitializerSource outside;
  bool parsed = false, split = false;
  if (size > 0 && size <= static_cast<size_t>(INT32_MAX)) {
    // Weights are read once, from the file straight into their tensors; the parser sees the rest.
    const ReadAt read = [fd](uint64_t offset, void* dst, size_t n) { return pread_full(fd, offset, dst, n); };
    parsed = split = parse_split(read, size, mp, outside);
    if (!parsed && ::lseek(fd, 0, SEEK_SET) == 0) {
      // Parsed as it streams from the file: only the parsed model holds the weights, not also a copy
      // of the file, and the conversion below frees them from it tensor by tensor.
      google::protobuf::io::FileInputStream stream(fd, 1 << 20);
      parsed = mp.ParseFromZeroCopyStream(&stream) && stream.GetErrno() == 0;
    }
  }
  try {
    if (size == 0) invalid("model file is empty");
    if (size > static_cast<size_t>(INT32_MAX)) throw Error(ErrorCode::kUnsupported, "model files over 2 GiB need external data");
    return build_model(mp, parsed, fs::path(path).parent_path().string(), split ? &outside : nullptr);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kIo) throw;
    throw Error(e.code(), path + ": " + e.what());
  }
}

Model::~Model() = default;

Tensor load_tensor_pb(const std::string& path, std::string* name) {
  const FileBytes file(path);
  onnx::TensorProto p;
  if (file.size() > static_cast<size_t>(INT32_MAX) || !p.ParseFromArray(file.data(), static_cast<int>(file.size()))) throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is not a serialized TensorProto");
  if (name) *name = p.name();
  return tensor_from_proto(p, fs::path(path).parent_path().string());
}

void save_tensor_pb(const Tensor& t, const std::string& name, const std::string& path) {
  onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(static_cast<int>(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p.add_string_data(t.data<std::string>()[i]);
  } else {
    p.set_raw_data(t.raw(), t.nbytes());
  }
  std::ofstream out(path, std::ios::binary);
  if (!out || !p.SerializeToOstream(&out)) throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
}

std::string ValueDesc::str() const {
  std::string s = name + ": " + dtype_name(dtype);
  if (!has_shape) return s + "[?]";
  s += '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += dims[i].value >= 0 ? std::to_string(dims[i].value) : (dims[i].symbol.empty() ? "?" : dims[i].symbol);
  }
  return s + ']';
}

}  // namespace edgerun
