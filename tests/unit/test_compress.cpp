// Compression: calibration ranges, QDQ quantization, fp16 weight storage and the ONNX writer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <random>

#include "edgerun/edgerun.h"
#include "ir/graph.h"
#include "model_builder.h"
#include "onnx/onnx_writer.h"
#include "quant/calibration.h"

using namespace edgerun;
namespace fs = std::filesystem;

namespace {

using test::set_ints;

std::vector<float> wave(size_t n, float scale, float phase = 0.3f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.7f * static_cast<float>(i) + phase);
  return v;
}

// input [1,3,8,8] -> Conv 3x3 -> Relu -> Conv 1x1 -> Add(skip) -> MaxPool -> GlobalAveragePool -> Flatten -> Gemm
test::ModelSpec small_cnn() {
  test::ModelSpec m(13);
  m.input("input", {-1, 3, 8, 8});
  m.initializer("w1", {8, 3, 3, 3}, wave(8 * 3 * 9, 0.4f));
  m.initializer("b1", {8}, wave(8, 0.1f));
  set_ints(m.node("Conv", {"input", "w1", "b1"}, {"c1"}, "conv1"), "pads", {1, 1, 1, 1});
  m.node("Relu", {"c1"}, {"r1"}, "relu1");
  m.initializer("w2", {8, 8, 1, 1}, wave(64, 0.5f, 1.1f));
  m.node("Conv", {"r1", "w2"}, {"c2"}, "conv2");
  m.node("Add", {"c2", "r1"}, {"sum"}, "add");
  auto* pool = m.node("MaxPool", {"sum"}, {"p"}, "pool");
  set_ints(pool, "kernel_shape", {2, 2});
  set_ints(pool, "strides", {2, 2});
  m.node("GlobalAveragePool", {"p"}, {"g"}, "gap");
  m.node("Flatten", {"g"}, {"f"}, "flatten");
  m.initializer("wf", {5, 8}, wave(40, 0.6f, 0.9f));
  m.initializer("bf", {5}, wave(5, 0.2f));
  auto* gemm = m.node("Gemm", {"f", "wf", "bf"}, {"logits"}, "fc");
  auto* t = gemm->add_attribute();
  t->set_name("transB");
  t->set_type(onnx::AttributeProto::INT);
  t->set_i(1);
  m.output("logits", {-1, 5});
  return m;
}

std::shared_ptr<Model> load(const test::ModelSpec& m) {
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

std::vector<Sample> samples(size_t n, uint32_t seed, const Shape& shape = {1, 3, 8, 8}) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<Sample> out;
  for (size_t i = 0; i < n; ++i) {
    Tensor t(DType::kFloat32, shape);
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = dist(rng);
    out.push_back({{"input", t}});
  }
  return out;
}

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("edgerun_compress_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::map<std::string, int> op_counts(const Model& m) {
  std::map<std::string, int> c;
  for (const auto& n : m.graph().nodes) c[n.op_type]++;
  return c;
}

QuantizeOptions quiet() {
  QuantizeOptions o;
  o.num_threads = 1;
  return o;
}

}  // namespace

TEST(Calibration, Int8ParamsRepresentZeroExactly) {
  const QuantParams p = int8_params(0.5f, 2.0f);  // widened to [0, 2]
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, -128);
  const QuantParams q = int8_params(-1.0f, 3.0f);
  EXPECT_NEAR(q.scale * (127 - q.zero_point), 3.0f, q.scale);
  EXPECT_NEAR(q.scale * (-128 - q.zero_point), -1.0f, q.scale);
}

