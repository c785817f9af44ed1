// Times the reference kernels (optimize off) against the optimized graph with XNNPACK kernels
// (optimize on) on a 3x3 convolution 64->64 at 56x56 and on a ResNet basic block, and on ONNX
// files given on the command line. Runs alternate between the two sessions; medians are reported.
//
//   edgerun_conv_speed [--threads N] [--runs N] [model.onnx ...]
// Beside a model, <stem>.input.npy / <stem>.output.npy (if present) give the input and the expected output.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "kernels/kernel.h"
#include "model_builder.h"
#include "passes/passes.h"

using namespace edgerun;

namespace {

using test::uniform;

void add_conv(test::ModelSpec& m, const std::string& in, const std::string& out, int64_t c, unsigned seed) {
  m.initializer(out + "_w", {c, c, 3, 3}, uniform(static_cast<size_t>(c * c * 9), 1.f / std::sqrt(c * 9.f), seed));
  m.initializer(out + "_b", {c}, uniform(static_cast<size_t>(c), 0.1f, seed + 1));
  auto* n = m.node("Conv", {in, out + "_w", out + "_b"}, {out});
  auto* pads = n->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
}

void add_batchnorm(test::ModelSpec& m, const std::string& in, const std::string& out, int64_t c, unsigned seed) {
  m.initializer(out + "_scale", {c}, uniform(static_cast<size_t>(c), 1.f, seed));
  m.initializer(out + "_shift", {c}, uniform(static_cast<size_t>(c), 0.1f, seed + 1));
  m.initializer(out + "_mean", {c}, uniform(static_cast<size_t>(c), 0.1f, seed + 2));
  auto var = uniform(static_cast<size_t>(c), 0.5f, seed + 3);
  for (auto& v : var) v += 1.f;
  m.initializer(out + "_var", {c}, var);
  m.node("BatchNormalization", {in, out + "_scale", out + "_shift", out + "_mean", out + "_var"}, {out});
}

std::shared_ptr<Model> conv_model(int64_t c, int64_t hw) {
  test::ModelSpec m;
  m.input("x", {1, c, hw, hw});
  add_conv(m, "x", "y", c, 1);
  m.output("y", {1, c, hw, hw});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

// conv-bn-relu-conv-bn-add(input)-relu, as in ResNet-18's first stage.
std::shared_ptr<Model> resnet_block_model(int64_t c, int64_t hw) {
  test::ModelSpec m;
  m.input("x", {1, c, hw, hw});
  add_conv(m, "x", "c1", c, 10);
  add_batchnorm(m, "c1", "b1", c, 20);
  m.node("Relu", {"b1"}, {"r1"});
  add_conv(m, "r1", "c2", c, 30);
  add_batchnorm(m, "c2", "b2", c, 40);
  m.node("Add", {"b2", "x"}, {"s"});
  m.node("Relu", {"s"}, {"y"});
  m.output("y", {1, c, hw, hw});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::map<std::string, Tensor> random_inputs(const Model& model) {
  std::map<std::string, Tensor> feeds;
  unsigned seed = 100;
  for (const auto& in : model.inputs()) {
    Shape s;
    for (const auto& d : in.dims) s.push_back(d.value < 0 ? 1 : d.value);
    Tensor t(DType::kFloat32, s);
    const auto v = uniform(static_cast<size_t>(t.numel()), 1.f, seed++);
    std::copy(v.begin(), v.end(), t.data<float>());
    feeds[in.name] = t;
  }
  return feeds;
}

// max |a - b| / max |b| over each output; the largest over all outputs.
double max_relative_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    double scale = 1e-30, diff = 0;
    for (int64_t i = 0; i < b[k].numel(); ++i) {
      scale = std::max(scale, std::fabs(double(b[k].data<float>()[i])));
      diff = std::max(diff, std::fabs(double(a[k].data<float>()[i]) - b[k].data<float>()[i]));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

double median_ms(Session& s, const std::map<std::string, Tensor>& feeds, std::vector<double>* times) {
  const auto start = std::chrono::steady_clock::now();
  s.run(feeds);
  times->push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return median(*times);
}

// `expected`: outputs to check against when the reference kernels cannot run the model (e.g. torch
// outputs stored beside an exported model); empty to compare with the reference session.
void compare(const char* label, const std::function<std::shared_ptr<Model>()>& load, int threads, int runs,
             std::map<std::string, Tensor> feeds = {}, std::vector<Tensor> expected = {}) {
  SessionOptions off, on;
  off.optimize = false;
  off.num_threads = on.num_threads = threads;
  auto model = load(), reference_model = load();
  // Without a reference BatchNormalization kernel, the reference runs with BatchNormalization folded.
  if (!KernelRegistry::instance().find("", "BatchNormalization")) fuse_conv_batchnorm(reference_model->mutable_graph());
  if (feeds.empty()) feeds = random_inputs(*model);
  Session fast(model, on);
  const auto fast_out = fast.run(feeds);
  std::unique_ptr<Session> reference;
  std::string reference_error;
  try {
    reference = std::make_unique<Session>(reference_model, off);
    const auto ref_out = reference->run(feeds);
    if (expected.empty()) expected = ref_out;
  } catch (const Error& e) {
    reference.reset();
    reference_error = e.what();
  }
  int64_t flops = 0;
  for (const auto& s : (reference ? reference->node_summaries() : fast.node_summaries())) flops += s.flops;
  std::vector<double> t_ref, t_fast;
  for (int r = 0; r < runs; ++r) {
    if (reference) median_ms(*reference, feeds, &t_ref);
    median_ms(fast, feeds, &t_fast);
  }
  const double ref_ms = median(t_ref), fast_ms = median(t_fast);
  const double diff = expected.empty() ? -1 : max_relative_difference(fast_out, expected);
  if (reference)
    std::printf("%-24s %6.3f GFLOP  reference %8.3f ms %5.1f GFLOP/s | optimized %8.3f ms %5.1f GFLOP/s | x%.2f | "
                "nodes %zu -> %zu | max|diff|/max|ref| %.1e\n",
                label, flops * 1e-9, ref_ms, flops * 1e-6 / ref_ms, fast_ms, flops * 1e-6 / fast_ms, ref_ms / fast_ms,
                reference->stats().num_nodes, fast.stats().num_nodes, diff);
  else
    std::printf("%-24s %6.3f GFLOP  reference n/a (%s) | optimized %8.3f ms %5.1f GFLOP/s | nodes %zu | "
                "max|diff|/max|expected| %.1e\n",
                label, flops * 1e-9, reference_error.substr(0, 60).c_str(), fast_ms, flops * 1e-6 / fast_ms,
                fast.stats().num_nodes, diff);
}

// Inputs and outputs stored beside an exported model: <stem>.input.npy, <stem>.output.npy.
void compare_file(const std::string& path, int threads, int runs) {
  const std::string stem = path.substr(0, path.size() - 5), label = stem.substr(stem.find_last_of('/') + 1);
  auto loader = [&] { return Model::load(path); };
  std::map<std::string, Tensor> feeds;
  std::vector<Tensor> expected;
  if (std::ifstream(stem + ".input.npy") && std::ifstream(stem + ".output.npy")) {
    auto model = loader();
    feeds[model->inputs().at(0).name] = load_npy(stem + ".input.npy");
    expected.push_back(load_npy(stem + ".output.npy"));
  }
  compare(label.c_str(), loader, threads, runs, feeds, expected);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, runs = 21;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
    else models.push_back(argv[i]);
  }
  std::printf("threads %d, %d alternating runs each, medians (GFLOP = 2 x multiply-adds)\n", threads, runs);
  try {
    compare("conv3x3 64->64 56x56", [] { return conv_model(64, 56); }, threads, runs);
    compare("resnet block 64 56x56", [] { return resnet_block_model(64, 56); }, threads, runs);
    for (const auto& path : models) compare_file(path, threads, runs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
