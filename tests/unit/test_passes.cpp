// Graph passes on small graphs: what each rewrites and what it leaves alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "edgerun/edgerun.h"
#include "ir/graph.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "model_builder.h"
#include "passes/passes.h"

using namespace edgerun;

namespace {

using test::set_ints;
using test::set_int;

onnx::AttributeProto* add_attr(onnx::NodeProto* n, const std::string& name) {
  auto* a = n->add_attribute();
  a->set_name(name);
  return a;
}
void set_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = add_attr(n, name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  return v;
}

void add_conv(test::ModelSpec& m, const std::string& x, const std::string& y, int64_t cin, int64_t cout, int64_t k,
              bool bias = true) {
  m.initializer(y + "_w", {cout, cin, k, k}, ramp(static_cast<size_t>(cout * cin * k * k), 0.3f));
  std::vector<std::string> ins = {x, y + "_w"};
  if (bias) {
    m.initializer(y + "_b", {cout}, ramp(static_cast<size_t>(cout), 0.1f));
    ins.push_back(y + "_b");
  }
  auto* n = m.node("Conv", ins, {y});
  if (k > 1) set_ints(n, "pads", {k / 2, k / 2, k / 2, k / 2});
}

void add_batchnorm(test::ModelSpec& m, const std::string& x, const std::string& y, int64_t c) {
  m.initializer(y + "_scale", {c}, ramp(static_cast<size_t>(c), 1.5f));
  m.initializer(y + "_shift", {c}, ramp(static_cast<size_t>(c), 0.2f));
  m.initializer(y + "_mean", {c}, ramp(static_cast<size_t>(c), 0.1f));
  std::vector<float> var = ramp(static_cast<size_t>(c), 0.4f);
  for (auto& v : var) v = std::fabs(v) + 0.5f;
  m.initializer(y + "_var", {c}, var);
  m.node("BatchNormalization", {x, y + "_scale", y + "_shift", y + "_mean", y + "_var"}, {y});
}

std::shared_ptr<Model> load(const test::ModelSpec& m) {
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

std::vector<std::string> op_types(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.domain.empty() ? n.op_type : n.domain + "." + n.op_type);
  return ops;
}

using Ops = std::vector<std::string>;

const Node& producer(const Graph& g, const std::string& value) {
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (o == value) return n;
  throw std::runtime_error("no node writes " + value);
}

}  // namespace

TEST(RemoveIdentities, DropsIdentityAndInferenceDropout) {
  test::ModelSpec m;
  m.input("x", {2, 3});
  m.node("Relu", {"x"}, {"a"});
  m.node("Identity", {"a"}, {"b"});
  m.node("Dropout", {"b"}, {"c"});
  m.node("Neg", {"c"}, {"y"});
  m.output("y", {2, 3});
  Graph g = load(m)->graph();
  EXPECT_EQ(remove_identities(g), 2);
  EXPECT_EQ(op_types(g), (Ops{"Relu", "Neg"}));
  EXPECT_EQ(g.nodes[1].inputs[0], "a");
}

TEST(RemoveIdentities, KeepsGraphOutputNames) {
  test::ModelSpec m;
  m.input("x", {2, 3});
  m.node("Relu", {"x"}, {"a"});
  m.node("Identity", {"a"}, {"y"});
  m.node("Identity", {"x"}, {"z"});  // input straight to output: nothing can write z instead
  m.output("y", {2, 3});
  m.output("z", {2, 3});
  Graph g = load(m)->graph();
  EXPECT_EQ(remove_identities(g), 1);
  EXPECT_EQ(op_types(g), (Ops{"Relu", "Identity"}));
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
}

TEST(RemoveIdentities, KeepsDropoutInTrainingMode) {
  test::ModelSpec m;
  m.input("x", {2, 3});
  m.input("training", {}, onnx::TensorProto::BOOL);
  m.node("Relu", {"x"}, {"a"});
  m.node("Dropout", {"a", "", "training"}, {"b"});
  m.node("Neg", {"b"}, {"y"});
  m.output("y", {2, 3});
  Graph g = load(m)->graph();
  EXPECT_EQ(remove_identities(g), 0);
}

TEST(FuseConvBatchNorm, FoldsIntoWeightsAndBias) {
  test::ModelSpec m;
  m.input("x", {1, 2, 4, 4});
  add_conv(m, "x", "c", 2, 3, 1);
  add_batchnorm(m, "c", "y", 3);
  m.output("y", {1, 3, 4, 4});
  auto model = load(m);
  Graph g = model->graph();
  EXPECT_EQ(fuse_conv_batchnorm(g), 1);
  ASSERT_EQ(op_types(g), (Ops{"Conv"}));
  const Node& conv = g.nodes[0];
  EXPECT_EQ(conv.outputs[0], "y");
  const Graph& orig = model->graph();
  const float* w0 = orig.initializers.at("c_w").data<float>();
  const float* b0 = orig.initializers.at("c_b").data<float>();
  const float* w1 = g.initializers.at(conv.inputs[1]).data<float>();
  const float* b1 = g.initializers.at(conv.inputs[2]).data<float>();
  for (int c = 0; c < 3; ++c) {
    const float s = orig.initializers.at("y_scale").data<float>()[c] /
                    std::sqrt(orig.initializers.at("y_var").data<float>()[c] + 1e-5f);
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(w1[c * 2 + i], w0[c * 2 + i] * s, 1e-6);
    const float expect_b = (b0[c] - orig.initializers.at("y_mean").data<float>()[c]) * s +
                           orig.initializers.at("y_shift").data<float>()[c];
    EXPECT_NEAR(b1[c], expect_b, 1e-6);
  }
  // The model's own graph is untouched.
  EXPECT_EQ(op_types(model->graph()), (Ops{"Conv", "BatchNormalization"}));
}