TEST(Calibration, PercentileAndEntropyClipOutliersMinMaxKeeps) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(200000);
  for (auto& v : x) v = dist(rng);
  x[10] = 60.0f;  // a few extreme outliers
  x[20] = -45.0f;
  TensorStats st;
  st.observe_range(x.data(), static_cast<int64_t>(x.size()));
  st.begin_histogram();
  st.observe_histogram(x.data(), static_cast<int64_t>(x.size()));
  float lo, hi;
  st.range(CalibrationMethod::kMinMax, 99.99, &lo, &hi);
  EXPECT_EQ(lo, -45.0f);
  EXPECT_EQ(hi, 60.0f);
  st.range(CalibrationMethod::kPercentile, 99.9, &lo, &hi);
  // The 0.1 % tails of a unit normal start near 3.09 sigma; histogram bins here are ~0.05 wide.
  EXPECT_NEAR(hi, 3.09f, 0.15f);
  EXPECT_NEAR(lo, -3.09f, 0.15f);
  st.range(CalibrationMethod::kEntropy, 99.99, &lo, &hi);
  EXPECT_GT(hi, 2.0f);
  EXPECT_LT(hi, 20.0f);
  EXPECT_EQ(lo, -hi);
}

// Mean squared error of quantizing x with the int8 parameters of [lo, hi], computed value by value.
double quantized_mse(const std::vector<float>& x, float lo, float hi) {
  const QuantParams p = int8_params(lo, hi);
  double err = 0;
  for (float v : x) {
    const float q = std::clamp(std::nearbyint(v / p.scale) + p.zero_point, -128.0f, 127.0f);
    const double d = (q - p.zero_point) * p.scale - v;
    err += d * d;
  }
  return err / static_cast<double>(x.size());
}

TensorStats stats_of(const std::vector<float>& x) {
  TensorStats st;
  st.observe_range(x.data(), static_cast<int64_t>(x.size()));
  st.begin_histogram();
  st.observe_histogram(x.data(), static_cast<int64_t>(x.size()));
  return st;
}

TEST(Calibration, MseRangeMatchesTheBestRangeFoundOnTheValues) {
  // A long right tail (as after HardSwish) and a short left one: the best range clips the tail (but
  // not a lone far outlier, whose squared clipping error outweighs the rounding of all the others).
  std::mt19937 rng(11);
  std::exponential_distribution<float> tail(1.5f);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  std::vector<float> x(100000);
  for (auto& v : x) v = tail(rng) + noise(rng) - 0.3f;
  const TensorStats st = stats_of(x);
  float lo, hi;
  st.range(CalibrationMethod::kMse, 99.99, &lo, &hi);
  const double mse = quantized_mse(x, lo, hi);
  // Reference: a scan of ranges evaluated on the values themselves.
  double best = std::numeric_limits<double>::infinity();
  for (int a = 0; a <= 10; ++a)
    for (int b = 1; b <= 100; ++b) best = std::min(best, quantized_mse(x, st.min() * a / 10.0f, st.max() * b / 100.0f));
  EXPECT_LT(mse, 1.05 * best);
  EXPECT_LT(mse, 0.95 * quantized_mse(x, st.min(), st.max()));
  EXPECT_LT(hi, st.max());

  // Uniform values have no tail worth clipping: the range stays (nearly) whole.
  std::uniform_real_distribution<float> flat(-2.0f, 6.0f);
  for (auto& v : x) v = flat(rng);
  stats_of(x).range(CalibrationMethod::kMse, 99.99, &lo, &hi);
  EXPECT_LT(quantized_mse(x, lo, hi), 1.02 * quantized_mse(x, -2.0f, 6.0f));
  EXPECT_GT(hi - lo, 7.8f);
}

TEST(Calibration, NonFiniteActivationIsRejected) {
  TensorStats st;
  const float bad[] = {1.0f, NAN};
  EXPECT_THROW(st.observe_range(bad, 2), Error);
}

TEST(OnnxWriter, RoundTripKeepsResults) {
  auto model = Model::load(std::string(EDGERUN_SOURCE_DIR) + "/models/fashion_mnist_cnn.onnx");
  const std::string bytes = serialize_model(model->graph());
  auto again = Model::load_from_memory(bytes.data(), bytes.size());
  EXPECT_EQ(again->inputs()[0].str(), model->inputs()[0].str());
  EXPECT_EQ(again->outputs()[0].str(), model->outputs()[0].str());
  EXPECT_EQ(again->graph().nodes.size(), model->graph().nodes.size());
  Session a(model), b(again);
  const auto in = samples(1, 3, {1, 1, 28, 28});
  const auto x = a.run(in[0]), y = b.run(in[0]);
  ASSERT_EQ(x[0].numel(), y[0].numel());
  for (int64_t i = 0; i < x[0].numel(); ++i) EXPECT_EQ(x[0].data<float>()[i], y[0].data<float>()[i]);
}

