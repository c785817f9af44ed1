#include "serve/model_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "serve/datatype.h"

namespace edgerun::serve {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& model, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "model '" + model + "' config.json: " + what);
}

void only_keys(const json& obj, const std::set<std::string>& allowed, const std::string& model,
               const std::string& where) {
  if (!obj.is_object()) fail(model, where + " must be an object");
  for (const auto& item : obj.items())
    if (!allowed.count(item.key())) fail(model, "unknown field '" + item.key() + "' in " + where);
}

int64_t get_int(const json& v, const std::string& model, const std::string& field, int64_t min_value) {
  if (!v.is_number_integer()) fail(model, field + " must be an integer");
  const int64_t x = v.get<int64_t>();
  if (x < min_value) fail(model, field + " must be >= " + std::to_string(min_value) + ", got " + std::to_string(x));
  return x;
}

std::vector<int64_t> get_int_list(const json& v, const std::string& model, const std::string& field,
                                  int64_t min_value) {
  if (!v.is_array()) fail(model, field + " must be a list of integers");
  std::vector<int64_t> out;
  for (const auto& x : v) out.push_back(get_int(x, model, field + "[]", min_value));
  return out;
}

VersionPolicy parse_policy(const json& v, const std::string& model) {
  VersionPolicy p;
  only_keys(v, {"latest", "all", "specific"}, model, "version_policy");
  if (v.size() != 1) fail(model, "version_policy needs exactly one of latest, all, specific");
  if (v.contains("latest")) {
    only_keys(v["latest"], {"num_versions"}, model, "version_policy.latest");
    p.kind = VersionPolicy::Kind::kLatest;
    if (v["latest"].contains("num_versions"))
      p.num_versions = get_int(v["latest"]["num_versions"], model, "version_policy.latest.num_versions", 1);
  } else if (v.contains("all")) {
    only_keys(v["all"], {}, model, "version_policy.all");
    p.kind = VersionPolicy::Kind::kAll;
  } else {
    only_keys(v["specific"], {"versions"}, model, "version_policy.specific");
    p.kind = VersionPolicy::Kind::kSpecific;
    if (!v["specific"].contains("versions")) fail(model, "version_policy.specific needs versions");
    p.versions = get_int_list(v["specific"]["versions"], model, "version_policy.specific.versions", 1);
    if (p.versions.empty()) fail(model, "version_policy.specific.versions is empty");
  }
  return p;
}

