// `edgerun bench`: see bench.h. Timings use steady_clock; every timed inference is one
// Session::run() call on inputs prepared ahead of time.
#include "tools/edgerun/bench.h"

#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "ir/graph.h"
#include "kernels/common.h"
#include "tools/edgerun/default_model.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace edgerun::cli {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

namespace {

// Power drawn by one fully busy CPU core, used to estimate energy when RAPL counters cannot be
// read: energy = process CPU time (user + system) x this figure. It is the package power rating
// divided by the core count of common parts, rounded: e.g. a 65 W 8-core desktop CPU is about
// 8 W per core, a 15 W 4-core laptop CPU about 4 W, a 6 W 4-core Arm board (Raspberry Pi 4 class)
// about 1.5 W. 5 W sits in the middle of the x86 range; treat the estimate as order-of-magnitude.
constexpr double kWattsPerBusyCore = 5.0;
constexpr const char* kEnergyEstimateNote =
    "estimate: process CPU time (user+sys) during timed runs x 5 W per busy core "
    "(package power rating / cores of typical x86 CPUs)";

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// ---- process memory (/proc/self/status, values in kB) ----

int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  const std::string prefix = std::string(key) + ":";
  for (std::string line; std::getline(f, line);)
    if (line.compare(0, prefix.size(), prefix) == 0) return std::stoll(line.substr(prefix.size()));
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the peak after the runs belongs to the benchmark.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

// ---- energy ----

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

struct RaplZone {
  std::string energy_file;
  uint64_t max_range_uj = 0;
  uint64_t start_uj = 0;
};

bool read_u64(const std::string& path, uint64_t& v) {
  std::ifstream f(path);
  return static_cast<bool>(f >> v);
}

// Top-level RAPL package zones (intel-rapl:N; sub-zones intel-rapl:N:M are parts of a package and
// would be counted twice) whose counters this process may read.
std::vector<RaplZone> open_rapl() {
  std::vector<RaplZone> zones;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/class/powercap", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("intel-rapl:", 0) != 0 || std::count(name.begin(), name.end(), ':') != 1) continue;
    RaplZone z;
    z.energy_file = (e.path() / "energy_uj").string();
    if (!read_u64((e.path() / "max_energy_range_uj").string(), z.max_range_uj)) continue;
    if (!read_u64(z.energy_file, z.start_uj)) continue;
    zones.push_back(z);
  }
  return zones;
}

// Joules used by all zones since open_rapl(), allowing one wraparound per zone; < 0 if a read failed.
double rapl_joules(const std::vector<RaplZone>& zones) {
  double uj = 0;
  for (const auto& z : zones) {
    uint64_t now = 0;
    if (!read_u64(z.energy_file, now)) return -1;
    uj += static_cast<double>(now >= z.start_uj ? now - z.start_uj : now + z.max_range_uj - z.start_uj);
  }
  return uj * 1e-6;
}

// ---- model and inputs ----

std::shared_ptr<Model> load_bench_model(const std::string& path) {
  if (path == "default") return Model::load_from_memory(default_model_data(), default_model_size());
  return Model::load(path);
}

Shape parse_dims(const std::string& text) {
  Shape s;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    size_t used = 0;
    long long d = -1;
    try {
      d = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || d < 0)
      throw Error(ErrorCode::kInvalidArgument, "bad dimension '" + item + "' in --shape '" + text + "'");
    s.push_back(d);
  }
  if (s.empty()) throw Error(ErrorCode::kInvalidArgument, "--shape '" + text + "' has no dimensions");
  return s;
}


