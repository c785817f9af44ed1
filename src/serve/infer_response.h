// Encodes inference results as the protocol's response: a JSON object, followed by binary tensor
// data for the outputs that asked for it (then the JSON length goes in Inference-Header-Content-Length).
#pragma once
#include <string>
#include <vector>

#include "edgerun/tensor.h"
#include "serve/infer_request.h"
#include "serve/model_signature.h"

namespace edgerun::serve {

struct EncodedResponse {
  std::string body;
  size_t json_length = 0;   // bytes of JSON at the start of body
  bool has_binary = false;  // body continues with binary data after the JSON
};

// `outputs` are all model outputs in model order, as Session::run returns them.
EncodedResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                      const InferRequest& request, const ModelSignature& sig,
                                      const std::vector<Tensor>& outputs);

// {"error": "..."} with the message escaped (and invalid UTF-8 replaced).
std::string error_json(const std::string& message);

}  // namespace edgerun::serve