TEST(OnnxWriter, FailedWriteLeavesNoFile) {
  auto model = load(small_cnn());
  EXPECT_THROW(save_model(model->graph(), "/nonexistent-dir/model.onnx"), Error);
}

TEST(Quantize, WritesQdqModelCloseToFloat) {
  auto model = load(small_cnn());
  const std::string out = temp_path("small_int8.onnx");
  const QuantizeReport r = quantize_model(*model, samples(32, 1), quiet(), out);
  // conv1, conv2, add, pool, gap, fc
  EXPECT_EQ(r.quantized_nodes, 6);
  EXPECT_TRUE(r.float_nodes.empty());
  auto q = Model::load(out);
  auto ops = op_counts(*q);
  EXPECT_GT(ops["QuantizeLinear"], 0);
  EXPECT_GT(ops["DequantizeLinear"], ops["QuantizeLinear"]);  // weights and biases have DQ only
  // Per-channel int8 weights, int32 biases.
  bool saw_w1 = false, saw_b1 = false;
  for (const auto& [name, t] : q->graph().initializers) {
    if (name == "w1_quantized") {
      saw_w1 = true;
      EXPECT_EQ(t.dtype(), DType::kInt8);
      EXPECT_EQ(t.shape(), (Shape{8, 3, 3, 3}));
      EXPECT_EQ(q->graph().initializers.at("w1_scale").shape(), Shape{8});
    }
    if (name == "b1_quantized") {
      saw_b1 = true;
      EXPECT_EQ(t.dtype(), DType::kInt32);
    }
    EXPECT_EQ(t.dtype() == DType::kFloat32 && t.numel() > 8, false) << name << " left in float32";
  }
  EXPECT_TRUE(saw_w1 && saw_b1);
  for (const auto& l : layer_precisions(*q)) EXPECT_EQ(l.precision, "int8 (QDQ)") << l.node;
  // Fresh inputs: the quantized model tracks the float one.
  Session fs(model, SessionOptions{1}), qs(q, SessionOptions{1});
  for (const auto& s : samples(16, 99)) {
    const auto a = fs.run(s), b = qs.run(s);
    EXPECT_GT(cosine_similarity(a[0], b[0]), 0.995);
  }
  EXPECT_GT(r.mean_cosine, 0.995);
}

TEST(Quantize, SevenBitConvolutionWeightsOnlyWhereTheGemmKernelRuns) {
  auto model = load(small_cnn());
  QuantizeOptions o = quiet();
  o.conv_weight_bits = 7;
  const std::string out = temp_path("small_int8_w7.onnx");
  const QuantizeReport r = quantize_model(*model, samples(32, 1), o, out);
  auto q = Model::load(out);
  auto max_abs = [&](const std::string& name) {
    const Tensor& t = q->graph().initializers.at(name);
    EXPECT_EQ(t.dtype(), DType::kInt8);
    int m = 0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(int(t.data<int8_t>()[i])));
    return m;
  };
  EXPECT_EQ(max_abs("w1_quantized"), 63);  // ungrouped convolutions: 7 bits
  EXPECT_EQ(max_abs("w2_quantized"), 63);
  EXPECT_EQ(max_abs("wf_quantized"), 127);  // Gemm keeps 8
  Session fs(model, SessionOptions{1}), qs(q, SessionOptions{1});
  for (const auto& s : samples(16, 99)) EXPECT_GT(cosine_similarity(fs.run(s)[0], qs.run(s)[0]), 0.99);
  EXPECT_GT(r.mean_cosine, 0.99);
  o.conv_weight_bits = 9;
  EXPECT_THROW(quantize_model(*model, samples(4, 1), o, temp_path("bad_bits.onnx")), Error);
}