TEST(FuseConvBatchNorm, LeavesSharedConvOutput) {
  test::ModelSpec m;
  m.input("x", {1, 2, 4, 4});
  add_conv(m, "x", "c", 2, 3, 1);
  add_batchnorm(m, "c", "y", 3);
  m.node("Relu", {"c"}, {"z"});
  m.output("y", {1, 3, 4, 4});
  m.output("z", {1, 3, 4, 4});
  Graph g = load(m)->graph();
  EXPECT_EQ(fuse_conv_batchnorm(g), 0);
}

TEST(ConvertToNhwc, KeepsTheInteriorNhwc) {
  test::ModelSpec m;
  m.input("x", {1, 3, 8, 8});
  add_conv(m, "x", "a", 3, 4, 3);
  m.node("Relu", {"a"}, {"b"});
  add_conv(m, "b", "c", 4, 4, 3);
  m.node("Add", {"b", "c"}, {"d"});
  auto* pool = m.node("MaxPool", {"d"}, {"e"});
  set_ints(pool, "kernel_shape", {2, 2});
  set_ints(pool, "strides", {2, 2});
  add_conv(m, "e", "f", 4, 2, 1);
  add_conv(m, "e", "g", 4, 2, 3);
  set_int(m.node("Concat", {"f", "g"}, {"h"}), "axis", 1);
  m.node("GlobalAveragePool", {"h"}, {"y"});
  m.output("y", {1, 4, 1, 1});
  Graph g = load(m)->graph();
  EXPECT_EQ(convert_to_nhwc(g), 9);
  EXPECT_EQ(op_types(g), (Ops{"edgerun.NchwToNhwc", "edgerun.ConvNhwc", "edgerun.Clamp", "edgerun.ConvNhwc",
                              "edgerun.Add", "edgerun.MaxPoolNhwc", "edgerun.ConvNhwc", "edgerun.ConvNhwc", "Concat",
                              "edgerun.GlobalAveragePoolNhwc", "edgerun.NhwcToNchw"}));
  EXPECT_EQ(g.nodes[8].attr_int("axis", -1), 3);
  EXPECT_EQ(g.nodes.back().outputs[0], "y");
}

TEST(ConvertToNhwc, ConvertsBackForOtherOps) {
  test::ModelSpec m;
  m.input("x", {1, 3, 8, 8});
  add_conv(m, "x", "a", 3, 4, 3);
  m.node("Softmax", {"a"}, {"b"});
  add_conv(m, "b", "c", 4, 4, 3);
  m.node("Add", {"c", "x2"}, {"y"});  // one operand NCHW: Add stays as it is
  m.input("x2", {1, 4, 8, 8});
  m.output("y", {1, 4, 8, 8});
  Graph g = load(m)->graph();
  EXPECT_EQ(convert_to_nhwc(g), 2);
  EXPECT_EQ(op_types(g), (Ops{"edgerun.NchwToNhwc", "edgerun.ConvNhwc", "edgerun.NhwcToNchw", "Softmax",
                              "edgerun.NchwToNhwc", "edgerun.ConvNhwc", "edgerun.NhwcToNchw", "Add"}));
}

TEST(ConvertToNhwc, RunsLayoutFreeOnnxOpsOnNhwcData) {
  test::ModelSpec m;  // hardswish as exported at opset 13: x * HardSigmoid(x)
  m.input("x", {1, 3, 8, 8});
  add_conv(m, "x", "a", 3, 4, 3);
  m.node("HardSigmoid", {"a"}, {"b"});
  m.node("Mul", {"a", "b"}, {"c"});
  add_conv(m, "c", "y", 4, 4, 1);
  m.output("y", {1, 4, 8, 8});
  Graph g = load(m)->graph();
  EXPECT_EQ(convert_to_nhwc(g), 4);
  EXPECT_EQ(op_types(g), (Ops{"edgerun.NchwToNhwc", "edgerun.ConvNhwc", "HardSigmoid", "edgerun.Mul", "edgerun.ConvNhwc",
                              "edgerun.NhwcToNchw"}));
}

TEST(ConvertToNhwc, LeavesConvWithRuntimeWeights) {
  test::ModelSpec m;
  m.input("x", {1, 3, 8, 8});
  m.input("w", {4, 3, 3, 3});
  m.node("Conv", {"x", "w"}, {"y"});
  m.output("y", {1, 4, 6, 6});
  Graph g = load(m)->graph();
  EXPECT_EQ(convert_to_nhwc(g), 0);
  EXPECT_EQ(op_types(g), (Ops{"Conv"}));
}