std::vector<TensorConfig> parse_tensors(const json& v, const std::string& model, const std::string& field) {
  if (!v.is_array()) fail(model, field + " must be a list");
  std::vector<TensorConfig> out;
  for (const auto& t : v) {
    only_keys(t, {"name", "data_type", "dims"}, model, field + "[]");
    TensorConfig c;
    if (!t.contains("name") || !t["name"].is_string()) fail(model, field + "[] needs a string name");
    c.name = t["name"].get<std::string>();
    if (t.contains("data_type")) {
      if (!t["data_type"].is_string()) fail(model, field + " '" + c.name + "': data_type must be a string");
      c.dtype = dtype_from_config(t["data_type"].get<std::string>());
      if (c.dtype == DType::kUndefined)
        fail(model, field + " '" + c.name + "': unknown data_type '" + t["data_type"].get<std::string>() + "'");
    }
    if (t.contains("dims")) {
      c.dims = get_int_list(t["dims"], model, field + " '" + c.name + "' dims", -1);
      c.has_dims = true;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

ModelConfig parse_model_config(std::string_view json_text, const std::string& model_name) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) fail(model_name, "not valid JSON");
  only_keys(root,
            {"name", "platform", "backend", "version_policy", "max_batch_size", "dynamic_batching",
             "instance_group", "instance_count", "input", "output"},
            model_name, "the top level");
  ModelConfig c;
  if (root.contains("name") && (!root["name"].is_string() || root["name"].get<std::string>() != model_name))
    fail(model_name, "name must match the folder name '" + model_name + "'");
  for (const char* key : {"platform", "backend"})
    if (root.contains(key)) {
      const auto& v = root[key];
      if (!v.is_string() || (v != "onnx" && v != "onnxruntime_onnx" && v != "onnxruntime" && v != "edgerun"))
        fail(model_name, std::string(key) + " must be \"onnx\" (edgerun serves ONNX models)");
    }
  if (root.contains("version_policy")) c.version_policy = parse_policy(root["version_policy"], model_name);
  if (root.contains("max_batch_size")) c.max_batch_size = get_int(root["max_batch_size"], model_name, "max_batch_size", 0);
  if (root.contains("dynamic_batching")) {
    const auto& d = root["dynamic_batching"];
    only_keys(d, {"max_queue_delay_microseconds", "preferred_batch_size", "max_queue_size", "default_queue_policy"},
              model_name, "dynamic_batching");
    c.dynamic_batching.enabled = true;
    if (d.contains("max_queue_delay_microseconds"))
      c.dynamic_batching.max_queue_delay_us =
          get_int(d["max_queue_delay_microseconds"], model_name, "dynamic_batching.max_queue_delay_microseconds", 0);
    if (d.contains("preferred_batch_size"))
      c.dynamic_batching.preferred_batch_size =
          get_int_list(d["preferred_batch_size"], model_name, "dynamic_batching.preferred_batch_size", 1);
    if (d.contains("max_queue_size"))
      c.dynamic_batching.max_queue_size = get_int(d["max_queue_size"], model_name, "dynamic_batching.max_queue_size", 0);
    if (d.contains("default_queue_policy")) {
      const auto& q = d["default_queue_policy"];
      only_keys(q, {"max_queue_size", "default_timeout_microseconds"}, model_name,
                "dynamic_batching.default_queue_policy");
      if (q.contains("max_queue_size"))
        c.dynamic_batching.max_queue_size =
            get_int(q["max_queue_size"], model_name, "dynamic_batching.default_queue_policy.max_queue_size", 0);
      if (q.contains("default_timeout_microseconds"))
        c.dynamic_batching.default_timeout_us = get_int(
            q["default_timeout_microseconds"], model_name, "dynamic_batching.default_queue_policy.default_timeout_microseconds", 0);
    }
    if (c.max_batch_size == 0) fail(model_name, "dynamic_batching needs max_batch_size > 0");
    for (int64_t p : c.dynamic_batching.preferred_batch_size)
      if (p > c.max_batch_size)
        fail(model_name, "preferred_batch_size " + std::to_string(p) + " exceeds max_batch_size " +
                             std::to_string(c.max_batch_size));
  }
  if (root.contains("instance_group")) {
    const auto& g = root["instance_group"];
    if (!g.is_array() || g.empty()) fail(model_name, "instance_group must be a non-empty list");
    int64_t total = 0;
    for (const auto& grp : g) {
      only_keys(grp, {"count", "kind", "name"}, model_name, "instance_group[]");
      if (grp.contains("kind") && grp["kind"] != "KIND_CPU" && grp["kind"] != "KIND_AUTO")
        fail(model_name, "instance_group kind must be KIND_CPU");
      total += grp.contains("count") ? get_int(grp["count"], model_name, "instance_group[].count", 1) : 1;
    }
    if (total > 64) fail(model_name, "instance_group asks for " + std::to_string(total) + " instances (at most 64)");
    c.instance_count = static_cast<int>(total);
  }
  if (root.contains("instance_count")) {
    if (root.contains("instance_group")) fail(model_name, "give instance_group or instance_count, not both");
    c.instance_count = static_cast<int>(std::min<int64_t>(get_int(root["instance_count"], model_name, "instance_count", 1), 65));
    if (c.instance_count > 64) fail(model_name, "instance_count must be at most 64");
  }
  if (root.contains("input")) c.inputs = parse_tensors(root["input"], model_name, "input");
  if (root.contains("output")) c.outputs = parse_tensors(root["output"], model_name, "output");
  return c;
}

std::vector<int64_t> select_versions(const VersionPolicy& policy, std::vector<int64_t> available) {
  std::sort(available.begin(), available.end());
  available.erase(std::unique(available.begin(), available.end()), available.end());
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return available;
    case VersionPolicy::Kind::kLatest: {
      const size_t n = std::min<size_t>(available.size(), static_cast<size_t>(policy.num_versions));
      return {available.end() - static_cast<std::ptrdiff_t>(n), available.end()};
    }
    case VersionPolicy::Kind::kSpecific: {
      std::vector<int64_t> out;
      for (int64_t v : available)
        if (std::find(policy.versions.begin(), policy.versions.end(), v) != policy.versions.end()) out.push_back(v);
      return out;
    }
  }
  return {};
}