TEST(Quantize, ExcludedOpTypesStayFloat) {
  auto model = load(small_cnn());
  const std::string out = temp_path("small_int8_nogemm.onnx");
  QuantizeOptions o = quiet();
  o.exclude = {"Gemm", "conv2"};
  const QuantizeReport r = quantize_model(*model, samples(8, 2), o, out);
  EXPECT_EQ(r.quantized_nodes, 4);
  auto q = Model::load(out);
  std::map<std::string, std::string> precision;
  for (const auto& l : layer_precisions(*q)) precision[l.node] = l.precision;
  EXPECT_EQ(precision["fc"], "fp32");
  EXPECT_EQ(precision["conv2"], "fp32");
  EXPECT_EQ(precision["conv1"], "int8 (QDQ)");
}

TEST(Quantize, AutomaticModeKeepsTheSensitiveLayerInFloat) {
  // conv_a makes one huge channel beside a small one; conv_b reads only the small one. Quantizing
  // that tensor per-tensor wipes out the small channel, so conv_b must stay float.
  test::ModelSpec m(13);
  m.input("input", {1, 2, 4, 4});
  m.initializer("wa", {2, 2, 1, 1}, {1000.0f, 0.0f, 0.0f, 1.0f});
  m.node("Conv", {"input", "wa"}, {"a"}, "conv_a");
  m.initializer("wb", {1, 2, 1, 1}, {0.0f, 1.0f});
  m.node("Conv", {"a", "wb"}, {"b"}, "conv_b");
  m.node("Flatten", {"b"}, {"out"}, "flatten");
  m.output("out", {1, 16});
  auto model = load(m);
  auto data = samples(16, 5, {1, 2, 4, 4});
  const std::string out = temp_path("sensitive.onnx");
  QuantizeOptions o = quiet();
  const QuantizeReport plain = quantize_model(*model, data, o, out);
  EXPECT_LT(plain.mean_cosine, 0.9);
  ASSERT_FALSE(plain.layers.empty());
  EXPECT_EQ(plain.layers.front().node, "conv_b");  // blamed for the noise
  o.automatic = true;
  o.min_top1_agreement = 0;
  const QuantizeReport aut = quantize_model(*model, data, o, out);
  EXPECT_GE(aut.mean_cosine, 0.995);
  EXPECT_EQ(aut.float_nodes, std::vector<std::string>{"conv_b"});
  EXPECT_EQ(aut.quantized_nodes, 1);
}

// input [1,4,6,6] -> Conv 1x1 (channel ranges 0.02 .. 30) -> Relu -> x; squeeze-excitation:
// GlobalAveragePool(x) -> Conv fc1 -> Relu -> Conv fc2 -> Sigmoid -> gate; x * gate -> Conv proj -> Flatten
test::ModelSpec gated_model() {
  test::ModelSpec m(13);
  m.input("input", {1, 4, 6, 6});
  const float size[8] = {0.02f, 0.05f, 0.1f, 0.3f, 1.0f, 3.0f, 10.0f, 30.0f};
  std::vector<float> wx = test::uniform(8 * 4, 1.0f, 3);
  for (int c = 0; c < 8; ++c)
    for (int k = 0; k < 4; ++k) wx[c * 4 + k] = size[c] * (0.5f + std::fabs(wx[c * 4 + k]));
  m.initializer("wx", {8, 4, 1, 1}, wx);
  m.node("Conv", {"input", "wx"}, {"cx"}, "conv_x");
  m.node("Relu", {"cx"}, {"x"}, "relu_x");
  m.node("GlobalAveragePool", {"x"}, {"pooled"}, "gap");
  m.initializer("w1", {4, 8, 1, 1}, test::uniform(32, 0.5f, 4));
  m.node("Conv", {"pooled", "w1"}, {"c1"}, "fc1");
  m.node("Relu", {"c1"}, {"r1"}, "relu1");
  m.initializer("w2", {8, 4, 1, 1}, test::uniform(32, 0.5f, 5));
  m.node("Conv", {"r1", "w2"}, {"c2"}, "fc2");
  m.node("Sigmoid", {"c2"}, {"gate"}, "sigmoid");
  m.node("Mul", {"x", "gate"}, {"y"}, "scale");
  // The projection weighs every channel alike in its output: small channels get large weights.
  std::vector<float> wp = test::uniform(6 * 8, 0.5f, 6);
  for (int o = 0; o < 6; ++o)
    for (int c = 0; c < 8; ++c) wp[o * 8 + c] /= size[c];
  m.initializer("wp", {6, 8, 1, 1}, wp);
  m.node("Conv", {"y", "wp"}, {"proj"}, "conv_proj");
  m.node("Flatten", {"proj"}, {"out"}, "flatten");
  m.output("out", {1, 216});
  return m;
}

