#include "serve/infer_request.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "edgerun/error.h"
#include "serve/datatype.h"

namespace edgerun::serve {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& message) { throw RequestError(400, message); }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

template <typename T>
void store_integer(const json& v, void* dst, const std::string& where) {
  if (!v.is_number_integer()) bad(where + ": expected an integer, got " + std::string(v.type_name()));
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    if (x > static_cast<uint64_t>(std::numeric_limits<T>::max())) bad(where + ": " + std::to_string(x) + " is out of range");
    *static_cast<T*>(dst) = static_cast<T>(x);
  } else {
    const int64_t x = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) || x > static_cast<int64_t>(std::numeric_limits<T>::max()))
        bad(where + ": " + std::to_string(x) + " is out of range");
    } else {
      if (x < 0 || static_cast<uint64_t>(x) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        bad(where + ": " + std::to_string(x) + " is out of range");
    }
    *static_cast<T*>(dst) = static_cast<T>(x);
  }
}

double get_real(const json& v, const std::string& where) {
  if (!v.is_number()) bad(where + ": expected a number, got " + std::string(v.type_name()));
  return v.get<double>();
}

// Writes one JSON scalar as element i of `t`, checking its type and range.
void store_element(const json& v, Tensor& t, int64_t i, const std::string& input) {
  const auto where = [&] { return "input '" + input + "' data[" + std::to_string(i) + "]"; };
  const size_t k = static_cast<size_t>(i);
  switch (t.dtype()) {
    case DType::kFloat32: {
      const double x = get_real(v, where());
      t.data<float>()[k] = std::isfinite(x) && std::fabs(x) > std::numeric_limits<float>::max()
                               ? (x > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity())
                               : static_cast<float>(x);
      break;
    }
    case DType::kFloat64: t.data<double>()[k] = get_real(v, where()); break;
    case DType::kFloat16: {
      const double x = get_real(v, where());
      t.data<uint16_t>()[k] = float_to_half(std::fabs(x) > std::numeric_limits<float>::max()
                                                ? (x > 0 ? INFINITY : -INFINITY) : static_cast<float>(x));
      break;
    }
    case DType::kBFloat16: {
      const double x = get_real(v, where());
      t.data<uint16_t>()[k] = float_to_bfloat16(std::fabs(x) > std::numeric_limits<float>::max()
                                                    ? (x > 0 ? INFINITY : -INFINITY) : static_cast<float>(x));
      break;
    }
    case DType::kInt8: store_integer<int8_t>(v, t.data<int8_t>() + k, where()); break;
    case DType::kInt16: store_integer<int16_t>(v, t.data<int16_t>() + k, where()); break;
    case DType::kInt32: store_integer<int32_t>(v, t.data<int32_t>() + k, where()); break;
    case DType::kInt64: store_integer<int64_t>(v, t.data<int64_t>() + k, where()); break;
    case DType::kUInt8: store_integer<uint8_t>(v, t.data<uint8_t>() + k, where()); break;
    case DType::kUInt16: store_integer<uint16_t>(v, t.data<uint16_t>() + k, where()); break;
    case DType::kUInt32: store_integer<uint32_t>(v, t.data<uint32_t>() + k, where()); break;
    case DType::kUInt64: store_integer<uint64_t>(v, t.data<uint64_t>() + k, where()); break;
    case DType::kBool:
      if (!v.is_boolean()) bad(where() + ": expected true or false, got " + std::string(v.type_name()));
      t.data<bool>()[k] = v.get<bool>();
      break;
    case DType::kString:
      if (!v.is_string()) bad(where() + ": expected a string, got " + std::string(v.type_name()));
      t.data<std::string>()[k] = v.get_ref<const std::string&>();
      break;
    default: bad("input '" + input + "': unsupported datatype");
  }
}