namespace {

TensorSpec spec_of(const ValueDesc& d) {
  TensorSpec s;
  s.name = d.name;
  s.dtype = d.dtype;
  s.has_shape = d.has_shape;
  for (const auto& dim : d.dims) s.shape.push_back(dim.value >= 0 ? dim.value : -1);
  return s;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Checks a config entry against the model's declaration and narrows dynamic dims the config fixes.
void apply_config(std::vector<TensorSpec>& specs, const std::vector<TensorConfig>& configs, int64_t max_batch_size,
                  const std::string& model, const char* kind) {
  for (const auto& c : configs) {
    auto it = std::find_if(specs.begin(), specs.end(), [&](const TensorSpec& s) { return s.name == c.name; });
    if (it == specs.end()) {
      std::string names;
      for (const auto& s : specs) names += (names.empty() ? "" : ", ") + s.name;
      fail(model, std::string(kind) + " '" + c.name + "' is not in the model (it has: " + names + ")");
    }
    if (c.dtype != DType::kUndefined && c.dtype != it->dtype)
      fail(model, std::string(kind) + " '" + c.name + "': data_type " + protocol_datatype(c.dtype) +
                      " but the model has " + dtype_name(it->dtype));
    if (!c.has_dims || !it->has_shape) continue;
    const size_t offset = max_batch_size > 0 ? 1 : 0;
    if (it->shape.size() != c.dims.size() + offset)
      fail(model, std::string(kind) + " '" + c.name + "': dims " + dims_str(c.dims) + " do not match the model's " +
                      dims_str(it->shape) + (offset ? " (dims exclude the batch dimension)" : ""));
    for (size_t i = 0; i < c.dims.size(); ++i) {
      int64_t& m = it->shape[i + offset];
      if (c.dims[i] >= 0 && m >= 0 && c.dims[i] != m)
        fail(model, std::string(kind) + " '" + c.name + "': dims " + dims_str(c.dims) + " do not match the model's " +
                        dims_str(it->shape));
      if (m < 0) m = c.dims[i];
    }
  }
}

}  // namespace

ModelSignature make_signature(const Model& model, const ModelConfig& config, const std::string& model_name) {
  ModelSignature sig;
  sig.max_batch_size = config.max_batch_size;
  for (const auto& in : model.inputs()) sig.inputs.push_back(spec_of(in));
  for (const auto& out : model.outputs()) sig.outputs.push_back(spec_of(out));
  for (const auto& s : sig.inputs)
    if (protocol_datatype(s.dtype)[0] == '\0')
      fail(model_name, "input '" + s.name + "' has dtype " + dtype_name(s.dtype) + ", which the protocol cannot carry");
  if (config.max_batch_size > 0) {
    // Batching splits and joins tensors along dimension 0, which must therefore be dynamic.
    for (const auto* list : {&sig.inputs, &sig.outputs})
      for (const auto& s : *list)
        if (s.has_shape && (s.shape.empty() || s.shape[0] >= 0))
          fail(model_name, "max_batch_size > 0 needs a dynamic first (batch) dimension, but '" + s.name + "' is " +
                               dims_str(s.shape));
  }
  apply_config(sig.inputs, config.inputs, config.max_batch_size, model_name, "input");
  apply_config(sig.outputs, config.outputs, config.max_batch_size, model_name, "output");
  return sig;
}

}  // namespace edgerun::serve
