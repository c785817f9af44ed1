// Errors carry their context: which model, which node (name and op), what was expected, what was found.
#pragma once
#include <stdexcept>
#include <string>

namespace edgerun {

enum class ErrorCode {
  kInvalidModel,     // file is not a valid ONNX model (truncated, corrupt, cyclic, dangling edge)
  kUnsupported,      // valid model using something edgerun does not implement
  kInvalidArgument,  // bad user input: wrong name, shape, dtype, missing input
  kRuntime,          // failure while executing a node
  kIo,               // file could not be read or written
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace edgerun