TEST(Quantize, ChannelEqualizationKeepsTheFloatResult) {
  auto model = load(gated_model());
  auto data = samples(8, 21, {1, 4, 6, 6});
  QuantizeOptions o = quiet();
  o.exclude = {"Conv", "GlobalAveragePool"};  // nothing quantized: only the equalization rewrite is left
  o.bias_correction = false;
  const std::string out = temp_path("equalized_float.onnx");
  quantize_model(*model, data, o, out);
  auto rewritten = Model::load(out);
  // The gate of conv_proj and the [1, C, 1, 1] inputs of fc1 and fc2 each get a Mul of C values.
  EXPECT_EQ(op_counts(*rewritten)["Mul"], 4);
  Session a(model), b(rewritten);
  for (const auto& x : data) {
    const Tensor ya = a.run(x)[0], yb = b.run(x)[0];
    ASSERT_EQ(ya.numel(), yb.numel());
    for (int64_t i = 0; i < ya.numel(); ++i)
      ASSERT_NEAR(yb.data<float>()[i], ya.data<float>()[i], 1e-4f * (1.0f + std::fabs(ya.data<float>()[i])));
  }
}

TEST(Quantize, ChannelEqualizationFitsSmallChannelsIntoTheInt8Range) {
  auto model = load(gated_model());
  auto data = samples(16, 22, {1, 4, 6, 6});
  QuantizeOptions o = quiet();
  o.equalize_channels = false;
  const QuantizeReport plain = quantize_model(*model, data, o, temp_path("plain.onnx"));
  o.equalize_channels = true;
  const QuantizeReport equalized = quantize_model(*model, data, o, temp_path("equalized.onnx"));
  EXPECT_LT(1 - equalized.mean_cosine, 0.3 * (1 - plain.mean_cosine));
  // x also feeds the float Mul: quantizing it for the average alone would only add noise there.
  auto written = Model::load(temp_path("equalized.onnx"));
  int pools = 0;
  for (const auto& n : written->graph().nodes) {
    if (n.op_type != "GlobalAveragePool") continue;
    ++pools;
    for (const auto& p : written->graph().nodes)
      if (p.outputs[0] == n.inputs[0]) EXPECT_NE(p.op_type, "DequantizeLinear");
  }
  EXPECT_EQ(pools, 1);
}