// Fills `t` from `data`, flat or nested to any depth (walked without recursion, so deeply nested
// hostile input cannot exhaust the stack). The leaf count must equal the element count.
void fill_from_json(const json& data, Tensor& t, const std::string& input) {
  const int64_t n = t.numel();
  int64_t count = 0;
  std::vector<std::pair<const json*, size_t>> stack;
  const auto visit = [&](const json& v) {
    if (v.is_array()) {
      stack.emplace_back(&v, 0);
      return;
    }
    if (count >= n) bad("input '" + input + "': data has more than the " + std::to_string(n) + " elements of its shape");
    store_element(v, t, count++, input);
  };
  visit(data);
  while (!stack.empty()) {
    auto& [arr, pos] = stack.back();
    if (pos == arr->size()) {
      stack.pop_back();
      continue;
    }
    const json& v = (*arr)[pos++];
    visit(v);
  }
  if (count != n)
    bad("input '" + input + "': data has " + std::to_string(count) + " elements but shape " + shape_text(t.shape()) +
        " needs " + std::to_string(n));
}

uint32_t read_le32(const char* p) {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i) x = (x << 8) | static_cast<uint8_t>(p[i]);
  return x;
}

// Fills `t` from raw little-endian bytes (BYTES: a 4-byte length before each element).
void fill_from_binary(std::string_view bytes, Tensor& t, const std::string& input) {
  if (t.dtype() == DType::kString) {
    size_t pos = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (bytes.size() - pos < 4) bad("input '" + input + "': binary BYTES data ends inside element " + std::to_string(i));
      const uint32_t len = read_le32(bytes.data() + pos);
      pos += 4;
      if (bytes.size() - pos < len) bad("input '" + input + "': binary BYTES element " + std::to_string(i) + " is truncated");
      t.data<std::string>()[static_cast<size_t>(i)].assign(bytes.data() + pos, len);
      pos += len;
    }
    if (pos != bytes.size())
      bad("input '" + input + "': binary_data_size " + std::to_string(bytes.size()) + " but the BYTES elements take " +
          std::to_string(pos));
    return;
  }
  if (bytes.size() != t.nbytes())
    bad("input '" + input + "': binary_data_size " + std::to_string(bytes.size()) + " but shape " + shape_text(t.shape()) +
        " of " + protocol_datatype(t.dtype()) + " needs " + std::to_string(t.nbytes()) + " bytes");
  if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
  if (t.dtype() == DType::kBool) {
    // Any non-zero byte is true; a bool object must hold exactly 0 or 1.
    auto* b = static_cast<uint8_t*>(t.raw());
    for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] != 0;
  }
}

std::vector<int64_t> parse_shape(const json& v, const std::string& input) {
  if (!v.is_array()) bad("input '" + input + "': shape must be a list of integers");
  if (v.size() > 16) bad("input '" + input + "': shape has " + std::to_string(v.size()) + " dimensions (at most 16)");
  std::vector<int64_t> s;
  for (const auto& d : v) {
    if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0))
      bad("input '" + input + "': shape must be a list of non-negative integers");
    if (d.is_number_unsigned() && d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad("input '" + input + "': dimension too large");
    s.push_back(d.get<int64_t>());
  }
  return s;
}

void check_shape(const TensorSpec& spec, const std::vector<int64_t>& shape, int64_t max_batch_size) {
  if (spec.has_shape) {
    bool ok = spec.shape.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = spec.shape[i] < 0 || spec.shape[i] == shape[i];
    if (!ok)
      bad("input '" + spec.name + "': shape " + shape_text(shape) + " does not match the model's " + shape_text(spec.shape) +
          " (-1: any size)");
  }
  if (max_batch_size > 0) {
    if (shape.empty()) bad("input '" + spec.name + "': the model batches, so the shape needs a batch dimension first");
    if (shape[0] < 1 || shape[0] > max_batch_size)
      bad("input '" + spec.name + "': batch size " + std::to_string(shape[0]) + " is outside 1.." +
          std::to_string(max_batch_size) + " (max_batch_size)");
  }
}

const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

}  // namespace

