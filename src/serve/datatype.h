// Datatype names of the Open Inference Protocol ("FP32") and Triton model configs ("TYPE_FP32").
#pragma once
#include <string_view>

#include "edgerun/tensor.h"

namespace edgerun::serve {

// The protocol name of an edgerun dtype ("FP32", "BYTES" for strings); "" when there is none.
const char* protocol_datatype(DType t);
// Parses a protocol datatype name; kUndefined when unknown.
DType dtype_from_protocol(std::string_view name);
// Parses a Triton config data_type ("TYPE_FP32", "TYPE_STRING"); kUndefined when unknown.
DType dtype_from_config(std::string_view name);

}  // namespace edgerun::serve