TEST(Quantize, BiasCorrectionRemovesTheMeanShiftOfRoundedWeights) {
  // One 3x3 kernel per channel (depthwise): a large tap sets the int8 scale (1/127), and eight small
  // taps of 0.0041 all round up to 0.0079, so on an input of mean 1 every output is ~0.03 too large.
  test::ModelSpec m(13);
  m.input("input", {1, 2, 6, 6});
  std::vector<float> w(2 * 9, 0.0041f);
  w[4] = 1.0f;
  w[9 + 4] = -1.0f;
  m.initializer("w", {2, 1, 3, 3}, w);
  auto* conv = m.node("Conv", {"input", "w"}, {"out"}, "dw");
  auto* group = conv->add_attribute();
  group->set_name("group");
  group->set_type(onnx::AttributeProto::INT);
  group->set_i(2);
  m.output("out", {1, 2, 4, 4});
  auto model = load(m);
  auto data = samples(32, 9, {1, 2, 6, 6});
  for (auto& s : data)
    for (int64_t i = 0; i < s["input"].numel(); ++i) s["input"].data<float>()[i] = 1.0f + 0.3f * s["input"].data<float>()[i];
  auto mean_shift = [&](bool correct) {
    QuantizeOptions o = quiet();
    o.bias_correction = correct;
    const std::string path = temp_path(correct ? "bc_on.onnx" : "bc_off.onnx");
    quantize_model(*model, data, o, path);
    Session f(model), q(Model::load(path));
    double shift = 0;
    int64_t n = 0;
    for (const auto& s : samples(8, 21, {1, 2, 6, 6})) {
      Sample x = s;
      for (int64_t i = 0; i < x["input"].numel(); ++i) x["input"].data<float>()[i] = 1.0f + 0.3f * x["input"].data<float>()[i];
      const Tensor a = f.run(x)[0], b = q.run(x)[0];
      for (int64_t i = 0; i < a.numel(); ++i, ++n) shift += b.data<float>()[i] - a.data<float>()[i];
    }
    return shift / static_cast<double>(n);
  };
  const double before = mean_shift(false), after = mean_shift(true);
  EXPECT_GT(before, 0.02);  // 8 taps x +0.0038 x mean 1
  EXPECT_LT(std::fabs(after), 0.1 * before);
}

TEST(Quantize, PercentileEntropyAndMseMethodsProduceWorkingModels) {
  auto model = load(small_cnn());
  for (auto method : {CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    QuantizeOptions o = quiet();
    o.method = method;
    const QuantizeReport r = quantize_model(*model, samples(16, 4), o, temp_path("m.onnx"));
    EXPECT_GT(r.mean_cosine, 0.98);
  }
  EXPECT_THROW(parse_calibration_method("kl"), Error);
}

TEST(Quantize, BadCalibrationDataIsRejected) {
  auto model = load(small_cnn());
  const std::string out = temp_path("bad.onnx");
  auto expect_error = [&](const std::vector<Sample>& data, const std::string& needle) {
    try {
      quantize_model(*model, data, quiet(), out);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({}, "empty");
  expect_error(samples(2, 1, {1, 3, 9, 9}), "shape");
  auto nan = samples(3, 1);
  nan[2]["input"].data<float>()[17] = NAN;
  expect_error(nan, "NaN");
  std::vector<Sample> wrong_name = {{{"image", samples(1, 1)[0].at("input")}}};
  expect_error(wrong_name, "no input 'input'");
  EXPECT_FALSE(fs::exists(out));
}

TEST(Fp16, WeightsStoredInHalfComputeMatchesRoundedWeights) {
  auto model = load(small_cnn());
  const std::string out = temp_path("small_fp16.onnx");
  EXPECT_EQ(convert_weights_to_fp16(*model, out), 3);  // w1, w2, wf; the biases are too small to matter
  auto half = Model::load(out);
  for (const auto& l : layer_precisions(*half))
    EXPECT_EQ(l.precision, "fp16") << l.node;
  // Independent reference: the float model with every converted weight rounded through fp16.
  test::ModelSpec rounded = small_cnn();
  for (auto& init : *rounded.proto.mutable_graph()->mutable_initializer()) {
    if (init.float_data_size() < 16) continue;
    for (int i = 0; i < init.float_data_size(); ++i) init.set_float_data(i, half_to_float(float_to_half(init.float_data(i))));
  }
  Session a(half), b(load(rounded));
  for (const auto& s : samples(4, 8)) {
    const auto x = a.run(s), y = b.run(s);
    for (int64_t i = 0; i < x[0].numel(); ++i) EXPECT_EQ(x[0].data<float>()[i], y[0].data<float>()[i]);
  }
}