size_t parse_header_length(std::string_view value) {
  if (value.empty() || value.size() > 19) bad("Inference-Header-Content-Length must be a decimal byte count");
  size_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') bad("Inference-Header-Content-Length must be a decimal byte count");
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length, const ModelSignature& sig) {
  std::string_view json_text = body, binary;
  if (json_length) {
    if (*json_length > body.size())
      bad("Inference-Header-Content-Length " + std::to_string(*json_length) + " exceeds the body size " +
          std::to_string(body.size()));
    json_text = body.substr(0, *json_length);
    binary = body.substr(*json_length);
  }
  const json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) bad("request body is not valid JSON");
  if (!root.is_object()) bad("request body must be a JSON object");

  InferRequest req;
  if (const json* id = member(root, "id")) {
    if (!id->is_string()) bad("id must be a string");
    req.id = id->get<std::string>();
    req.has_id = true;
  }
  bool binary_output = false;
  if (const json* params = member(root, "parameters")) {
    if (!params->is_object()) bad("parameters must be an object");
    if (const json* b = member(*params, "binary_data_output")) {
      if (!b->is_boolean()) bad("parameters.binary_data_output must be true or false");
      binary_output = b->get<bool>();
    }
    if (const json* t = member(*params, "timeout")) {
      if (!t->is_number_integer() || (!t->is_number_unsigned() && t->get<int64_t>() < 0))
        bad("parameters.timeout must be a non-negative integer (microseconds)");
      req.timeout_us = t->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(t->get<uint64_t>(), INT64_MAX))
                                               : t->get<int64_t>();
    }
  }

  const json* inputs = member(root, "inputs");
  if (!inputs || !inputs->is_array()) bad("inputs must be a list");
  req.inputs.resize(sig.inputs.size());
  std::vector<bool> seen(sig.inputs.size(), false);
  size_t binary_pos = 0;
  for (const auto& in : *inputs) {
    if (!in.is_object()) bad("each input must be an object");
    const json* name = member(in, "name");
    if (!name || !name->is_string()) bad("each input needs a string name");
    const std::string& input = name->get_ref<const std::string&>();
    size_t idx = 0;
    while (idx < sig.inputs.size() && sig.inputs[idx].name != input) ++idx;
    if (idx == sig.inputs.size()) {
      std::string names;
      for (const auto& s : sig.inputs) names += (names.empty() ? "" : ", ") + s.name;
      bad("unknown input '" + input + "' (the model's inputs: " + names + ")");
    }
    if (seen[idx]) bad("input '" + input + "' is given twice");
    seen[idx] = true;
    const TensorSpec& spec = sig.inputs[idx];

    const json* datatype = member(in, "datatype");
    if (!datatype || !datatype->is_string()) bad("input '" + input + "' needs a string datatype");
    const DType dtype = dtype_from_protocol(datatype->get_ref<const std::string&>());
    if (dtype == DType::kUndefined) bad("input '" + input + "': unknown datatype '" + datatype->get<std::string>() + "'");
    if (dtype != spec.dtype)
      bad("input '" + input + "': datatype " + datatype->get<std::string>() + " does not match the model's " +
          protocol_datatype(spec.dtype));
    const json* shape_json = member(in, "shape");
    if (!shape_json) bad("input '" + input + "' needs a shape");
    const std::vector<int64_t> shape = parse_shape(*shape_json, input);
    check_shape(spec, shape, sig.max_batch_size);
    int64_t numel = 0;
    try {
      numel = shape_numel(shape);
    } catch (const Error&) {
      bad("input '" + input + "': shape " + shape_text(shape) + " has too many elements");
    }

    std::optional<size_t> binary_size;
    if (const json* params = member(in, "parameters")) {
      if (!params->is_object()) bad("input '" + input + "': parameters must be an object");
      if (const json* b = member(*params, "binary_data_size")) {
        if (!b->is_number_unsigned()) bad("input '" + input + "': binary_data_size must be a non-negative integer");
        binary_size = static_cast<size_t>(std::min<uint64_t>(b->get<uint64_t>(), SIZE_MAX));
      }
    }
    const json* data = member(in, "data");
    if (binary_size) {
      if (data) bad("input '" + input + "' has both data and binary_data_size");
      if (!json_length) bad("input '" + input + "' has binary_data_size but the request has no Inference-Header-Content-Length");
      if (*binary_size > binary.size() - binary_pos)
        bad("input '" + input + "': binary_data_size " + std::to_string(*binary_size) + " but only " +
            std::to_string(binary.size() - binary_pos) + " bytes of binary data remain");
      // Binary data must hold at least one byte per element (4 for BYTES), so this bounds the allocation.
      const uint64_t min_bytes = static_cast<uint64_t>(numel) * (dtype == DType::kString ? 4 : dtype_size(dtype));
      if (numel > 0 && min_bytes / static_cast<uint64_t>(numel) != (dtype == DType::kString ? 4 : dtype_size(dtype)))
        bad("input '" + input + "': shape too large");
      if (min_bytes > *binary_size)
        bad("input '" + input + "': binary_data_size " + std::to_string(*binary_size) + " but shape " + shape_text(shape) +
            " of " + datatype->get<std::string>() + " needs " + std::to_string(min_bytes) + " bytes");
      Tensor t(dtype, shape);
      fill_from_binary(binary.substr(binary_pos, *binary_size), t, input);
      binary_pos += *binary_size;
      req.inputs[idx] = std::move(t);
    } else {
      if (!data) bad("input '" + input + "' needs data or parameters.binary_data_size");
      // Every JSON element takes at least one byte of the body: a larger shape cannot match the data,
      // and refusing it here keeps a tiny request from allocating a huge tensor.
      if (static_cast<uint64_t>(numel) > json_text.size())
        bad("input '" + input + "': shape " + shape_text(shape) + " needs " + std::to_string(numel) +
            " elements, more than the request holds");
      Tensor t(dtype, shape);
      fill_from_json(*data, t, input);
      req.inputs[idx] = std::move(t);
    }
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i)
    if (!seen[i]) bad("missing input '" + sig.inputs[i].name + "'");
  if (binary_pos != binary.size())
    bad("the request has " + std::to_string(binary.size()) + " bytes of binary data but its inputs use " +
        std::to_string(binary_pos));
  if (sig.max_batch_size > 0 && !req.inputs.empty()) {
    req.batch_size = req.inputs[0].dim(0);
    for (size_t i = 1; i < req.inputs.size(); ++i)
      if (req.inputs[i].dim(0) != req.batch_size)
        bad("inputs disagree on the batch size: '" + sig.inputs[0].name + "' has " + std::to_string(req.batch_size) +
            ", '" + sig.inputs[i].name + "' has " + std::to_string(req.inputs[i].dim(0)));
  }

  if (const json* outputs = member(root, "outputs")) {
    if (!outputs->is_array()) bad("outputs must be a list");
    std::vector<bool> wanted(sig.outputs.size(), false);
    for (const auto& out : *outputs) {
      if (!out.is_object()) bad("each requested output must be an object");
      const json* name = member(out, "name");
      if (!name || !name->is_string()) bad("each requested output needs a string name");
      size_t idx = 0;
      while (idx < sig.outputs.size() && sig.outputs[idx].name != name->get_ref<const std::string&>()) ++idx;
      if (idx == sig.outputs.size()) {
        std::string names;
        for (const auto& s : sig.outputs) names += (names.empty() ? "" : ", ") + s.name;
        bad("unknown output '" + name->get<std::string>() + "' (the model's outputs: " + names + ")");
      }
      if (wanted[idx]) bad("output '" + name->get<std::string>() + "' is requested twice");
      wanted[idx] = true;
      RequestedOutput r{idx, binary_output};
      if (const json* params = member(out, "parameters")) {
        if (!params->is_object()) bad("output '" + name->get<std::string>() + "': parameters must be an object");
        if (const json* b = member(*params, "binary_data")) {
          if (!b->is_boolean()) bad("output '" + name->get<std::string>() + "': binary_data must be true or false");
          r.binary = b->get<bool>();
        }
        if (member(*params, "classification"))
          bad("output '" + name->get<std::string>() + "': the classification extension is not supported");
      }
      req.outputs.push_back(r);
    }
  }
  if (req.outputs.empty())
    for (size_t i = 0; i < sig.outputs.size(); ++i) req.outputs.push_back({i, binary_output});
  return req;
}

}  // namespace edgerun::serve
