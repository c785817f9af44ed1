// ONNX protobuf -> edgerun IR.
#pragma once
#include <memory>
#include <string>

#include "edgerun/tensor.h"
#include "ir/graph.h"

namespace onnx { class TensorProto; }

namespace edgerun {

// Converts a TensorProto (typed fields, raw_data or external data under base_dir). Throws Error.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir);

// Reads a serialized TensorProto file (the conformance .pb format).
Tensor load_tensor_pb(const std::string& path, std::string* name = nullptr);
// Writes a tensor as a serialized TensorProto.
void save_tensor_pb(const Tensor& t, const std::string& name, const std::string& path);

}  // namespace edgerun
