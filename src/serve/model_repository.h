// The model repository (Triton/OpenVINO layout): DIR/<model>/<version>/model.onnx with an optional
// DIR/<model>/config.json. Loads, reloads and unloads models; serving continues on the versions
// already loaded while a load runs, and new versions are swapped in atomically. A request holds a
// shared_ptr to its version, so it finishes on the version it started with.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "edgerun/session.h"
#include "serve/dynamic_batcher.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "serve/model_signature.h"

namespace edgerun::serve {

// One loaded model version, ready to serve.
struct ServedVersion {
  std::string model_name;
  int64_t version = 0;
  std::string version_text;  // version as a string, for responses
  std::string path;
  ModelConfig config;
  ModelSignature signature;
  std::shared_ptr<ModelMetrics> metrics;
  std::unique_ptr<DynamicBatcher> batcher;
};

// A failure the HTTP layer reports with this status (404 unknown model, 400 failed load, ...).
class RepositoryError : public std::runtime_error {
 public:
  RepositoryError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct RepositoryOptions {
  int threads_per_instance = 1;   // SessionOptions::num_threads for every session
  size_t default_max_queue_size = 1024;
};

struct IndexEntry {
  std::string name;
  std::string version;  // empty for a model folder with no version known
  std::string state;    // READY, LOADING, UNAVAILABLE
  std::string reason;
};

class ModelRepository {
 public:
  ModelRepository(std::string root, RepositoryOptions options, MetricsRegistry& metrics);
  ~ModelRepository();

  // Loads every model folder; failures are recorded in the index (and returned as messages).
  std::vector<std::string> load_all();
  // (Re)reads DIR/<name>: loads new or changed versions, then swaps the served set at once and
  // drops versions the policy no longer selects. On any failure the served set is left unchanged.
  // Blocks until done; throws RepositoryError. Loads are serialized.
  void load(const std::string& name);
  void unload(const std::string& name);

  // The version to serve: the given one, or the highest ready version. Throws RepositoryError
  // (404 unknown model or version, 503 known but not ready).
  std::shared_ptr<const ServedVersion> find(const std::string& name, std::optional<int64_t> version) const;
  // Every ready version of a model (ascending); throws RepositoryError 404 when the model is unknown.
  std::vector<std::shared_ptr<const ServedVersion>> ready_versions(const std::string& name) const;
  std::vector<IndexEntry> index(bool ready_only) const;
  // True when every model that was asked to be loaded serves at least one version.
  bool all_ready() const;
  // Drops every model; waits for versions still held by requests to be destroyed.
  void shutdown();

  static bool valid_model_name(const std::string& name);

 private:
  struct VersionState {
    std::string state;
    std::string reason;
  };
  struct Entry {
    bool wanted = false;  // load requested and not unloaded since
    std::string config_text;
    std::map<int64_t, std::string> stamps;  // file size + mtime of each served version
    std::map<int64_t, std::shared_ptr<const ServedVersion>> served;
    std::map<int64_t, VersionState> states;
  };
  std::shared_ptr<const ServedVersion> load_version(const std::string& name, int64_t version, const std::string& path,
                                                    const ModelConfig& config);

  std::string root_;
  RepositoryOptions options_;
  MetricsRegistry& metrics_;
  std::mutex load_mu_;  // one load or unload at a time
  mutable std::mutex mu_;  // guards models_
  std::map<std::string, Entry> models_;
  // Versions of this repository alive anywhere (served, or held by a request); shutdown waits for 0.
  std::shared_ptr<std::atomic<int>> live_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace edgerun::serve
