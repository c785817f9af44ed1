// Models exported from torch/torchvision (tools/models/export_models.py) must reproduce torch's outputs,
// and the embedded Fashion-MNIST model must reach its accuracy through edgerun.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "edgerun/edgerun.h"
#include "edgerun/io.h"
#include "ir/graph.h"

using namespace edgerun;
namespace fs = std::filesystem;

namespace {

fs::path model_cache() {
  if (const char* env = std::getenv("EDGERUN_MODEL_CACHE")) return env;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".cache/edgerun/models";
}

struct Comparison {
  double max_abs = 0, max_ref = 0;
  double relative() const { return max_abs / std::max(max_ref, 1e-12); }
};

// Max absolute difference relative to the largest reference magnitude of that output.
Comparison compare(const Tensor& got, const Tensor& want) {
  Comparison c;
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  for (int64_t i = 0; i < want.numel(); ++i) {
    c.max_ref = std::max(c.max_ref, static_cast<double>(std::fabs(w[i])));
    const double d = std::fabs(static_cast<double>(g[i]) - w[i]);
    c.max_abs = std::isnan(g[i]) ? INFINITY : std::max(c.max_abs, d);
  }
  return c;
}

class ExportedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ExportedModel, MatchesTorch) {
  const fs::path dir = model_cache();
  const fs::path manifest_path = dir / (GetParam() + ".json");
  ASSERT_TRUE(fs::exists(manifest_path)) << manifest_path << " is missing: run /usr/bin/python3 tools/models/export_models.py --out " << dir;
  nlohmann::json manifest;
  std::ifstream(manifest_path) >> manifest;
  const double rtol = manifest.value("rtol", 1e-4);
  auto model = Model::load((dir / manifest["model"].get<std::string>()).string());
  Session session(model);
  std::map<std::string, Tensor> feeds;
  for (const auto& [name, file] : manifest["inputs"].items()) feeds[name] = load_npy((dir / file.get<std::string>()).string());
  const auto outputs = session.run(feeds);
  size_t checked = 0;
  for (size_t i = 0; i < model->outputs().size(); ++i) {
    const std::string& name = model->outputs()[i].name;
    if (!manifest["outputs"].contains(name)) continue;
    const Tensor want = load_npy((dir / manifest["outputs"][name].get<std::string>()).string());
    ASSERT_EQ(outputs[i].shape(), want.shape()) << name;
    const Comparison c = compare(outputs[i], want);
    EXPECT_LE(c.relative(), rtol) << GetParam() << " output " << name << ": max abs diff " << c.max_abs
                                  << ", max |ref| " << c.max_ref;
    std::printf("%s/%s: max relative error %.3g\n", GetParam().c_str(), name.c_str(), c.relative());
    ++checked;
  }
  EXPECT_EQ(checked, manifest["outputs"].size());
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ExportedModel,
                         ::testing::Values("mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x1_0",
                                           "efficientnet_b0", "resnet18", "resnet50", "ssdlite320_mobilenet_v3_large",
                                           "yolo_tiny"));

TEST(DefaultModel, FashionMnistAccuracyAtLeast91Percent) {
  const std::string data = "/usr/share/datasets/fashion-mnist";
  const Tensor images = load_idx(data + "/t10k-images-idx3-ubyte.gz");
  const Tensor labels = load_idx(data + "/t10k-labels-idx1-ubyte.gz");
  auto model = Model::load(std::string(EDGERUN_SOURCE_DIR) + "/models/fashion_mnist_cnn.onnx");
  Session session(model);
  const int64_t n = images.dim(0), batch = 100;
  Tensor x(DType::kFloat32, {batch, 1, 28, 28});
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch) {
    for (int64_t k = 0; k < batch * 784; ++k) x.data<float>()[k] = images.data<uint8_t>()[start * 784 + k] / 255.0f;
    const auto out = session.run({{model->inputs()[0].name, x}});
    const float* logits = out[0].data<float>();
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t pred = std::max_element(logits + b * 10, logits + b * 10 + 10) - (logits + b * 10);
      correct += pred == labels.data<uint8_t>()[start + b];
    }
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
  std::printf("Fashion-MNIST test accuracy through edgerun: %.2f %%\n", accuracy * 100);
  EXPECT_GE(accuracy, 0.91);
}

// QDQ int8 models written by tools/models/make_qdq.py (min-max calibration on Fashion-MNIST images):
// the fast path (FuseQdq, int8 XNNPACK kernels) must agree with the reference path (DequantizeLinear
// -> float op -> QuantizeLinear on the reference kernels), and every Conv must run as QConvNhwc.
class Int8Model : public ::testing::TestWithParam<std::string> {};

TEST_P(Int8Model, FastPathMatchesReferencePath) {
  const fs::path dir = model_cache();
  const fs::path path = dir / "int8" / (GetParam() + ".onnx");
  ASSERT_TRUE(fs::exists(path)) << path << " is missing: run /usr/bin/python3 tools/models/make_qdq.py --src " << dir
                                << " --out " << dir / "int8";
  auto model = Model::load(path.string());
  const Tensor x = load_npy((dir / (GetParam() + ".input.npy")).string());
  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  Session fast(model);
  const Tensor want = reference.run({{"input", x}})[0];
  const Tensor got = fast.run({{"input", x}})[0];
  ASSERT_EQ(got.shape(), want.shape());
  const double cos = cosine_similarity(got, want);
  const Comparison c = compare(got, want);
  std::printf("%s int8 fast vs reference: cosine %.6f, max relative difference %.3g\n", GetParam().c_str(), cos,
              c.relative());
  EXPECT_GE(cos, 0.999);
  auto argmax = [](const Tensor& t) { return std::max_element(t.data<float>(), t.data<float>() + t.numel()) - t.data<float>(); };
  EXPECT_EQ(argmax(got), argmax(want));
  int64_t convs = 0, qconvs = 0, float_convs = 0;
  for (const auto& n : model->graph().nodes) convs += n.op_type == "Conv";
  for (const auto& s : fast.node_summaries()) {
    qconvs += s.op_type == "QConvNhwc";
    float_convs += s.op_type == "ConvNhwc" || s.op_type == "Conv";
  }
  EXPECT_EQ(qconvs, convs);
  EXPECT_EQ(float_convs, 0);
}

INSTANTIATE_TEST_SUITE_P(Quantized, Int8Model, ::testing::Values("resnet18", "mobilenet_v2"));

}  // namespace