TEST(CancelLayoutConversions, RemovesRoundTrips) {
  Graph g;
  g.inputs.push_back({"a", DType::kFloat32, {}, false});
  auto node = [](const std::string& op, const std::string& domain, const std::string& in, const std::string& out) {
    Node n;
    n.op_type = op;
    n.domain = domain;
    n.inputs = {in};
    n.outputs = {out};
    return n;
  };
  g.nodes.push_back(node("NhwcToNchw", "edgerun", "a", "b"));
  g.nodes.push_back(node("NchwToNhwc", "edgerun", "b", "c"));
  g.nodes.push_back(node("Relu", "", "c", "d"));
  g.nodes.push_back(node("Relu", "", "b", "e"));
  g.outputs.push_back({"d", DType::kFloat32, {}, false});
  g.outputs.push_back({"e", DType::kFloat32, {}, false});
  EXPECT_EQ(cancel_layout_conversions(g), 1);
  EXPECT_EQ(op_types(g), (Ops{"edgerun.NhwcToNchw", "Relu", "Relu"}));
  EXPECT_EQ(g.nodes[1].inputs[0], "a");
}

TEST(UseFullyConnected, RewritesGemmAndMatMulWithConstantWeights) {
  test::ModelSpec m;
  m.input("x", {2, 4});
  m.initializer("w", {3, 4}, ramp(12, 1.f));
  m.initializer("c", {3}, ramp(3, 1.f));
  m.initializer("v", {3, 5}, ramp(15, 1.f));
  set_int(m.node("Gemm", {"x", "w", "c"}, {"a"}), "transB", 1);
  m.node("MatMul", {"a", "v"}, {"b"});
  auto* scaled = m.node("Gemm", {"x", "w"}, {"y2"});
  set_int(scaled, "transB", 1);
  set_float(scaled, "alpha", 2.f);
  m.node("Relu", {"b"}, {"y"});
  m.output("y", {2, 5});
  m.output("y2", {2, 3});
  Graph g = load(m)->graph();
  EXPECT_EQ(use_fully_connected(g), 2);
  EXPECT_EQ(producer(g, "a").op_type, "FullyConnected");
  EXPECT_EQ(producer(g, "a").attr_int("transpose_weights", -1), 0);
  EXPECT_EQ(producer(g, "b").op_type, "FullyConnected");
  EXPECT_EQ(producer(g, "b").attr_int("transpose_weights", -1), 1);
  EXPECT_EQ(producer(g, "y2").op_type, "Gemm");
  EXPECT_EQ(fuse_activations(g), 1);
  EXPECT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(producer(g, "y").op_type, "FullyConnected");
  EXPECT_EQ(producer(g, "y").attr_float("activation_min", -1.f), 0.f);
}

TEST(UseFullyConnected, FoldsAVectorBiasAddIntoTheLayer) {
  test::ModelSpec m;
  m.input("x", {2, 4});
  m.initializer("v", {4, 3}, ramp(12, 1.f));
  m.initializer("bias", {3}, ramp(3, 1.f));
  m.initializer("row", {1, 3}, ramp(3, 1.f));
  m.node("MatMul", {"x", "v"}, {"a"});
  m.node("Add", {"bias", "a"}, {"y"});  // bias first: Add commutes
  m.node("MatMul", {"x", "v"}, {"b"});
  m.node("Add", {"b", "row"}, {"z"});   // [1, 3] could change the output rank: left alone
  m.node("MatMul", {"x", "v"}, {"c"});
  m.node("Add", {"c", "bias"}, {"u"});
  m.node("Relu", {"c"}, {"w"});         // c read twice: left alone
  m.output("y", {2, 3});
  m.output("z", {2, 3});
  m.output("u", {2, 3});
  m.output("w", {2, 3});
  Graph g = load(m)->graph();
  EXPECT_EQ(use_fully_connected(g), 4);  // three MatMuls, one Add folded
  EXPECT_EQ(producer(g, "y").op_type, "FullyConnected");
  EXPECT_EQ(producer(g, "y").inputs, (std::vector<std::string>{"x", "v", "bias"}));
  EXPECT_EQ(producer(g, "z").op_type, "Add");
  EXPECT_EQ(producer(g, "u").op_type, "Add");
  EXPECT_EQ(g.nodes.size(), 6u);
}

TEST(FuseActivations, FusesReluAndRelu6IntoConvolutions) {
  test::ModelSpec m;
  m.input("x", {1, 3, 8, 8});
  add_conv(m, "x", "a", 3, 4, 3);
  m.node("Relu", {"a"}, {"b"});
  add_conv(m, "b", "c", 4, 4, 3);
  m.initializer("lo", {}, {0.f});
  m.initializer("hi", {}, {6.f});
  m.node("Clip", {"c", "lo", "hi"}, {"d"});
  add_conv(m, "d", "e", 4, 4, 1);
  m.node("Relu", {"e"}, {"y"});
  m.node("Sigmoid", {"e"}, {"z"});  // e is read twice: no fusion into the third conv
  m.output("y", {1, 4, 8, 8});
  m.output("z", {1, 4, 8, 8});
  Graph g = load(m)->graph();
  convert_to_nhwc(g);
  EXPECT_EQ(fuse_activations(g), 2);
  EXPECT_EQ(op_types(g), (Ops{"edgerun.NchwToNhwc", "edgerun.ConvNhwc", "edgerun.ConvNhwc", "edgerun.ConvNhwc",
                              "edgerun.Clamp", "edgerun.Sigmoid", "edgerun.NhwcToNchw", "edgerun.NhwcToNchw"}));
  EXPECT_EQ(g.nodes[1].attr_string("fused_activation", ""), "Relu");
  EXPECT_EQ(g.nodes[2].attr_float("activation_max", 0.f), 6.f);
}

