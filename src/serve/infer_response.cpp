#include "serve/infer_response.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "edgerun/error.h"
#include "serve/datatype.h"

namespace edgerun::serve {
namespace {

using nlohmann::json;

json tensor_data_json(const Tensor& t) {
  json data = json::array();
  auto& arr = data.get_ref<json::array_t&>();
  const size_t n = static_cast<size_t>(t.numel());
  arr.reserve(n);
  switch (t.dtype()) {
    case DType::kFloat32: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<float>()[i]); break;
    case DType::kFloat64: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<double>()[i]); break;
    case DType::kFloat16: for (size_t i = 0; i < n; ++i) arr.emplace_back(half_to_float(t.data<uint16_t>()[i])); break;
    case DType::kBFloat16: for (size_t i = 0; i < n; ++i) arr.emplace_back(bfloat16_to_float(t.data<uint16_t>()[i])); break;
    case DType::kInt8: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<int8_t>()[i]); break;
    case DType::kInt16: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<int16_t>()[i]); break;
    case DType::kInt32: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<int32_t>()[i]); break;
    case DType::kInt64: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<int64_t>()[i]); break;
    case DType::kUInt8: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<uint8_t>()[i]); break;
    case DType::kUInt16: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<uint16_t>()[i]); break;
    case DType::kUInt32: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<uint32_t>()[i]); break;
    case DType::kUInt64: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<uint64_t>()[i]); break;
    case DType::kBool: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<uint8_t>()[i] != 0); break;
    case DType::kString: for (size_t i = 0; i < n; ++i) arr.emplace_back(t.data<std::string>()[i]); break;
    default: throw Error(ErrorCode::kUnsupported, std::string("output dtype ") + dtype_name(t.dtype()) + " cannot be sent");
  }
  return data;
}

void append_binary(std::string& out, const Tensor& t) {
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      const std::string& s = t.data<std::string>()[static_cast<size_t>(i)];
      const uint32_t len = static_cast<uint32_t>(s.size());
      const char le[4] = {static_cast<char>(len), static_cast<char>(len >> 8), static_cast<char>(len >> 16),
                          static_cast<char>(len >> 24)};
      out.append(le, 4);
      out.append(s);
    }
    return;
  }
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
}

size_t binary_size(const Tensor& t) {
  if (t.dtype() != DType::kString) return t.nbytes();
  size_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += 4 + t.data<std::string>()[static_cast<size_t>(i)].size();
  return n;
}

}  // namespace

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                      const InferRequest& request, const ModelSignature& sig,
                                      const std::vector<Tensor>& outputs) {
  json root = json::object();
  root["model_name"] = model_name;
  root["model_version"] = model_version;
  if (request.has_id) root["id"] = request.id;
  json outs = json::array();
  EncodedResponse r;
  for (const auto& want : request.outputs) {
    if (want.index >= outputs.size()) throw Error(ErrorCode::kRuntime, "the model returned fewer outputs than it declares");
    const Tensor& t = outputs[want.index];
    json o = json::object();
    o["name"] = sig.outputs[want.index].name;
    o["datatype"] = protocol_datatype(t.dtype());
    o["shape"] = t.shape();
    if (want.binary) {
      o["parameters"] = {{"binary_data_size", binary_size(t)}};
      r.has_binary = true;
    } else {
      o["data"] = tensor_data_json(t);
    }
    outs.push_back(std::move(o));
  }
  root["outputs"] = std::move(outs);
  r.body = root.dump(-1, ' ', false, json::error_handler_t::replace);
  r.json_length = r.body.size();
  for (const auto& want : request.outputs)
    if (want.binary) append_binary(r.body, outputs[want.index]);
  return r;
}

std::string error_json(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace edgerun::serve
