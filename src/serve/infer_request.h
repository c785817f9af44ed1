// The inference request parser: turns the body of POST .../infer (JSON, or a JSON header followed by
// binary tensor data per Triton's binary data extension) and the model's signature into validated
// input tensors. A pure function with no I/O, so it can be fuzzed on its own.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "edgerun/tensor.h"
#include "serve/model_signature.h"

namespace edgerun::serve {

// A request the server must refuse, with the HTTP status to answer (400, 413, ...).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct RequestedOutput {
  size_t index = 0;     // into ModelSignature::outputs
  bool binary = false;  // send as binary data after the JSON header
};

struct InferRequest {
  std::string id;  // echoed in the response when has_id
  bool has_id = false;
  std::vector<Tensor> inputs;            // in ModelSignature::inputs order, all present
  std::vector<RequestedOutput> outputs;  // in response order; every model output when none were named
  int64_t timeout_us = 0;                // parameters.timeout (microseconds); 0: none given
  int64_t batch_size = 0;                // dimension 0 of the inputs when the model batches, else 0
};

// Parses the value of an Inference-Header-Content-Length header (decimal, no sign). Throws RequestError.
size_t parse_header_length(std::string_view value);

// `json_length`: the Inference-Header-Content-Length value when the header was sent (the JSON part
// is body[0, json_length) and binary tensor data follows), nullopt for a plain JSON body.
// Throws RequestError (status 400) naming the offending input and what was expected.
InferRequest parse_infer_request(std::string_view body, std::optional<size_t> json_length, const ModelSignature& sig);

}  // namespace edgerun::serve
