// edgerun IR -> ONNX protobuf, so tools (quantize, convert) write standard files other runtimes read.
#pragma once
#include <string>

#include "ir/graph.h"

namespace edgerun {

// Serializes `g` (with its subgraphs and opset imports) as an ONNX ModelProto.
std::string serialize_model(const Graph& g, const std::string& producer = "edgerun");
// Writes the model to `path` through a temporary file renamed into place, so a failed write never
// leaves a truncated model behind. Throws Error(kIo).
void save_model(const Graph& g, const std::string& path, const std::string& producer = "edgerun");

}  // namespace edgerun
