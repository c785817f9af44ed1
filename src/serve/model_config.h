// The optional DIR/<model>/config.json of a model repository: Triton's model configuration
// fields in JSON (version_policy, max_batch_size, dynamic_batching, instance_group, input, output).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgerun/session.h"
#include "serve/model_signature.h"

namespace edgerun::serve {

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t num_versions = 1;       // kLatest
  std::vector<int64_t> versions;  // kSpecific
};

struct DynamicBatching {
  bool enabled = false;
  int64_t max_queue_delay_us = 0;             // max_queue_delay_microseconds
  std::vector<int64_t> preferred_batch_size;  // run at once when a batch reaches one of these
  int64_t max_queue_size = 0;                 // 0: the server default
  int64_t default_timeout_us = 0;             // default_queue_policy.default_timeout_microseconds
};

// A declared input or output; dims exclude the batch dimension when max_batch_size > 0 (as in Triton).
struct TensorConfig {
  std::string name;
  DType dtype = DType::kUndefined;  // kUndefined: not given
  std::vector<int64_t> dims;
  bool has_dims = false;
};

struct ModelConfig {
  VersionPolicy version_policy;
  int64_t max_batch_size = 0;
  DynamicBatching dynamic_batching;
  int instance_count = 1;  // instance_group[].count summed, or instance_count
  std::vector<TensorConfig> inputs, outputs;
};

// Parses config.json text. Unknown fields are errors (they are usually typos). Throws Error
// (kInvalidArgument) naming the model and the field.
ModelConfig parse_model_config(std::string_view json_text, const std::string& model_name);

// The versions to serve out of those present in the repository, ascending.
std::vector<int64_t> select_versions(const VersionPolicy& policy, std::vector<int64_t> available);

// The protocol signature of a loaded model under its config; checks the config's inputs, outputs
// and max_batch_size against the model. Throws Error (kInvalidArgument) with the mismatch.
ModelSignature make_signature(const Model& model, const ModelConfig& config, const std::string& model_name);

}  // namespace edgerun::serve
