#include "serve/model_repository.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace edgerun::serve {
namespace fs = std::filesystem;
namespace {

void destroy_version(ServedVersion* v, std::shared_ptr<std::atomic<int>> live) {
  // The last holder may be a job's completion callback on this version's own worker thread;
  // destroying the batcher there would join that thread from itself.
  if (DynamicBatcher::on_worker_thread()) {
    std::thread([v, live] {
      delete v;
      live->fetch_sub(1);
    }).detach();
    return;
  }
  delete v;
  live->fetch_sub(1);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIo, "cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str().size() > (1 << 20)) throw Error(ErrorCode::kIo, p.string() + " is larger than 1 MiB");
  return ss.str();
}

// Numeric version folders holding a model.onnx.
std::vector<int64_t> scan_versions(const fs::path& dir) {
  std::vector<int64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.empty() || n.size() > 18 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    std::error_code ec2;
    if (fs::is_regular_file(it->path() / "model.onnx", ec2)) out.push_back(std::stoll(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string file_stamp(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  const auto time = fs::last_write_time(p, ec);
  return std::to_string(size) + ":" + std::to_string(time.time_since_epoch().count());
}

}  // namespace

bool ModelRepository::valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

ModelRepository::ModelRepository(std::string root, RepositoryOptions options, MetricsRegistry& metrics)
    : root_(std::move(root)), options_(options), metrics_(metrics) {}

ModelRepository::~ModelRepository() { shutdown(); }

std::vector<std::string> ModelRepository::load_all() {
  std::vector<std::string> names, failures;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) throw Error(ErrorCode::kIo, "model repository '" + root_ + "' is not a directory");
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    const std::string n = it->path().filename().string();
    if (valid_model_name(n) && fs::is_directory(it->path(), ec2)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    try {
      load(n);
    } catch (const std::exception& e) {
      failures.push_back(e.what());
    }
  }
  return failures;
}

std::shared_ptr<const ServedVersion> ModelRepository::load_version(const std::string& name, int64_t version,
                                                                   const std::string& path, const ModelConfig& config) {
  const std::string label = "model '" + name + "' version " + std::to_string(version);
  std::shared_ptr<Model> model;
  try {
    model = Model::load(path);
  } catch (const Error& e) {
    throw Error(e.code(), label + ": " + e.what());
  }
  ModelSignature sig = make_signature(*model, config, name);
  BatcherOptions b;
  b.instance_count = config.instance_count;
  b.threads_per_instance = options_.threads_per_instance;
  b.max_batch_size = config.max_batch_size;
  b.dynamic_batching = config.dynamic_batching.enabled;
  b.max_queue_delay_us = config.dynamic_batching.max_queue_delay_us;
  b.preferred_batch_size = config.dynamic_batching.preferred_batch_size;
  b.max_queue_size = config.dynamic_batching.max_queue_size > 0 ? static_cast<size_t>(config.dynamic_batching.max_queue_size)
                                                                 : options_.default_max_queue_size;
  auto metrics = metrics_.get(name, version);
  auto batcher = std::make_unique<DynamicBatcher>(model, b, metrics, label);
  auto* v = new ServedVersion;
  live_->fetch_add(1);
  v->model_name = name;
  v->version = version;
  v->version_text = std::to_string(version);
  v->path = path;
  v->config = config;
  v->signature = std::move(sig);
  v->metrics = std::move(metrics);
  v->batcher = std::move(batcher);
  auto live = live_;
  return std::shared_ptr<const ServedVersion>(
      v, [live](const ServedVersion* p) { destroy_version(const_cast<ServedVersion*>(p), live); });
}

void ModelRepository::load(const std::string& name) {
  if (!valid_model_name(name)) throw RepositoryError(400, "invalid model name '" + name + "'");
  std::lock_guard<std::mutex> load_lock(load_mu_);
  const fs::path dir = fs::path(root_) / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw RepositoryError(404, "model '" + name + "' is not in the repository " + root_);

  const auto fail_model = [&](const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = models_[name];
    e.wanted = true;
    if (e.served.empty()) e.states[0] = {"UNAVAILABLE", reason};
    throw RepositoryError(400, "failed to load model '" + name + "': " + reason);
  };
  std::string config_text;
  ModelConfig config;
  try {
    const fs::path cfg = dir / "config.json";
    if (fs::exists(cfg, ec)) config_text = read_text(cfg);
    if (!config_text.empty()) config = parse_model_config(config_text, name);
  } catch (const Error& e) {
    fail_model(e.what());
  }
  const std::vector<int64_t> versions = select_versions(config.version_policy, scan_versions(dir));
  if (versions.empty()) fail_model("no version folder with a model.onnx matches the version policy");

  std::map<int64_t, std::shared_ptr<const ServedVersion>> old_served;
  std::map<int64_t, std::string> old_stamps;
  std::string old_config;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = models_[name];
    old_served = e.served;
    old_stamps = e.stamps;
    old_config = e.config_text;
    e.states.erase(0);
    for (int64_t v : versions)
      if (!e.served.count(v)) e.states[v] = {"LOADING", ""};
  }
  std::map<int64_t, std::shared_ptr<const ServedVersion>> served;
  std::map<int64_t, std::string> stamps, failures;
  for (int64_t v : versions) {
    const fs::path file = dir / std::to_string(v) / "model.onnx";
    const std::string stamp = file_stamp(file);
    auto old = old_served.find(v);
    if (old != old_served.end() && old_stamps[v] == stamp && old_config == config_text) {
      served[v] = old->second;  // unchanged: keep serving the loaded one
    } else {
      try {
        served[v] = load_version(name, v, file.string(), config);
      } catch (const std::exception& e) {
        failures[v] = e.what();
      }
    }
    stamps[v] = stamp;
  }

  std::map<int64_t, std::shared_ptr<const ServedVersion>> retired;
  std::string error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = models_[name];
    e.wanted = true;
    if (!failures.empty()) {
      // Keep serving what was served; report the versions that failed.
      for (int64_t v : versions) {
        if (failures.count(v))
          e.states[v] = {"UNAVAILABLE", failures[v]};
        else if (e.served.count(v))
          e.states[v] = {"READY", ""};
        else
          e.states.erase(v);
      }
      for (const auto& f : failures) error += (error.empty() ? "" : "; ") + f.second;
      retired = std::move(served);  // loaded ones not swapped in
    } else {
      retired = std::move(e.served);
      e.served = served;
      e.stamps = stamps;
      e.config_text = config_text;
      e.states.clear();
      for (const auto& s : served) {
        e.states[s.first] = {"READY", ""};
        s.second->metrics->ready.store(1);
        retired.erase(s.first);
      }
      for (const auto& r : retired) {
        e.states[r.first] = {"UNAVAILABLE", "unloaded"};
        r.second->metrics->ready.store(0);
      }
    }
  }
  // Dropping the retired versions waits for their queued jobs; in-flight requests keep theirs alive.
  retired.clear();
  if (!error.empty()) throw RepositoryError(400, "failed to load model '" + name + "': " + error);
}

