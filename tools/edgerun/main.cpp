// edgerun command line: one binary, subcommands over the library.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "ir/graph.h"
#include "kernels/common.h"
#include "tools/edgerun/bench.h"
#include "tools/edgerun/default_model.h"
#include "tools/edgerun/serve.h"

namespace fs = std::filesystem;
using namespace edgerun;

namespace {

std::vector<float> parse_floats(const std::string& text) {
  std::vector<float> v;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stof(item));
  return v;
}

Shape parse_dims(const std::string& text) {
  Shape s;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    size_t used = 0;
    const long long d = std::stoll(item, &used);
    if (used != item.size() || d < 0) throw Error(ErrorCode::kInvalidArgument, "bad dimension '" + item + "' in '" + text + "'");
    s.push_back(d);
  }
  return s;
}

std::shared_ptr<Model> load_model(const std::string& path) {
  if (path.empty() || path == "default") return Model::load_from_memory(default_model_data(), default_model_size());
  return Model::load(path);
}

// Input shapes for planning a model with symbolic dims: given ones, else 1 for every unknown dim.
std::map<std::string, Shape> resolve_shapes(const Model& m, const std::vector<std::string>& overrides) {
  std::map<std::string, Shape> shapes;
  for (const auto& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--shape expects NAME=d,d,..., got '" + o + "'");
    shapes[o.substr(0, eq)] = parse_dims(o.substr(eq + 1));
  }
  for (const auto& in : m.inputs()) {
    if (shapes.count(in.name)) continue;
    Shape s;
    for (const auto& d : in.dims) s.push_back(d.value >= 0 ? d.value : 1);
    shapes[in.name] = s;
  }
  return shapes;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) { b /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

int cmd_info(const std::string& path, const std::vector<std::string>& shape_overrides) {
  auto model = load_model(path);
  std::cout << "model: " << (path.empty() ? "default (embedded Fashion-MNIST CNN)" : path) << "\n";
  std::cout << "producer: " << (model->producer().empty() ? "?" : model->producer()) << "\n";
  std::cout << "opset: " << model->opset() << "\n";
  std::cout << "inputs:\n";
  for (const auto& i : model->inputs()) std::cout << "  " << i.str() << "\n";
  std::cout << "outputs:\n";
  for (const auto& o : model->outputs()) std::cout << "  " << o.str() << "\n";
  std::map<std::string, int> hist;
  std::function<void(const Graph&)> count = [&](const Graph& g) {
    for (const auto& n : g.nodes) {
      hist[(n.domain.empty() ? "" : n.domain + ".") + n.op_type]++;
      for (const auto& [k, a] : n.attrs) {
        if (a.g) count(*a.g);
        for (const auto& sg : a.graphs) count(*sg);
      }
    }
  };
  count(model->graph());
  int64_t params = 0;
  size_t weight_bytes = 0;
  for (const auto& [name, t] : model->graph().initializers) { params += t.numel(); weight_bytes += t.nbytes(); }
  std::cout << "nodes: " << model->graph().nodes.size() << "\n";
  std::cout << "parameters: " << params << " (" << human_bytes(static_cast<double>(weight_bytes)) << ")\n";
  std::cout << "op histogram:\n";
  std::vector<std::pair<std::string, int>> ops(hist.begin(), hist.end());
  std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  for (const auto& [op, n] : ops) std::printf("  %-28s %d\n", op.c_str(), n);

  Session session(model);
  const auto shapes = resolve_shapes(*model, shape_overrides);
  session.plan(shapes);
  std::cout << "planned for:";
  for (const auto& [n, s] : shapes) std::cout << " " << n << "=" << shape_str(s);
  std::cout << "\n";
  const PlanStats& st = session.stats();
  if (!st.static_plan) {
    std::cout << "memory plan: none ahead of time (output shapes depend on input values; planned per run)\n";
    return 0;
  }
  int64_t flops = 0;
  for (const auto& n : session.node_summaries()) flops += n.flops;
  std::printf("estimated FLOPs: %.3f G per inference\n", static_cast<double>(flops) / 1e9);
  std::cout << "executed nodes (after constant folding): " << st.num_nodes << "\n";
  std::cout << "planned arena: " << st.arena_bytes << " bytes (" << human_bytes(static_cast<double>(st.arena_bytes))
            << "), without reuse " << human_bytes(static_cast<double>(st.unplanned_bytes)) << "\n";
  return 0;
}

Tensor load_input_file(const std::string& file, const ImagePreprocess& pre) {
  std::string ext = fs::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".npy") return load_npy(file);
  if (ext == ".pb") return load_tensor_file(file);
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") return load_image(file, pre);
  throw Error(ErrorCode::kInvalidArgument, "'" + file + "': unknown input format (use .npy, .pb, .png, .jpg)");
}