// The optimized session computes what the reference kernels compute.
namespace {

void int64_initializer(test::ModelSpec& m, const std::string& name, const std::vector<int64_t>& values) {
  auto* t = m.proto.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

// A 3x3 window over [*, *, size, size] as nine strided Slices of the padded input (pad 1), for the
// reference model: the reference kernels have no pooling yet.
std::vector<std::string> window_taps(test::ModelSpec& m, const std::string& x, const std::string& prefix, float pad_value,
                                     int64_t size, int64_t stride) {
  m.initializer(prefix + "_padval", {}, {pad_value});
  int64_initializer(m, prefix + "_pads", {0, 0, 1, 1, 0, 0, 1, 1});
  m.node("Pad", {x, prefix + "_pads", prefix + "_padval"}, {prefix + "_padded"});
  const int64_t out = (size + 2 - 3) / stride + 1;
  int64_initializer(m, prefix + "_axes", {2, 3});
  int64_initializer(m, prefix + "_steps", {stride, stride});
  std::vector<std::string> taps;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const std::string t = prefix + "_tap" + std::to_string(i * 3 + j);
      int64_initializer(m, t + "_starts", {i, j});
      int64_initializer(m, t + "_ends", {i + (out - 1) * stride + 1, j + (out - 1) * stride + 1});
      m.node("Slice", {prefix + "_padded", t + "_starts", t + "_ends", prefix + "_axes", prefix + "_steps"}, {t});
      taps.push_back(t);
    }
  return taps;
}

// conv-bn-relu-maxpool, conv-bn-add-relu, two convs (1x1 + Relu6, 3x3 + HardSwish) concatenated,
// averagepool, x*sigmoid(x), global average pool, gemm. With `reference`, pools and Gemm are
// written with ops the reference kernels have.
test::ModelSpec small_cnn(bool reference) {
  test::ModelSpec m;
  m.input("x", {2, 3, 16, 16});
  add_conv(m, "x", "c1", 3, 8, 3, false);
  add_batchnorm(m, "c1", "b1", 8);
  m.node("Relu", {"b1"}, {"r1"});
  if (reference) {
    m.node("Max", window_taps(m, "r1", "mp", -INFINITY, 16, 2), {"p1"});
  } else {
    auto* pool = m.node("MaxPool", {"r1"}, {"p1"});
    set_ints(pool, "kernel_shape", {3, 3});
    set_ints(pool, "strides", {2, 2});
    set_ints(pool, "pads", {1, 1, 1, 1});
  }
  add_conv(m, "p1", "c2", 8, 8, 3);
  add_batchnorm(m, "c2", "b2", 8);
  m.node("Add", {"b2", "p1"}, {"s"});
  m.node("Relu", {"s"}, {"r2"});
  add_conv(m, "r2", "c3", 8, 6, 1);
  m.initializer("six", {}, {6.f});
  m.initializer("zero", {}, {0.f});
  m.node("Clip", {"c3", "zero", "six"}, {"r3"});
  add_conv(m, "r2", "c4", 8, 6, 3);
  m.node("HardSwish", {"c4"}, {"h4"});
  set_int(m.node("Concat", {"r3", "h4"}, {"cat"}), "axis", 1);
  if (reference) {
    m.node("Sum", window_taps(m, "cat", "ap", 0.f, 8, 1), {"ap_sum"});
    std::vector<float> counts;  // window positions inside the 8x8 input (padding not counted)
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) counts.push_back(float((i == 0 || i == 7 ? 2 : 3) * (j == 0 || j == 7 ? 2 : 3)));
    m.initializer("ap_counts", {1, 1, 8, 8}, counts);
    m.node("Div", {"ap_sum", "ap_counts"}, {"p2"});
  } else {
    auto* avg = m.node("AveragePool", {"cat"}, {"p2"});
    set_ints(avg, "kernel_shape", {3, 3});
    set_ints(avg, "pads", {1, 1, 1, 1});
  }
  m.node("Sigmoid", {"p2"}, {"sg"});
  m.node("Mul", {"p2", "sg"}, {"sw"});
  if (reference) {
    auto* mean = m.node("ReduceMean", {"sw"}, {"gap"});
    set_ints(mean, "axes", {2, 3});
    m.initializer("fc_w", {10, 12, 1, 1}, ramp(120, 0.5f));
    m.initializer("fc_b", {10}, ramp(10, 0.1f));
    m.node("Conv", {"gap", "fc_w", "fc_b"}, {"fc"});
    set_int(m.node("Flatten", {"fc"}, {"y"}), "axis", 1);
  } else {
    m.node("GlobalAveragePool", {"sw"}, {"gap"});
    set_int(m.node("Flatten", {"gap"}, {"flat"}), "axis", 1);
    m.initializer("fc_w", {10, 12}, ramp(120, 0.5f));
    m.initializer("fc_b", {10}, ramp(10, 0.1f));
    set_int(m.node("Gemm", {"flat", "fc_w", "fc_b"}, {"y"}), "transB", 1);
  }
  m.node("Identity", {"c4"}, {"feature"});
  m.output("y", {2, 10});
  m.output("feature", {2, 6, 8, 8});
  return m;
}

