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
#include "tools/edgerun/compress.h"
#include "tools/edgerun/default_model.h"
#include "tools/edgerun/serve.h"

namespace fs = std::filesystem;
using namespace edgerun;

namespace {

std::shared_ptr<Model> load_model(const std::string& path) {
  if (path.empty() || path == "default") return Model::load_from_memory(default_model_data(), default_model_size());
  return Model::load(path);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) { b /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

int cmd_info(const std::string& path, const std::vector<std::string>& shape_overrides, bool show_layers) {
  auto model = load_model(path);
  const auto shapes = cli::resolve_shapes(*model, shape_overrides);  // bad --shape fails before any output
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
  if (!path.empty() && path != "default" && fs::is_regular_file(path))
    std::cout << "file size: " << human_bytes(static_cast<double>(fs::file_size(path))) << "\n";
  const auto layers = layer_precisions(*model);
  if (!layers.empty()) {
    std::map<std::string, std::pair<int, size_t>> by_precision;
    for (const auto& l : layers) {
      by_precision[l.precision].first++;
      by_precision[l.precision].second += l.weight_bytes;
    }
    std::cout << "weight precision:";
    for (const auto& [p, c] : by_precision)
      std::cout << " " << p << " " << c.first << " layer" << (c.first == 1 ? "" : "s") << " (" << human_bytes(static_cast<double>(c.second)) << ")";
    std::cout << "\n";
    if (show_layers)
      for (const auto& l : layers)
        std::printf("  %-14s %-44s %-12s %s\n", l.op_type.c_str(), l.node.c_str(), l.precision.c_str(),
                    human_bytes(static_cast<double>(l.weight_bytes)).c_str());
  }
  std::cout << "op histogram:\n";
  std::vector<std::pair<std::string, int>> ops(hist.begin(), hist.end());
  std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  for (const auto& [op, n] : ops) std::printf("  %-28s %d\n", op.c_str(), n);

  Session session(model);
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
    for (const auto& in : model->inputs())
      if (in.name == name) cli::fit_image_to_input(in, p);
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

int top1(const Tensor& scores) {
  if (scores.dtype() != DType::kFloat32 || scores.numel() < 2)
    throw Error(ErrorCode::kInvalidArgument, "expected float32 class scores, got " + std::string(dtype_name(scores.dtype())) +
                                                 shape_str(scores.shape()));
  const float* l = scores.data<float>();
  return static_cast<int>(std::max_element(l, l + scores.numel()) - l);
}

int cmd_evaluate(const std::string& path, const std::string& reference_path, const cli::DataSpec& spec, int threads) {
  auto model = load_model(path);
  cli::SampleSource data(*model, spec);
  const auto load_start = std::chrono::steady_clock::now();
  Session session(model, SessionOptions{threads});
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  std::unique_ptr<Session> reference;
  if (!reference_path.empty()) {
    auto ref_model = load_model(reference_path);
    if (ref_model->inputs().size() != 1 || ref_model->inputs()[0].name != model->inputs()[0].name)
      throw Error(ErrorCode::kInvalidArgument, "the reference model must take the same single input '" +
                                                   model->inputs()[0].name + "'");
    reference = std::make_unique<Session>(ref_model, SessionOptions{threads});
  }
  const size_t n = data.size();
  std::vector<double> latencies;
  latencies.reserve(n);
  int64_t correct = 0, ref_correct = 0, agree = 0;
  double cosine_sum = 0;
  double busy_s = 0;
  for (size_t i = 0; i < n; ++i) {
    const Sample sample = data.get(i);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = session.run(sample);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    latencies.push_back(ms);
    busy_s += ms / 1000.0;
    const int pred = top1(out[0]);
    if (data.labelled()) correct += pred == data.label(i);
    if (reference) {
      auto ref = reference->run(sample);
      const int ref_pred = top1(ref[0]);
      agree += pred == ref_pred;
      if (data.labelled()) ref_correct += ref_pred == data.label(i);
      cosine_sum += cosine_similarity(out[0], ref[0]);
    }
  }
  auto pct = [&](int64_t k) { return 100.0 * static_cast<double>(k) / static_cast<double>(n); };
  std::printf("dataset: %s, %zu samples\n", data.description().c_str(), n);
  if (data.labelled())
    std::printf("accuracy: %.2f %% (%lld / %zu)\n", pct(correct), static_cast<long long>(correct), n);
  if (reference) {
    if (data.labelled()) std::printf("reference accuracy: %.2f %% (%s)\n", pct(ref_correct), reference_path.c_str());
    std::printf("top-1 agreement with the reference: %.2f %%\n", pct(agree));
    std::printf("mean cosine similarity to the reference outputs: %.5f\n", cosine_sum / static_cast<double>(n));
  }
  std::printf("latency per sample (batch 1): p50 %.3f ms, p99 %.3f ms\n", cli::percentile(latencies, 50),
              cli::percentile(latencies, 99));
  std::printf("throughput: %.0f samples/s (%d thread%s, inference only)\n", static_cast<double>(n) / busy_s, threads,
              threads == 1 ? "" : "s");
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
  bool show_layers = false;
  info->add_flag("--layers", show_layers, "List every layer with weights and its precision");
  info->add_option("--shape", shapes, "Input shape for planning, NAME=d,d,... (symbolic dims default to 1)");

  std::vector<std::string> inputs;
  std::string out_dir, image_size;
  ImagePreprocess run_pre;
  cli::ImageOptionText run_image_text;
  bool grayscale = false, nhwc = false;
  int threads = 1;
  auto* run = app.add_subcommand("run", "Run a model on inputs from .npy, .pb or image files");
  run->add_option("model", model_path, "ONNX model file ('default' for the embedded model)")->required();
  run->add_option("--input,-i", inputs, "NAME=FILE (or FILE for a single-input model); FILE: .npy, .pb, .png, .jpg")->required();
  run->add_option("--output-dir,-o", out_dir, "Write each output as DIR/<output name>.npy");
  run->add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256));
  run->add_option("--image-size", image_size, "Resize images to WxH (default: the model's input size)");
  cli::add_image_options(run, run_pre, run_image_text);
  run->add_flag("--grayscale", grayscale, "Decode images as one channel");
  run->add_flag("--nhwc", nhwc, "Lay images out as NHWC instead of NCHW");

  cli::DataSpec eval_data;
  cli::ImageOptionText eval_image_text;
  std::string reference_path;
  auto* evaluate = app.add_subcommand("evaluate", "Top-1 accuracy (and agreement with a reference model) on a labelled dataset");
  evaluate->add_option("model", model_path, "ONNX model file (omit for the embedded default model)");
  evaluate->add_option("--dataset", eval_data.source, "fashion-mnist, or a folder with one sub-folder of images per class");
  evaluate->add_option("--data-dir", eval_data.data_dir, "Folder with the Fashion-MNIST files");
  evaluate->add_option("--split", eval_data.split, "Fashion-MNIST split: test (default) or train");
  evaluate->add_option("--limit", eval_data.limit, "Evaluate only the first N samples");
  evaluate->add_option("--reference", reference_path, "Second model: report top-1 agreement and cosine similarity");
  evaluate->add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256));
  cli::add_image_options(evaluate, eval_data.pre, eval_image_text);

  cli::CompressOptions compress_opts;
  auto* quantize = cli::add_quantize_command(app, compress_opts);
  auto* convert = cli::add_convert_command(app, compress_opts);

  cli::BenchOptions bench_opts;
  auto* bench = cli::add_bench_command(app, bench_opts);

  serve::ServeOptions serve_opts;
  auto* serve = cli::add_serve_command(app, serve_opts);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*info) return cmd_info(model_path, shapes, show_layers);
    if (*run) {
      ImagePreprocess& pre = run_pre;
      cli::finish_image_options(pre, run_image_text);
      if (!image_size.empty()) {
        const size_t x = image_size.find('x');
        if (x == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--image-size expects WxH");
        pre.width = std::stoi(image_size.substr(0, x));
        pre.height = std::stoi(image_size.substr(x + 1));
      }
      pre.channels = grayscale ? 1 : 3;
      pre.nchw = !nhwc;
      return cmd_run(model_path, inputs, out_dir, pre, threads);
    }
    if (*evaluate) {
      cli::finish_image_options(eval_data.pre, eval_image_text);
      return cmd_evaluate(model_path, reference_path, eval_data, threads);
    }
    if (*quantize) return cli::run_quantize(compress_opts);
    if (*convert) return cli::run_convert(compress_opts);
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