void print_summary(const std::string& name, const Tensor& t) {
  std::cout << name << ": " << dtype_name(t.dtype()) << shape_str(t.shape());
  if (t.dtype() == DType::kString || t.numel() == 0) { std::cout << "\n"; return; }
  const auto v = tensor_to_doubles(t);
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  std::cout << "  min " << *mn << "  max " << *mx << "  mean " << mean;
  // Classifier-shaped output: show the top classes.
  if (t.rank() == 2 && t.dim(0) == 1 && t.dim(1) > 1) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    const size_t k = std::min<size_t>(5, v.size());
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](size_t a, size_t b) { return v[a] > v[b]; });
    std::cout << "  top" << k << ":";
    for (size_t i = 0; i < k; ++i) std::cout << " " << idx[i] << "(" << v[idx[i]] << ")";
  }
  std::cout << "\n";
}

int cmd_run(const std::string& path, const std::vector<std::string>& inputs, const std::string& out_dir,
            const ImagePreprocess& pre, int threads) {
  auto model = load_model(path);
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : inputs) {
    const size_t eq = spec.find('=');
    std::string name, file;
    if (eq == std::string::npos || fs::exists(spec)) {
      if (model->inputs().size() != 1)
        throw Error(ErrorCode::kInvalidArgument, "the model has " + std::to_string(model->inputs().size()) +
                                                     " inputs: bind each with --input NAME=FILE");
      name = model->inputs()[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    ImagePreprocess p = pre;
    // Size images to the model's declared input when not given.
    for (const auto& in : model->inputs())
      if (in.name == name && in.dims.size() == 4) {
        const bool nchw = p.nchw;
        const auto& d = in.dims;
        if (p.height == 0 && d[nchw ? 2 : 1].value > 0) p.height = static_cast<int>(d[nchw ? 2 : 1].value);
        if (p.width == 0 && d[nchw ? 3 : 2].value > 0) p.width = static_cast<int>(d[nchw ? 3 : 2].value);
        if (d[nchw ? 1 : 3].value == 1) p.channels = 1;
      }
    feeds[name] = load_input_file(file, p);
  }
  SessionOptions opts;
  opts.num_threads = threads;
  Session session(model, opts);
  const auto t0 = std::chrono::steady_clock::now();
  auto outputs = session.run(feeds);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!out_dir.empty()) fs::create_directories(out_dir);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = model->outputs()[i].name;
    print_summary(name, outputs[i]);
    if (!out_dir.empty()) {
      std::string file = name;
      std::replace_if(file.begin(), file.end(), [](char c) { return c == '/' || c == '\\' || c == ':'; }, '_');
      save_npy(outputs[i], (fs::path(out_dir) / (file + ".npy")).string());
    }
  }
  std::printf("inference: %.3f ms%s\n", ms, out_dir.empty() ? "" : (", outputs written to " + out_dir).c_str());
  return 0;
}