// max |a - b| / max |b|, over all outputs.
double relative_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].shape(), b[k].shape());
    double scale = 1e-30, diff = 0;
    for (int64_t i = 0; i < b[k].numel(); ++i) {
      scale = std::max(scale, std::fabs(double(b[k].data<float>()[i])));
      diff = std::max(diff, std::fabs(double(a[k].data<float>()[i]) - b[k].data<float>()[i]));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace

TEST(OptimizedSession, MatchesReferenceOnSmallCnn) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  auto model = load(small_cnn(false));
  // Reference: the reference kernels; BatchNormalization pre-folded where there is no reference kernel for it.
  auto reference_model = load(small_cnn(true));
  if (!KernelRegistry::instance().find("", "BatchNormalization")) fuse_conv_batchnorm(reference_model->mutable_graph());
  SessionOptions off;
  off.optimize = false;
  Session reference(reference_model, off);

  Tensor x(DType::kFloat32, {2, 3, 16, 16});
  const auto values = ramp(static_cast<size_t>(x.numel()), 2.f);
  std::copy(values.begin(), values.end(), x.data<float>());
  const auto expected = reference.run({{"x", x}});

  const size_t model_nodes = model->graph().nodes.size();
  for (int threads : {1, 2}) {
    SessionOptions on;
    on.num_threads = threads;
    Session fast(model, on);
    const auto got = fast.run({{"x", x}});
    EXPECT_LT(relative_difference(got, expected), 1e-4) << threads << " threads";
    std::vector<std::string> ops;
    for (const auto& s : fast.node_summaries()) ops.push_back(s.op_type);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "ConvNhwc"), 4);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "NchwToNhwc"), 1);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "NhwcToNchw"), 2);  // the feature output and before Flatten
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "FullyConnected"), 1);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Relu"), 0);
  }
  EXPECT_EQ(model->graph().nodes.size(), model_nodes);  // the model's graph is not rewritten
}

TEST(FuseHardSwish, FusesExportedHardSwishAndLeavesOtherMuls) {
  test::ModelSpec m;
  m.input("x", {1, 4, 3, 3});
  m.input("s", {1, 4, 1, 1});
  auto* a = m.node("HardSigmoid", {"x"}, {"hx"});
  set_float(a, "alpha", 1.f / 6.f);
  set_float(a, "beta", 0.5f);
  m.node("Mul", {"hx", "x"}, {"y"});  // HardSwish with the operands swapped
  auto* b = m.node("HardSigmoid", {"s"}, {"hs"});
  set_float(b, "alpha", 1.f / 6.f);
  set_float(b, "beta", 0.5f);
  m.node("Mul", {"y", "hs"}, {"z"});  // a squeeze-excitation gate: a different tensor is scaled
  m.node("HardSigmoid", {"z"}, {"hz"});  // default alpha 0.2: not HardSwish
  m.node("Mul", {"z", "hz"}, {"out"});
  m.output("out", {1, 4, 3, 3});
  auto model = load(m);
  Graph g = model->graph();
  EXPECT_EQ(fuse_hard_swish(g), 1);
  EXPECT_EQ(op_types(g), (Ops{"HardSwish", "HardSigmoid", "Mul", "HardSigmoid", "Mul"}));
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"x"}));
  EXPECT_EQ(g.nodes[0].outputs, (std::vector<std::string>{"y"}));

  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  Session fast(model);
  Tensor x(DType::kFloat32, {1, 4, 3, 3}), s(DType::kFloat32, {1, 4, 1, 1});
  const auto xv = ramp(36, 5.f), sv = ramp(4, 4.f);
  std::copy(xv.begin(), xv.end(), x.data<float>());
  std::copy(sv.begin(), sv.end(), s.data<float>());
  const auto expected = reference.run({{"x", x}, {"s", s}});
  const auto got = fast.run({{"x", x}, {"s", s}});
  for (int i = 0; i < 36; ++i) EXPECT_NEAR(got[0].data<float>()[i], expected[0].data<float>()[i], 1e-5f) << i;
}