Tensor random_tensor(DType dtype, const Shape& shape, std::mt19937_64& rng, const std::string& name) {
  Tensor t(dtype == DType::kUndefined ? DType::kFloat32 : dtype, shape);
  const int64_t n = t.numel();
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(0, 9), byte(0, 255), bit(0, 1);
  auto fill_int = [&](auto* p, std::uniform_int_distribution<int>& d) {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<std::remove_reference_t<decltype(*p)>>(d(rng));
  };
  switch (t.dtype()) {
    case DType::kFloat32: for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = real(rng); break;
    case DType::kFloat64: for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = real(rng); break;
    case DType::kFloat16: for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_half(real(rng)); break;
    case DType::kBFloat16: for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = float_to_bfloat16(real(rng)); break;
    case DType::kUInt8: fill_int(t.data<uint8_t>(), byte); break;
    case DType::kInt8: fill_int(t.data<int8_t>(), small); break;
    case DType::kUInt16: fill_int(t.data<uint16_t>(), small); break;
    case DType::kInt16: fill_int(t.data<int16_t>(), small); break;
    case DType::kInt32: fill_int(t.data<int32_t>(), small); break;
    case DType::kInt64: fill_int(t.data<int64_t>(), small); break;
    case DType::kUInt32: fill_int(t.data<uint32_t>(), small); break;
    case DType::kUInt64: fill_int(t.data<uint64_t>(), small); break;
    case DType::kBool: fill_int(t.data<bool>(), bit); break;
    default:
      throw Error(ErrorCode::kUnsupported, "input '" + name + "' has type " + dtype_name(t.dtype()) +
                                                ": give its data with --input " + name + "=FILE.npy");
  }
  return t;
}

Tensor load_tensor_any(const std::string& file) {
  std::string ext = fs::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".npy") return load_npy(file);
  if (ext == ".pb") return load_tensor_file(file);
  throw Error(ErrorCode::kInvalidArgument, "'" + file + "': unknown input format (use .npy or .pb)");
}

std::pair<std::string, std::string> split_binding(const std::string& spec, const char* what) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + " expects NAME=FILE, got '" + spec + "'");
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

// ---- accuracy ----

struct Accuracy {
  std::string output;
  int64_t elements = 0;
  double max_abs_err = 0, max_rel_err = 0;
  int64_t top1_rows = 0, top1_agree = 0;  // rows compared by argmax (0: not classifier-shaped)
};

// Relative error of one element: |actual - ref| / max(|ref|, kRelFloor), so that reference values near
// zero do not turn rounding noise into huge relative errors.
constexpr double kRelFloor = 1e-6;

Accuracy compare_output(const std::string& name, const Tensor& actual, const Tensor& ref) {
  if (actual.shape() != ref.shape())
    throw Error(ErrorCode::kInvalidArgument, "--reference " + name + ": reference shape " + shape_str(ref.shape()) +
                                                 " differs from the output shape " + shape_str(actual.shape()));
  if (actual.dtype() == DType::kString || ref.dtype() == DType::kString)
    throw Error(ErrorCode::kUnsupported, "--reference " + name + ": string outputs cannot be compared");
  const auto a = tensor_to_doubles(actual);
  const auto r = tensor_to_doubles(ref);
  Accuracy acc;
  acc.output = name;
  acc.elements = static_cast<int64_t>(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(a[i] - r[i]);
    if (std::isnan(d)) d = (std::isnan(a[i]) && std::isnan(r[i])) ? 0 : INFINITY;
    acc.max_abs_err = std::max(acc.max_abs_err, d);
    acc.max_rel_err = std::max(acc.max_rel_err, d / std::max(std::fabs(r[i]), kRelFloor));
  }
  // Classifier-shaped: [C] or [N, C] scores with C > 1; compare the argmax of every row.
  const Shape& s = actual.shape();
  if ((s.size() == 1 || s.size() == 2) && s.back() > 1) {
    const int64_t c = s.back();
    for (int64_t row = 0; row * c < acc.elements; ++row) {
      const auto ab = a.begin() + row * c, rb = r.begin() + row * c;
      acc.top1_agree += (std::max_element(ab, ab + c) - ab) == (std::max_element(rb, rb + c) - rb);
      ++acc.top1_rows;
    }
  }
  return acc;
}