int cmd_evaluate(const std::string& path, const std::string& dataset, const std::string& data_dir, int limit) {
  if (dataset != "fashion-mnist") throw Error(ErrorCode::kInvalidArgument, "unknown dataset '" + dataset + "' (known: fashion-mnist)");
  auto model = load_model(path);
  const Tensor images = load_idx((fs::path(data_dir) / "t10k-images-idx3-ubyte.gz").string());
  const Tensor labels = load_idx((fs::path(data_dir) / "t10k-labels-idx1-ubyte.gz").string());
  if (images.rank() != 3 || labels.rank() != 1 || images.dim(0) != labels.dim(0))
    throw Error(ErrorCode::kInvalidArgument, "dataset files do not match: images " + shape_str(images.shape()) +
                                                 ", labels " + shape_str(labels.shape()));
  if (model->inputs().size() != 1) throw Error(ErrorCode::kInvalidArgument, "evaluate needs a single-input model");
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, images.dim(0)) : images.dim(0);
  const int64_t h = images.dim(1), w = images.dim(2);
  const std::string input_name = model->inputs()[0].name;
  const auto load_start = std::chrono::steady_clock::now();
  Session session(model);
  Tensor x(DType::kFloat32, {1, 1, h, w});
  session.plan({{input_name, x.shape()}});
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  std::vector<double> latencies;
  latencies.reserve(static_cast<size_t>(n));
  int64_t correct = 0;
  const uint8_t* px = images.data<uint8_t>();
  const auto wall_start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    float* dst = x.data<float>();
    for (int64_t k = 0; k < h * w; ++k) dst[k] = static_cast<float>(px[i * h * w + k]) / 255.0f;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = session.run({{input_name, x}});
    latencies.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    const Tensor& logits = out[0];
    if (logits.dtype() != DType::kFloat32 || logits.numel() < 2)
      throw Error(ErrorCode::kInvalidArgument, "expected float32 class scores, got " + std::string(dtype_name(logits.dtype())) + shape_str(logits.shape()));
    const float* l = logits.data<float>();
    const int64_t pred = std::max_element(l, l + logits.numel()) - l;
    correct += pred == labels.data<uint8_t>()[i];
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf("dataset: Fashion-MNIST test set, %lld images (%s)\n", static_cast<long long>(n), data_dir.c_str());
  std::printf("accuracy: %.2f %% (%lld / %lld)\n", 100.0 * static_cast<double>(correct) / static_cast<double>(n),
              static_cast<long long>(correct), static_cast<long long>(n));
  std::printf("latency per image (batch 1): p50 %.3f ms, p99 %.3f ms\n", cli::percentile(latencies, 50), cli::percentile(latencies, 99));
  std::printf("throughput: %.0f images/s (1 thread, including preprocessing)\n", static_cast<double>(n) / wall_s);
  std::printf("load + plan: %.2f ms, planned arena: %zu bytes\n", load_ms, session.stats().arena_bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edgerun: machine-learning inference at the edge"};
  app.require_subcommand(1);

  std::string model_path;
  std::vector<std::string> shapes;
  auto* info = app.add_subcommand("info", "Describe a model: inputs/outputs, opset, ops, parameters, FLOPs, planned memory");
  info->add_option("model", model_path, "ONNX model file (omit for the embedded default model)");
  info->add_option("--shape", shapes, "Input shape for planning, NAME=d,d,... (symbolic dims default to 1)");

  std::vector<std::string> inputs;
  std::string out_dir, image_size, image_mean, image_std;
  float image_scale = 1.0f / 255.0f;
  bool grayscale = false, nhwc = false;
  int threads = 1;
  auto* run = app.add_subcommand("run", "Run a model on inputs from .npy, .pb or image files");
  run->add_option("model", model_path, "ONNX model file ('default' for the embedded model)")->required();
  run->add_option("--input,-i", inputs, "NAME=FILE (or FILE for a single-input model); FILE: .npy, .pb, .png, .jpg")->required();
  run->add_option("--output-dir,-o", out_dir, "Write each output as DIR/<output name>.npy");
  run->add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256));
  run->add_option("--image-size", image_size, "Resize images to WxH (default: the model's input size)");
  run->add_option("--image-scale", image_scale, "Multiply 0..255 pixels by this first (default 1/255)");
  run->add_option("--image-mean", image_mean, "Per-channel mean subtracted after scaling, e.g. 0.485,0.456,0.406");
  run->add_option("--image-std", image_std, "Per-channel std divided after the mean, e.g. 0.229,0.224,0.225");
  run->add_flag("--grayscale", grayscale, "Decode images as one channel");
  run->add_flag("--nhwc", nhwc, "Lay images out as NHWC instead of NCHW");

  std::string dataset = "fashion-mnist", data_dir = "/usr/share/datasets/fashion-mnist";
  int limit = 0;
  auto* evaluate = app.add_subcommand("evaluate", "Top-1 accuracy, latency and throughput of a classifier on a labelled dataset");
  evaluate->add_option("model", model_path, "ONNX model file (omit for the embedded default model)");
  evaluate->add_option("--dataset", dataset, "Dataset name (fashion-mnist)");
  evaluate->add_option("--data-dir", data_dir, "Folder with the dataset files");
  evaluate->add_option("--limit", limit, "Evaluate only the first N images");

  cli::BenchOptions bench_opts;
  auto* bench = cli::add_bench_command(app, bench_opts);

  serve::ServeOptions serve_opts;
  auto* serve = cli::add_serve_command(app, serve_opts);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*info) return cmd_info(model_path, shapes);
    if (*run) {
      ImagePreprocess pre;
      if (!image_size.empty()) {
        const size_t x = image_size.find('x');
        if (x == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--image-size expects WxH");
        pre.width = std::stoi(image_size.substr(0, x));
        pre.height = std::stoi(image_size.substr(x + 1));
      }
      pre.scale = image_scale;
      if (!image_mean.empty()) pre.mean = parse_floats(image_mean);
      if (!image_std.empty()) pre.std = parse_floats(image_std);
      pre.channels = grayscale ? 1 : 3;
      pre.nchw = !nhwc;
      return cmd_run(model_path, inputs, out_dir, pre, threads);
    }
    if (*evaluate) return cmd_evaluate(model_path, dataset, data_dir, limit);
    if (*bench) return cli::run_bench(bench_opts);
    if (*serve) return cli::run_serve(serve_opts);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
