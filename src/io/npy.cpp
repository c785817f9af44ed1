#include <cstring>
#include <fstream>
#include <sstream>

#include "edgerun/error.h"
#include "edgerun/io.h"
#include "onnx/onnx_loader.h"

namespace edgerun {
namespace {

[[noreturn]] void bad(const std::string& what, const std::string& msg) {
  throw Error(ErrorCode::kInvalidArgument, what + ": " + msg);
}

struct NpyType { const char* descr; DType dtype; };
constexpr NpyType kNpyTypes[] = {
    {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16}, {"<i8", DType::kInt64},
    {"<i4", DType::kInt32},   {"<i2", DType::kInt16},   {"|i1", DType::kInt8},    {"|u1", DType::kUInt8},
    {"<u2", DType::kUInt16},  {"<u4", DType::kUInt32},  {"<u8", DType::kUInt64},  {"|b1", DType::kBool},
};

// Value of `key` in the header dict, as raw text up to the next top-level comma or brace.
std::string header_field(const std::string& h, const std::string& key, const std::string& what) {
  const size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) bad(what, "header has no '" + key + "'");
  size_t p = h.find(':', k);
  if (p == std::string::npos) bad(what, "malformed header");
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t e = p;
  if (p < h.size() && h[p] == '(') {
    e = h.find(')', p);
    if (e == std::string::npos) bad(what, "malformed shape in header");
    return h.substr(p, e - p + 1);
  }
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return h.substr(p, e - p);
}

}  // namespace

Tensor parse_npy(const void* data, size_t size, const std::string& what) {
  const auto* b = static_cast<const unsigned char*>(data);
  if (size < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0) bad(what, "not a .npy file (bad magic)");
  const int major = b[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = b[8] | (b[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) bad(what, "truncated header");
    header_len = b[8] | (b[9] << 8) | (static_cast<size_t>(b[10]) << 16) | (static_cast<size_t>(b[11]) << 24);
    offset = 12;
  } else {
    bad(what, "unsupported .npy version " + std::to_string(major));
  }
  if (header_len > size - offset) bad(what, "truncated header");
  const std::string h(reinterpret_cast<const char*>(b + offset), header_len);
  std::string descr = header_field(h, "descr", what);
  descr.erase(0, descr.find_first_not_of(" '\""));
  descr.erase(descr.find_last_not_of(" '\"") + 1);
  if (descr.size() == 3 && descr[0] == '=') descr[0] = '<';
  if (descr == "<b1" || descr == "=b1") descr = "|b1";
  if (descr == "<i1") descr = "|i1";
  if (descr == "<u1") descr = "|u1";
  DType dtype = DType::kUndefined;
  for (const auto& t : kNpyTypes)
    if (descr == t.descr) dtype = t.dtype;
  if (dtype == DType::kUndefined) bad(what, "unsupported dtype '" + descr + "' (big-endian, object or structured arrays are not supported)");
  if (header_field(h, "fortran_order", what).find("True") != std::string::npos)
    bad(what, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
  const std::string shape_text = header_field(h, "shape", what);
  Shape shape;
  std::string num;
  for (char c : shape_text) {
    if (c >= '0' && c <= '9') num += c;
    else if (c == ',' || c == ')') {
      if (!num.empty()) {
        if (num.size() > 18) bad(what, "dimension too large");
        shape.push_back(std::stoll(num));
        num.clear();
      }
    } else if (c != ' ' && c != '(' && c != 'L') {
      bad(what, "malformed shape " + shape_text);
    }
  }
  const int64_t n = shape_numel(shape);
  const size_t payload = size - offset - header_len;
  if (static_cast<uint64_t>(n) > payload / dtype_size(dtype) || static_cast<size_t>(n) * dtype_size(dtype) != payload)
    bad(what, "data size " + std::to_string(payload) + " bytes does not match shape " + shape_str(shape) + " of " + dtype_name(dtype));
  Tensor t(dtype, shape);
  if (payload) std::memcpy(t.raw(), b + offset + header_len, payload);
  return t;
}

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  return parse_npy(bytes.data(), bytes.size(), path);
}

void save_npy(const Tensor& t, const std::string& path) {
  const char* descr = nullptr;
  for (const auto& k : kNpyTypes)
    if (k.dtype == t.dtype()) descr = k.descr;
  if (!descr) throw Error(ErrorCode::kUnsupported, std::string("cannot write ") + dtype_name(t.dtype()) + " tensors as .npy");
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.dim(i)) + (t.rank() == 1 || i + 1 < t.rank() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(ErrorCode::kIo, "cannot write '" + path + "'");
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!out) throw Error(ErrorCode::kIo, "short write to '" + path + "'");
}

Tensor load_tensor_file(const std::string& path, std::string* name) { return load_tensor_pb(path, name); }
void save_tensor_file(const Tensor& t, const std::string& name, const std::string& path) { save_tensor_pb(t, name, path); }

}  // namespace edgerun
