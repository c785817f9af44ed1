// libFuzzer target: arbitrary bytes as an inference request body (optionally with binary tensor
// data after an Inference-Header-Content-Length prefix) parse into tensors or fail with RequestError,
// against several model signatures; successful parses are encoded back as a response.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/infer_request.h"
#include "serve/infer_response.h"

using namespace edgerun;
using namespace edgerun::serve;

namespace {

const ModelSignature& signature(uint8_t which) {
  static const ModelSignature image = [] {
    ModelSignature s;
    s.inputs = {{"input", DType::kFloat32, {-1, 1, 2, 2}, true}};
    s.outputs = {{"logits", DType::kFloat32, {-1, 3}, true}};
    s.max_batch_size = 8;
    return s;
  }();
  static const ModelSignature mixed = [] {
    ModelSignature s;
    s.inputs = {{"a", DType::kInt64, {-1, 2}, true},   {"b", DType::kBool, {2}, true},      {"c", DType::kUInt8, {-1}, true},
                {"d", DType::kFloat16, {2}, true},     {"e", DType::kString, {-1}, true},    {"f", DType::kInt8, {}, false},
                {"g", DType::kBFloat16, {1}, true},    {"h", DType::kFloat64, {1}, true},    {"i", DType::kUInt64, {1}, true}};
    s.outputs = {{"o", DType::kFloat32, {}, false}, {"p", DType::kString, {}, false}};
    return s;
  }();
  return which % 2 ? mixed : image;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // Byte 0: signature; bytes 1-2: header length (0xffff: no Inference-Header-Content-Length).
  const ModelSignature& sig = signature(data[0]);
  const size_t hl = static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8);
  const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
  std::optional<size_t> header_length;
  if (hl != 0xffff) header_length = hl;
  try {
    const InferRequest req = parse_infer_request(body, header_length, sig);
    // Echo the inputs as outputs where they fit, to exercise the encoder on parsed values.
    std::vector<Tensor> outputs;
    for (size_t i = 0; i < sig.outputs.size(); ++i)
      outputs.push_back(i < req.inputs.size() ? req.inputs[i] : Tensor(DType::kFloat32, {1}));
    encode_infer_response("m", "1", req, sig, outputs);
  } catch (const RequestError&) {
  }
  return 0;
}