TEST(FuseSilu, FusesSigmoidTimesInputInTheNhwcRegion) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  test::ModelSpec m;
  m.input("x", {2, 8, 9, 7});
  add_conv(m, "x", "c", 8, 16, 3);
  m.node("Sigmoid", {"c"}, {"s"});
  m.node("Mul", {"c", "s"}, {"y"});  // SiLU after a convolution: fused into it
  add_conv(m, "y", "d", 16, 16, 1);
  m.node("Add", {"d", "d"}, {"q"});
  m.node("Sigmoid", {"q"}, {"qs"});
  m.node("Mul", {"qs", "q"}, {"v"});  // SiLU after an Add: the standalone kernel
  m.node("GlobalAveragePool", {"v"}, {"p"});
  m.node("Sigmoid", {"p"}, {"gate"});
  m.node("Mul", {"v", "gate"}, {"z"});  // a squeeze-excitation gate stays a Mul
  m.output("z", {2, 16, 9, 7});
  auto model = load(m);
  Graph g = model->graph();
  convert_to_nhwc(g);
  EXPECT_EQ(fuse_silu(g), 2);
  auto ops = op_types(g);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "edgerun.Silu"), 2);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "edgerun.Sigmoid"), 1);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "edgerun.Mul"), 1);
  EXPECT_EQ(fuse_activations(g), 1);
  ops = op_types(g);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "edgerun.Silu"), 1);
  EXPECT_EQ(std::count_if(g.nodes.begin(), g.nodes.end(),
                          [](const Node& n) { return n.op_type == "ConvNhwc" && n.attr_string("fused_function", "") == "Silu"; }),
            1);

  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  // Inputs around 1 put the convolution outputs where SiLU bends; inputs around 40 put them far into
  // both tails of exp.
  for (float scale : {0.3f, 40.f}) {
    Tensor x(DType::kFloat32, {2, 8, 9, 7});
    const auto xv = ramp(static_cast<size_t>(x.numel()), scale);
    std::copy(xv.begin(), xv.end(), x.data<float>());
    const auto expected = reference.run({{"x", x}});
    for (int threads : {1, 2}) {
      SessionOptions on;
      on.num_threads = threads;
      Session fast(model, on);
      const auto got = fast.run({{"x", x}});
      std::vector<std::string> run_ops;
      for (const auto& s : fast.node_summaries()) run_ops.push_back(s.op_type);
      EXPECT_EQ(std::count(run_ops.begin(), run_ops.end(), "Silu"), 1);
      EXPECT_LT(relative_difference(got, expected), 1e-5) << threads << " threads, inputs x" << scale;
    }
  }
}

TEST(UseFastSigmoid, TakesSigmoidsOnFloatValuesOutsideTheNhwcRegion) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  test::ModelSpec m;
  m.input("x", {1, 4, 5, 6});
  m.input("raw", {3});
  add_conv(m, "x", "c", 4, 12, 3);
  int64_initializer(m, "shape", {1, 3, 4, 5, 6});
  m.node("Reshape", {"c", "shape"}, {"r"});
  set_ints(m.node("Transpose", {"r"}, {"t"}), "perm", {0, 1, 3, 4, 2});  // a detection head's layout
  m.node("Sigmoid", {"t"}, {"y"});
  m.node("Sigmoid", {"raw"}, {"z"});  // a graph input of undeclared use: type not proven, left alone
  m.output("y", {1, 3, 5, 6, 4});
  m.output("z", {3});
  auto model = load(m);
  Graph g = model->graph();
  convert_to_nhwc(g);
  EXPECT_EQ(use_fast_sigmoid(g), 1);
  EXPECT_EQ(producer(g, "y").domain, "edgerun");
  EXPECT_EQ(producer(g, "z").domain, "");

  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  Tensor x(DType::kFloat32, {1, 4, 5, 6}), raw(DType::kFloat32, {3});
  const auto xv = ramp(static_cast<size_t>(x.numel()), 3.f);
  std::copy(xv.begin(), xv.end(), x.data<float>());
  const auto expected = reference.run({{"x", x}, {"raw", raw}});
  for (int threads : {1, 2}) {
    SessionOptions on;
    on.num_threads = threads;
    Session fast(model, on);
    EXPECT_LT(relative_difference(fast.run({{"x", x}, {"raw", raw}}), expected), 1e-5) << threads << " threads";
  }
}

// Runs `model` optimized at 1 and 2 threads against the reference kernels; returns the op types the
// 2-thread session ran.
std::vector<std::string> expect_matches_reference(const std::shared_ptr<Model>& model, const Tensor& x) {
  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  const auto expected = reference.run({{"x", x}});
  std::vector<std::string> ops;
  for (int threads : {1, 2}) {
    SessionOptions on;
    on.num_threads = threads;
    Session fast(model, on);
    EXPECT_LT(relative_difference(fast.run({{"x", x}}), expected), 1e-5) << threads << " threads";
    ops.clear();
    for (const auto& s : fast.node_summaries()) ops.push_back(s.op_type);
  }
  return ops;
}

Tensor ramp_input(const Shape& shape) {
  Tensor x(DType::kFloat32, shape);
  const auto v = ramp(static_cast<size_t>(x.numel()), 1.f);
  std::copy(v.begin(), v.end(), x.data<float>());
  return x;
}

void add_shuffle(test::ModelSpec& m, const std::string& x, const std::string& y, const std::vector<int64_t>& view,
                 const std::vector<int64_t>& shape) {
  int64_initializer(m, y + "_view", view);
  int64_initializer(m, y + "_shape", shape);
  m.node("Reshape", {x, y + "_view"}, {y + "_5d"});
  set_ints(m.node("Transpose", {y + "_5d"}, {y + "_t"}), "perm", {0, 2, 1, 3, 4});
  m.node("Reshape", {y + "_t", y + "_shape"}, {y});
}