void ModelRepository::unload(const std::string& name) {
  if (!valid_model_name(name)) throw RepositoryError(400, "invalid model name '" + name + "'");
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::map<int64_t, std::shared_ptr<const ServedVersion>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      std::error_code ec;
      if (!fs::is_directory(fs::path(root_) / name, ec)) throw RepositoryError(404, "unknown model '" + name + "'");
      return;  // known on disk, never loaded: nothing to do
    }
    Entry& e = it->second;
    e.wanted = false;
    retired = std::move(e.served);
    e.served.clear();
    e.stamps.clear();
    e.config_text.clear();
    e.states.clear();
    for (const auto& r : retired) {
      e.states[r.first] = {"UNAVAILABLE", "unloaded"};
      r.second->metrics->ready.store(0);
    }
  }
  retired.clear();
}

std::shared_ptr<const ServedVersion> ModelRepository::find(const std::string& name, std::optional<int64_t> version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) throw RepositoryError(404, "unknown model '" + name + "'");
  const Entry& e = it->second;
  if (version) {
    auto v = e.served.find(*version);
    if (v != e.served.end()) return v->second;
    auto s = e.states.find(*version);
    if (s != e.states.end())
      throw RepositoryError(503, "model '" + name + "' version " + std::to_string(*version) + " is not ready (" +
                                     s->second.state + (s->second.reason.empty() ? "" : ": " + s->second.reason) + ")");
    throw RepositoryError(404, "model '" + name + "' has no version " + std::to_string(*version));
  }
  if (e.served.empty()) {
    std::string reason;
    for (const auto& s : e.states)
      if (!s.second.reason.empty()) reason = s.second.reason;
    throw RepositoryError(503, "model '" + name + "' has no ready version" + (reason.empty() ? "" : " (" + reason + ")"));
  }
  return e.served.rbegin()->second;
}

std::vector<std::shared_ptr<const ServedVersion>> ModelRepository::ready_versions(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) throw RepositoryError(404, "unknown model '" + name + "'");
  std::vector<std::shared_ptr<const ServedVersion>> out;
  for (const auto& s : it->second.served) out.push_back(s.second);
  return out;
}

std::vector<IndexEntry> ModelRepository::index(bool ready_only) const {
  std::vector<std::string> on_disk;
  std::error_code ec;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    const std::string n = it->path().filename().string();
    if (valid_model_name(n) && fs::is_directory(it->path(), ec2)) on_disk.push_back(n);
  }
  std::vector<IndexEntry> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : on_disk)
    if (!models_.count(n) && !ready_only) out.push_back({n, "", "UNAVAILABLE", "not loaded"});
  for (const auto& m : models_) {
    if (m.second.states.empty() && !ready_only) out.push_back({m.first, "", "UNAVAILABLE", "unloaded"});
    for (const auto& s : m.second.states) {
      if (ready_only && s.second.state != "READY") continue;
      out.push_back({m.first, s.first > 0 ? std::to_string(s.first) : "", s.second.state, s.second.reason});
    }
  }
  std::sort(out.begin(), out.end(), [](const IndexEntry& a, const IndexEntry& b) {
    return a.name != b.name ? a.name < b.name : a.version.size() != b.version.size() ? a.version.size() < b.version.size()
                                                                                      : a.version < b.version;
  });
  return out;
}

bool ModelRepository::all_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : models_)
    if (m.second.wanted && m.second.served.empty()) return false;
  return true;
}

void ModelRepository::shutdown() {
  std::map<std::string, Entry> models;
  {
    std::lock_guard<std::mutex> load_lock(load_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    models.swap(models_);
  }
  models.clear();
  // Versions released on worker threads are destroyed on helper threads: wait for them (bounded).
  for (int i = 0; i < 1000 && live_->load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace edgerun::serve