// ---- progress bar ----

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  // fraction in [0, 1]; draws at most every 100 ms and only once the run looks longer than ~2 s.
  void update(double fraction, double elapsed_s) {
    if (!enabled_ || elapsed_s < 0.25) return;
    const double projected = fraction > 0 ? elapsed_s / fraction : 1e9;
    if (!drawn_ && projected < 2.0) return;
    if (drawn_ && elapsed_s - last_s_ < 0.1) return;
    last_s_ = elapsed_s;
    drawn_ = true;
    const int width = 30;
    const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width);
    std::fprintf(stderr, "\r[%s%s] %3.0f%%  %.1f s", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), 100.0 * std::clamp(fraction, 0.0, 1.0), elapsed_s);
    std::fflush(stderr);
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\r%60s\r", "");
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  double last_s_ = 0;
};

// ---- profile ----

struct OpRow {
  std::string name;  // op type, or node name for the node table
  std::string op_type;
  double total_ms = 0;
  int64_t calls = 0;
};

std::string node_label(const NodeProfile& p, size_t index) {
  return p.name.empty() ? p.op_type + "_" + std::to_string(index) : p.name;
}

// Writes all recorded node calls of a session as Chrome trace "complete" events (ts/dur in µs).
size_t write_trace(const std::string& path, const std::vector<NodeProfile>& prof, const std::string& model_name) {
  json events = json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1},
                    {"args", {{"name", "edgerun " + model_name}}}});
  size_t n = 0;
  for (size_t i = 0; i < prof.size(); ++i)
    for (size_t k = 0; k < prof[i].events.size(); ++k) {
      events.push_back({{"name", node_label(prof[i], i)}, {"cat", prof[i].op_type}, {"ph", "X"},
                        {"ts", prof[i].events[k].first}, {"dur", prof[i].events[k].second}, {"pid", 1}, {"tid", 1},
                        {"args", {{"op_type", prof[i].op_type}, {"run", k}}}});
      ++n;
    }
  std::ofstream f(path);
  if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot write trace file '" + path + "'");
  f << json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  if (!f) throw Error(ErrorCode::kInvalidArgument, "cannot write trace file '" + path + "'");
  return n;
}

// ---- one stream ----

struct Stream {
  std::unique_ptr<Session> session;
  std::vector<double> latencies_ms;
  Clock::time_point end;
  double slept_s = 0;  // --run-delay pauses
  std::exception_ptr error;
};

}  // namespace

std::map<std::string, Shape> resolve_shapes(const Model& m, const std::vector<std::string>& overrides) {
  std::map<std::string, Shape> given;
  for (const auto& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorCode::kInvalidArgument, "--shape expects NAME=d,d,..., got '" + o + "'");
    given[o.substr(0, eq)] = parse_dims(o.substr(eq + 1));
  }
  std::map<std::string, Shape> shapes;
  for (const auto& in : m.inputs()) {
    auto it = given.find(in.name);
    if (it == given.end()) {
      Shape s;
      for (const auto& d : in.dims) s.push_back(d.value >= 0 ? d.value : 1);
      shapes[in.name] = s;
      continue;
    }
    const Shape& s = it->second;
    if (in.has_shape) {
      if (s.size() != in.dims.size())
        throw Error(ErrorCode::kInvalidArgument, "--shape " + in.name + "=" + shape_str(s) + ": the input is declared as " +
                                                     in.str() + " (rank " + std::to_string(in.dims.size()) + ")");
      for (size_t i = 0; i < s.size(); ++i)
        if (in.dims[i].value >= 0 && in.dims[i].value != s[i])
          throw Error(ErrorCode::kInvalidArgument, "--shape " + in.name + "=" + shape_str(s) + ": dimension " +
                                                       std::to_string(i) + " is fixed to " +
                                                       std::to_string(in.dims[i].value) + " (" + in.str() + ")");
    }
    shapes[in.name] = s;
    given.erase(it);
  }
  if (!given.empty()) {
    std::string names;
    for (const auto& in : m.inputs()) names += (names.empty() ? "" : ", ") + in.name;
    throw Error(ErrorCode::kInvalidArgument, "--shape: the model has no input '" + given.begin()->first +
                                                 "' (inputs: " + names + ")");
  }
  return shapes;
}


CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  auto* b = app.add_subcommand("bench", "Benchmark a model: load time, latency percentiles, throughput, memory, "
                                         "energy, accuracy against references, per-op profile");
  b->add_option("model", o.model, "ONNX model file ('default' for the embedded model)")->required();
  b->add_option("--threads", o.threads, "Threads per session (default 1)")->check(CLI::Range(1, 256));
  b->add_option("--warmup", o.warmup, "Untimed runs after the first inference (default 2)")->check(CLI::Range(0, 1000000));
  b->add_option("--iters", o.iters, "Timed runs per stream")->check(CLI::Range(1, 100000000));
  b->add_option("--duration", o.duration_s, "Run for at least this many seconds (default: at least 20 runs and 2 s)")
      ->check(CLI::Range(0.0, 86400.0));
  b->add_option("--run-delay", o.run_delay_ms,
                "Milliseconds each stream pauses before each timed run, as between the frames of a camera (default 0)")
      ->check(CLI::Range(0.0, 3600000.0));
  b->add_option("--shape", o.shapes, "Input shape NAME=d,d,... (symbolic dims default to 1)");
  b->add_option("--streams", o.streams, "Concurrent sessions sharing the model, one thread each (default 1)")
      ->check(CLI::Range(1, 256));
  b->add_flag("--json", o.json, "Print one JSON object instead of the report");
  b->add_flag("--profile", o.profile, "Per-op timings and a Chrome trace file");
  b->add_option("--trace-file", o.trace_file, "Trace file written with --profile (default edgerun_trace.json)");
  b->add_option("--reference", o.references, "OUTPUT=FILE.npy: compare that output with reference values");
  b->add_option("--input,-i", o.inputs, "NAME=FILE (or FILE for a single-input model), .npy or .pb; default random");
  b->add_option("--seed", o.seed, "Seed of the random input data (default 1)");
  b->add_flag("!--no-progress", o.progress, "No progress bar on stderr");
  return b;
}