// A ShuffleNet unit as torchvision exports it: concatenated branches, channel shuffle, then halves cut by
// Slices whose bounds come from the Shape of the shuffled value.
TEST(FuseChannelShuffle, ShuffleNetUnitStaysNhwc) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  test::ModelSpec m;
  m.input("x", {1, 8, 6, 5});
  add_conv(m, "x", "a", 8, 8, 3);
  add_conv(m, "x", "b", 8, 8, 1);
  set_int(m.node("Concat", {"a", "b"}, {"c"}), "axis", 1);
  add_shuffle(m, "c", "s", {1, 2, 8, 6, 5}, {1, -1, 6, 5});
  m.node("Shape", {"s"}, {"dims"});
  int64_initializer(m, "one", {1});
  int64_initializer(m, "two", {2});
  int64_initializer(m, "zero", {0});
  int64_initializer(m, "channel_axis", {1});
  int64_initializer(m, "channel_axis_negative", {-3});
  set_int(m.node("Gather", {"dims", "one"}, {"channels"}), "axis", 0);
  m.node("Div", {"channels", "two"}, {"half"});
  m.node("Slice", {"s", "zero", "half", "channel_axis"}, {"lo"});
  m.node("Slice", {"s", "half", "channels", "channel_axis_negative"}, {"hi"});
  add_conv(m, "hi", "d", 8, 8, 1);
  set_int(m.node("Concat", {"lo", "d"}, {"y"}), "axis", 1);
  m.output("y", {1, 16, 6, 5});
  auto model = load(m);
  Graph g = model->graph();
  EXPECT_EQ(fuse_channel_shuffle(g), 1);
  EXPECT_EQ(producer(g, "s").op_type, "ChannelShuffle");

  const auto ops = expect_matches_reference(model, ramp_input({1, 8, 6, 5}));
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "ChannelShuffle"), 1);
  // Only the graph's input and output change layout: the Shape, the Slices and the shuffle stay NHWC.
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "NchwToNhwc"), 1);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "NhwcToNchw"), 1);
}

// Views that are not a per-pixel channel shuffle (here H and W swapped in the 5-D view), on NHWC data
// and on a graph input (NCHW), still give what the three ONNX ops give.
TEST(FuseChannelShuffle, OtherViewsKeepOnnxSemantics) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  for (bool after_conv : {true, false}) {
    test::ModelSpec m;
    m.input("x", {1, 8, 6, 5});
    if (after_conv) add_conv(m, "x", "a", 8, 8, 3);
    add_shuffle(m, after_conv ? "a" : "x", "s", {0, 2, 4, 5, 6}, {1, 8, 6, 5});
    add_conv(m, "s", "y", 8, 4, 1);
    m.output("y", {1, 4, 6, 5});
    const auto ops = expect_matches_reference(load(m), ramp_input({1, 8, 6, 5}));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "ChannelShuffle"), 1) << "after_conv " << after_conv;
  }
}

// Squeeze-excitation as MobileNetV3 exports it: the gate is GlobalAveragePool -> 1x1 conv -> Relu ->
// 1x1 conv -> HardSigmoid, and x * gate feeds the projecting 1x1 convolution.
std::shared_ptr<Model> squeeze_excitation(int64_t batch, int64_t channels, int64_t size, bool gate_first) {
  test::ModelSpec m;
  m.input("x", {batch, 4, size, size});
  add_conv(m, "x", "a", 4, channels, 3);
  m.node("GlobalAveragePool", {"a"}, {"pool"});
  add_conv(m, "pool", "fc1", channels, 8, 1);
  m.node("Relu", {"fc1"}, {"fc1_relu"});
  add_conv(m, "fc1_relu", "fc2", 8, channels, 1);
  m.node("HardSigmoid", {"fc2"}, {"gate"});
  m.node("Mul", gate_first ? std::vector<std::string>{"gate", "a"} : std::vector<std::string>{"a", "gate"}, {"scaled"});
  add_conv(m, "scaled", "y", channels, 24, 1);
  m.output("y", {batch, 24, size, size});
  return load(m);
}

// The product disappears whether the convolution scales its weights (a large image) or a scaled copy
// of x (a small image, where the weights are the larger; a batch of two, one gate per image).
TEST(FuseChannelScale, SqueezeExcitationGateScalesTheProjection) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  struct Case {
    int64_t batch, channels, size;
    bool gate_first;
  };
  for (const Case& c : {Case{1, 32, 12, false}, Case{1, 40, 2, true}, Case{2, 32, 9, false}}) {
    auto model = squeeze_excitation(c.batch, c.channels, c.size, c.gate_first);
    Graph g = model->graph();
    convert_to_nhwc(g);
    fuse_activations(g);
    EXPECT_EQ(fuse_channel_scale(g), 1);
    const auto ops = expect_matches_reference(model, ramp_input({c.batch, 4, c.size, c.size}));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Mul"), 0) << c.batch << " " << c.size;
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "ConvNhwc"), 4);
  }
}

// A gate in front of a depthwise convolution: the convolution (the AVX2 depthwise kernel) reads x * gate
// from scratch, one gate per image.
TEST(FuseChannelScale, GateBeforeDepthwiseConvolution) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  for (int64_t batch : {1, 2}) {
    test::ModelSpec m;
    m.input("x", {batch, 4, 9, 9});
    add_conv(m, "x", "a", 4, 24, 3);
    m.node("GlobalAveragePool", {"a"}, {"pool"});
    add_conv(m, "pool", "fc", 24, 24, 1);
    m.node("Sigmoid", {"fc"}, {"gate"});
    m.node("Mul", {"a", "gate"}, {"scaled"});
    m.initializer("dw_w", {24, 1, 5, 5}, ramp(24 * 25, 0.3f));
    auto* dw = m.node("Conv", {"scaled", "dw_w"}, {"y"});
    set_ints(dw, "pads", {2, 2, 2, 2});
    set_int(dw, "group", 24);
    m.output("y", {batch, 24, 9, 9});
    auto model = load(m);
    Graph g = model->graph();
    convert_to_nhwc(g);
    fuse_activations(g);
    EXPECT_EQ(fuse_channel_scale(g), 1);
    const auto ops = expect_matches_reference(model, ramp_input({batch, 4, 9, 9}));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Mul"), 0) << "batch " << batch;
  }
}

// A Mul by something other than a pooled gate stays a Mul.
TEST(FuseChannelScale, LeavesOtherProductsAlone) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  test::ModelSpec m;
  m.input("x", {1, 4, 6, 6});
  add_conv(m, "x", "a", 4, 8, 3);
  add_conv(m, "x", "b", 4, 8, 1);
  m.node("Mul", {"a", "b"}, {"p"});
  add_conv(m, "p", "y", 8, 8, 1);
  m.output("y", {1, 8, 6, 6});
  Graph g = load(m)->graph();
  convert_to_nhwc(g);
  EXPECT_EQ(fuse_channel_scale(g), 0);
}

// A ResNet basic block: the second convolution takes the shortcut and the Relu after the Add, on each
// kernel path (direct, both Winograd tiles, the AVX2 depthwise kernel, XNNPACK depthwise), and shortcuts
// that broadcast either way.
TEST(FuseResidualAdd, ResidualBlocksMatchReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  for (const char* winograd : {"0", "2", "4"}) {
    setenv("EDGERUN_CONV_WINOGRAD", winograd, 1);
    test::ModelSpec m;
    m.input("x", {1, 16, 10, 9});
    add_conv(m, "x", "a", 16, 16, 3);
    m.node("Relu", {"a"}, {"a_relu"});
    add_conv(m, "a_relu", "b", 16, 16, 3);
    m.node("Add", {"b", "x"}, {"sum"});
    m.node("Relu", {"sum"}, {"y"});
    m.output("y", {1, 16, 10, 9});
    auto model = load(m);
    Graph g = model->graph();
    convert_to_nhwc(g);
    fuse_activations(g);
    EXPECT_EQ(fuse_residual_add(g), 1);
    const auto ops = expect_matches_reference(model, ramp_input({1, 16, 10, 9}));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Add"), 0) << "EDGERUN_CONV_WINOGRAD=" << winograd;
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Relu"), 0);
  }
  unsetenv("EDGERUN_CONV_WINOGRAD");

  // Depthwise: the own kernel adds the shortcut as it stores; XNNPACK (EDGERUN_CONV_DEPTHWISE=0) writes
  // the convolution, and the sum and the clamp follow.
  test::ModelSpec dw;
  dw.input("x", {1, 8, 7, 7});
  dw.initializer("w", {8, 1, 3, 3}, ramp(72, 0.4f));
  auto* conv = dw.node("Conv", {"x", "w"}, {"c"});
  set_ints(conv, "pads", {1, 1, 1, 1});
  set_int(conv, "group", 8);
  add_conv(dw, "x", "pre", 8, 8, 1);
  dw.node("Relu", {"pre"}, {"pre_relu"});  // a convolution with its own activation: not the one fused
  dw.node("Add", {"pre_relu", "c"}, {"sum"});
  dw.initializer("lo", {}, {0.f});
  dw.initializer("hi", {}, {0.5f});
  dw.node("Clip", {"sum", "lo", "hi"}, {"y"});
  dw.output("y", {1, 8, 7, 7});
  for (const char* own : {"1", "0"}) {
    setenv("EDGERUN_CONV_DEPTHWISE", own, 1);
    const auto ops = expect_matches_reference(load(dw), ramp_input({1, 8, 7, 7}));
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Add"), 0) << "EDGERUN_CONV_DEPTHWISE=" << own;
  }
  unsetenv("EDGERUN_CONV_DEPTHWISE");

  // Shortcuts of another shape: [N, C, 1, 1] into a full map, and a 1x1 map into a full shortcut (the
  // output takes the shortcut's size, as the Add's did).
  for (bool small_conv : {false, true}) {
    test::ModelSpec b;
    b.input("x", {1, 8, 5, 6});
    add_conv(b, "x", "d", 8, 8, 1);  // first, so that x is NHWC for the pool
    b.node("GlobalAveragePool", {"x"}, {"pool"});
    add_conv(b, small_conv ? "pool" : "x", "c", 8, 8, 1);
    b.node("Add", {"c", small_conv ? "d" : "pool"}, {"y"});
    b.output("y", {1, 8, 5, 6});
    const auto b_ops = expect_matches_reference(load(b), ramp_input({1, 8, 5, 6}));
    EXPECT_EQ(std::count(b_ops.begin(), b_ops.end(), "Add"), 0) << "small_conv " << small_conv;
  }
}