int run_bench(const BenchOptions& opt) {
  const bool timed_by_iters = opt.iters > 0, timed_by_duration = opt.duration_s > 0;
  const int min_iters = timed_by_iters ? opt.iters : (timed_by_duration ? 1 : 20);
  const double min_seconds = timed_by_duration ? opt.duration_s : (timed_by_iters ? 0.0 : 2.0);

  // Input files are read before the load is timed; names are bound once the model is known.
  std::vector<std::pair<std::string, Tensor>> file_inputs;  // name ("" for the only input), data
  for (const auto& spec : opt.inputs) {
    if (spec.find('=') == std::string::npos || fs::exists(spec)) {
      file_inputs.emplace_back("", load_tensor_any(spec));
    } else {
      auto [name, file] = split_binding(spec, "--input");
      file_inputs.emplace_back(name, load_tensor_any(file));
    }
  }

  // Load: Model::load + Session construction + planning for the benchmark shapes.
  reset_peak_rss();
  const int64_t rss_before_kb = status_kb("VmRSS");
  SessionOptions so;
  so.num_threads = opt.threads;
  const auto load_start = Clock::now();
  std::shared_ptr<Model> model = load_bench_model(opt.model);
  std::vector<Stream> streams(static_cast<size_t>(opt.streams));
  SessionOptions so0 = so;
  so0.profile = opt.profile;
  // A single stream hands the session the only reference, as an application would: the session then
  // frees the weights its kernels pack. Streams share one model.
  streams[0].session = std::make_unique<Session>(opt.streams == 1 ? std::move(model) : model, so0);
  const Model& m = streams[0].session->model();
  std::map<std::string, Shape> shapes = resolve_shapes(m, opt.shapes);
  std::map<std::string, Tensor> feeds;
  for (auto& [name, t] : file_inputs) {
    if (name.empty()) {
      if (m.inputs().size() != 1)
        throw Error(ErrorCode::kInvalidArgument, "the model has " + std::to_string(m.inputs().size()) +
                                                     " inputs: bind each with --input NAME=FILE");
      name = m.inputs()[0].name;
    }
    if (!shapes.count(name)) throw Error(ErrorCode::kInvalidArgument, "--input: the model has no input '" + name + "'");
    feeds[name] = t;
    shapes[name] = t.shape();
  }
  // The Session plans by itself when every declared dim is fixed; plan again only for other shapes.
  bool declared_plan = true;
  for (const auto& in : m.inputs()) {
    Shape declared;
    for (const auto& d : in.dims) declared.push_back(d.value);
    declared_plan = declared_plan && in.has_shape && declared == shapes.at(in.name);
  }
  if (!declared_plan) streams[0].session->plan(shapes);
  const double load_ms = ms_since(load_start);

  std::mt19937_64 rng(opt.seed);
  for (const auto& in : m.inputs())
    if (!feeds.count(in.name)) feeds[in.name] = random_tensor(in.dtype, shapes.at(in.name), rng, in.name);

  std::map<std::string, Tensor> references;
  for (const auto& spec : opt.references) {
    const auto binding = split_binding(spec, "--reference");
    const std::string& name = binding.first;
    const std::string& file = binding.second;
    const auto& outs = m.outputs();
    if (std::none_of(outs.begin(), outs.end(), [&](const ValueDesc& d) { return d.name == name; }))
      throw Error(ErrorCode::kInvalidArgument, "--reference: the model has no output '" + name + "'");
    references[name] = load_tensor_any(file);
  }
  if (!references.empty() && opt.inputs.size() < m.inputs().size())
    std::cerr << "warning: --reference with random inputs; give the reference's inputs with --input\n";

  const auto first_start = Clock::now();
  const std::vector<Tensor> first_outputs = streams[0].session->run(feeds);
  const double first_ms = ms_since(first_start);

  for (size_t k = 1; k < streams.size(); ++k) {
    streams[k].session = std::make_unique<Session>(model, so);
    if (!declared_plan) streams[k].session->plan(shapes);
  }

  // Timed phase: every stream warms up, then all start together.
  const bool show_progress = opt.progress && !opt.json && isatty(STDERR_FILENO);
  std::latch ready(opt.streams), go(1);
  std::atomic<int64_t> done_runs{0};
  std::atomic<int> finished{0};
  Clock::time_point start;
  std::vector<NodeProfile> profile_before;
  std::vector<std::thread> threads;
  for (size_t k = 0; k < streams.size(); ++k)
    threads.emplace_back([&, k] {
      Stream& s = streams[k];
      try {
        for (int i = 0; i < opt.warmup; ++i) s.session->run(feeds);
        if (k == 0 && opt.profile) profile_before = s.session->profile();
        s.latencies_ms.reserve(static_cast<size_t>(std::max(min_iters, 1000)));
      } catch (...) {
        s.error = std::current_exception();
      }
      ready.count_down();
      go.wait();
      if (!s.error) {
        try {
          for (int64_t i = 0;; ++i) {
            if (i >= min_iters && (min_seconds <= 0 || std::chrono::duration<double>(Clock::now() - start).count() >= min_seconds))
              break;
            if (opt.run_delay_ms > 0) {
              // The time actually slept (a sleep overshoots), as ort_bench.js counts it.
              const auto p0 = Clock::now();
              std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(opt.run_delay_ms));
              s.slept_s += std::chrono::duration<double>(Clock::now() - p0).count();
            }
            const auto t0 = Clock::now();
            s.session->run(feeds);
            s.latencies_ms.push_back(ms_since(t0));
            done_runs.fetch_add(1, std::memory_order_relaxed);
          }
        } catch (...) {
          s.error = std::current_exception();
        }
      }
      s.end = Clock::now();
      finished.fetch_add(1);
    });

  ready.wait();
  std::vector<RaplZone> rapl = open_rapl();
  const double cpu_start = cpu_seconds();
  start = Clock::now();
  go.count_down();
  Progress progress(show_progress);
  while (finished.load() < opt.streams) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    double frac = static_cast<double>(done_runs.load()) / (static_cast<double>(min_iters) * opt.streams);
    if (min_seconds > 0) frac = std::min(frac, elapsed / min_seconds);
    progress.update(frac, elapsed);
  }
  for (auto& t : threads) t.join();
  progress.finish();
  const double cpu_s = cpu_seconds() - cpu_start;
  const double rapl_j = rapl.empty() ? -1 : rapl_joules(rapl);
  for (const auto& s : streams)
    if (s.error) std::rethrow_exception(s.error);

  Clock::time_point end = start;
  std::vector<double> latencies;
  for (const auto& s : streams) {
    end = std::max(end, s.end);
    latencies.insert(latencies.end(), s.latencies_ms.begin(), s.latencies_ms.end());
  }
  const double wall_s = std::chrono::duration<double>(end - start).count();
  // With --run-delay the pauses are not part of the throughput: every stream pauses before each run,
  // so the least that one stream paused is time in which no stream ran.
  double slept_s = streams[0].slept_s;
  for (const auto& s : streams) slept_s = std::min(slept_s, s.slept_s);
  const double busy_s = wall_s - slept_s;
  const int64_t hwm_kb = status_kb("VmHWM");
  const double mem_mb = rss_before_kb >= 0 && hwm_kb >= 0 ? static_cast<double>(hwm_kb - rss_before_kb) * 1024.0 / 1e6 : 0;
  const auto total = static_cast<double>(latencies.size());
  const double throughput = busy_s > 0 ? total / busy_s : 0;
  const bool rapl_ok = rapl_j >= 0;
  const double energy_total_j = rapl_ok ? rapl_j : cpu_s * kWattsPerBusyCore;
  const double energy_j = total > 0 ? energy_total_j / total : 0;
  double mean = 0;
  for (double v : latencies) mean += v;
  mean = total > 0 ? mean / total : 0;
  const PlanStats& st = streams[0].session->stats();
  // Runs (first and warm-up ones included) that the sessions ran on one thread, faster while other
  // processes held the cores.
  Session::RunCounts thread_use;
  for (const auto& s : streams) {
    const Session::RunCounts c = s.session->run_counts();
    thread_use.runs += c.runs;
    thread_use.single_thread += c.single_thread;
  }

  std::vector<Accuracy> accuracy;
  for (const auto& entry : references) {
    const std::string& name = entry.first;
    const Tensor& ref = entry.second;
    const auto& outs = m.outputs();
    const size_t idx = std::find_if(outs.begin(), outs.end(), [&](const ValueDesc& d) { return d.name == name; }) - outs.begin();
    accuracy.push_back(compare_output(name, first_outputs[idx], ref));
  }

  // Profile of the timed runs: totals after minus totals before them.
  std::vector<OpRow> op_rows, node_rows;
  double profile_total_ms = 0;
  size_t trace_events = 0;
  if (opt.profile) {
    const std::vector<NodeProfile> prof = streams[0].session->profile();
    std::map<std::string, OpRow> by_op;
    for (size_t i = 0; i < prof.size(); ++i) {
      OpRow r{node_label(prof[i], i), prof[i].op_type, prof[i].total_ms, prof[i].calls};
      for (const auto& b : profile_before)
        if (b.name == prof[i].name && b.op_type == prof[i].op_type) { r.total_ms -= b.total_ms; r.calls -= b.calls; break; }
      node_rows.push_back(r);
      OpRow& o = by_op[r.op_type];
      o.name = o.op_type = r.op_type;
      o.total_ms += r.total_ms;
      o.calls += r.calls;
      profile_total_ms += r.total_ms;
    }
    for (auto& [k, v] : by_op) op_rows.push_back(v);
    auto by_time = [](const OpRow& a, const OpRow& b) { return a.total_ms != b.total_ms ? a.total_ms > b.total_ms : a.name < b.name; };
    std::sort(op_rows.begin(), op_rows.end(), by_time);
    std::sort(node_rows.begin(), node_rows.end(), by_time);
    trace_events = write_trace(opt.trace_file, prof, opt.model);
  }
  auto pct = [&](double ms) { return profile_total_ms > 0 ? 100.0 * ms / profile_total_ms : 0.0; };
  const size_t top_nodes = std::min<size_t>(10, node_rows.size());
  const int64_t runs_per_stream = static_cast<int64_t>(streams[0].latencies_ms.size());

  if (opt.json) {
    json j;
    j["model"] = opt.model;
    j["load_ms"] = load_ms;
    j["first_ms"] = first_ms;
    j["p50_ms"] = percentile(latencies, 50);
    j["p90_ms"] = percentile(latencies, 90);
    j["p99_ms"] = percentile(latencies, 99);
    j["max_ms"] = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
    j["min_ms"] = latencies.empty() ? 0 : *std::min_element(latencies.begin(), latencies.end());
    j["mean_ms"] = mean;
    j["throughput_ips"] = throughput;
    j["streams"] = opt.streams;
    j["threads"] = opt.threads;
    j["single_thread_runs"] = thread_use.single_thread;
    j["warmup"] = opt.warmup;
    j["iters"] = runs_per_stream;
    j["total_runs"] = static_cast<int64_t>(latencies.size());
    j["timed_s"] = wall_s;
    j["run_delay_ms"] = opt.run_delay_ms;
    j["mem_mb"] = mem_mb;
    j["arena_bytes"] = st.arena_bytes;
    j["static_plan"] = st.static_plan;
    j["weight_bytes"] = st.weight_bytes;
    j["energy_j"] = energy_j;
    j["energy_source"] = rapl_ok ? "rapl" : "estimate";
    j["cpu_s"] = cpu_s;
    if (!rapl_ok) {
      j["watts_per_core"] = kWattsPerBusyCore;
      j["energy_note"] = kEnergyEstimateNote;
    } else {
      j["energy_note"] = "RAPL package counters: whole CPU packages, including other processes";
    }
    json in = json::object();
    for (const auto& [name, t] : feeds) in[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}};
    j["inputs"] = in;
    j["input_data"] = opt.inputs.empty() ? "random" : (opt.inputs.size() < m.inputs().size() ? "mixed" : "file");
    if (!accuracy.empty()) {
      json arr = json::array();
      double max_abs = 0, max_rel = 0;
      int64_t rows = 0, agree = 0;
      for (const auto& a : accuracy) {
        json e = {{"output", a.output}, {"elements", a.elements}, {"max_abs_err", a.max_abs_err}, {"max_rel_err", a.max_rel_err}};
        if (a.top1_rows) e["top1_agreement"] = static_cast<double>(a.top1_agree) / static_cast<double>(a.top1_rows);
        arr.push_back(e);
        max_abs = std::max(max_abs, a.max_abs_err);
        max_rel = std::max(max_rel, a.max_rel_err);
        rows += a.top1_rows;
        agree += a.top1_agree;
      }
      j["accuracy"] = arr;
      j["max_abs_err"] = max_abs;
      j["max_rel_err"] = max_rel;
      if (rows) j["top1_agreement"] = static_cast<double>(agree) / static_cast<double>(rows);
    }
    if (opt.profile) {
      json ops = json::array(), nodes = json::array();
      for (const auto& r : op_rows)
        ops.push_back({{"op_type", r.op_type}, {"total_ms", r.total_ms}, {"pct", pct(r.total_ms)}, {"calls", r.calls}});
      for (size_t i = 0; i < top_nodes; ++i) {
        const auto& r = node_rows[i];
        nodes.push_back({{"name", r.name}, {"op_type", r.op_type}, {"total_ms", r.total_ms}, {"pct", pct(r.total_ms)}, {"calls", r.calls}});
      }
      j["profile"] = {{"ops", ops}, {"top_nodes", nodes}, {"trace_file", opt.trace_file}, {"trace_events", trace_events}};
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }

  std::printf("model:       %s\n", opt.model.c_str());
  std::printf("inputs:     ");
  for (const auto& [name, t] : feeds) std::printf(" %s=%s%s", name.c_str(), dtype_name(t.dtype()), shape_str(t.shape()).c_str());
  std::printf(" (%s)\n", opt.inputs.empty() ? ("random, seed " + std::to_string(opt.seed)).c_str() : "from files");
  std::printf("threads:     %d per session, %d stream%s", opt.threads, opt.streams, opt.streams > 1 ? "s" : "");
  if (thread_use.single_thread > 0)
    std::printf(" (%lld of %lld runs on one thread: faster with the cores busy)", static_cast<long long>(thread_use.single_thread),
                static_cast<long long>(thread_use.runs));
  std::printf("\n");
  std::printf("load:        %.3f ms (Model::load + Session + planning)\n", load_ms);
  std::printf("first run:   %.3f ms\n", first_ms);
  std::printf("latency:     p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (mean %.3f ms, %zu timed runs, %d warmup)\n",
              percentile(latencies, 50), percentile(latencies, 90), percentile(latencies, 99),
              latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end()), mean, latencies.size(), opt.warmup);
  std::printf("throughput:  %.2f inferences/s%s", throughput, opt.streams > 1 ? " (all streams)" : "");
  if (opt.run_delay_ms > 0) std::printf(" (the %g ms pauses before each run not counted)", opt.run_delay_ms);
  std::printf("\n");
  std::printf("memory:      peak RSS growth %.2f MB, planned arena %zu bytes%s\n", mem_mb, st.arena_bytes,
              st.static_plan ? "" : " (no static plan: shapes depend on data)");
  if (rapl_ok)
    std::printf("energy:      %.6f J per inference (rapl: CPU package counters, whole machine)\n", energy_j);
  else
    std::printf("energy:      %.6f J per inference (estimate: %.3f s CPU time x %.0f W per busy core)\n", energy_j, cpu_s,
                kWattsPerBusyCore);
  for (const auto& a : accuracy) {
    std::printf("accuracy:    %s: max abs err %.3g, max rel err %.3g", a.output.c_str(), a.max_abs_err, a.max_rel_err);
    if (a.top1_rows) std::printf(", top-1 agreement %lld/%lld", static_cast<long long>(a.top1_agree), static_cast<long long>(a.top1_rows));
    std::printf("\n");
  }
  if (opt.profile) {
    std::printf("\nops by total time over the %lld timed runs of stream 0:\n", static_cast<long long>(runs_per_stream));
    std::printf("  %-24s %12s %7s %8s %12s\n", "op", "total ms", "%", "calls", "ms/call");
    for (const auto& r : op_rows)
      std::printf("  %-24s %12.3f %7.2f %8lld %12.4f\n", r.op_type.c_str(), r.total_ms, pct(r.total_ms),
                  static_cast<long long>(r.calls), r.calls ? r.total_ms / static_cast<double>(r.calls) : 0.0);
    std::printf("top nodes:\n");
    std::printf("  %-32s %-16s %12s %7s %8s\n", "node", "op", "total ms", "%", "calls");
    for (size_t i = 0; i < top_nodes; ++i) {
      const auto& r = node_rows[i];
      std::printf("  %-32s %-16s %12.3f %7.2f %8lld\n", r.name.c_str(), r.op_type.c_str(), r.total_ms, pct(r.total_ms),
                  static_cast<long long>(r.calls));
    }
    std::printf("trace:       %s (%zu events, all runs of stream 0; open in chrome://tracing or Perfetto)\n",
                opt.trace_file.c_str(), trace_events);
  }
  return 0;
}

}  // namespace edgerun::cli
