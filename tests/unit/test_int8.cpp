// Int8 execution of QDQ models: the optimized session (FuseQdq, int8 XNNPACK kernels, NHWC) computes
// what the unoptimized session computes (DequantizeLinear -> float reference op -> QuantizeLinear),
// within one int8 step per single int8 op: XNNPACK requantizes in float with its own rounding of the
// accumulator-times-scale product, so a value that lands within float error of a .5 boundary may round
// the other way. Chains of int8 ops are compared with a bound of a few steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "edgerun/edgerun.h"
#include "ir/graph.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "model_builder.h"
#include "passes/passes.h"

using namespace edgerun;

namespace {

using test::set_ints;
using test::set_int;

// Deterministic pseudo-random values in [-1, 1).
struct Noise {
  uint32_t state;
  explicit Noise(uint32_t seed) : state(seed * 2654435761u + 12345u) {}
  float next() {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.f;
  }
};

template <typename T>
void raw_initializer(test::ModelSpec& m, const std::string& name, int type, const std::vector<int64_t>& dims,
                     const std::vector<T>& values) {
  auto* t = m.proto.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

// Builds QDQ graphs in the format `edgerun quantize` and ONNX Runtime's QDQ quantizer write.
struct QdqModel {
  test::ModelSpec m;
  Noise noise{7};
  int counter = 0;

  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter++); }

  void scalar(const std::string& name, float v) { m.initializer(name, {}, {v}); }
  void int8_scalar(const std::string& name, int8_t v) { raw_initializer<int8_t>(m, name, onnx::TensorProto::INT8, {}, {v}); }

  // x -> QuantizeLinear -> q; returns q (int8). Scale and zero point names are prefix_scale / prefix_zp.
  std::string quantize(const std::string& x, const std::string& prefix, float scale, int8_t zp) {
    scalar(prefix + "_scale", scale);
    int8_scalar(prefix + "_zp", zp);
    const std::string q = prefix + "_q";
    m.node("QuantizeLinear", {x, prefix + "_scale", prefix + "_zp"}, {q});
    return q;
  }
  std::string dequantize(const std::string& q, const std::string& prefix) {
    const std::string d = fresh(prefix + "_dq");
    m.node("DequantizeLinear", {q, prefix + "_scale", prefix + "_zp"}, {d});
    return d;
  }
  // Q -> DQ pair of an activation; returns the DQ output.
  std::string qdq(const std::string& x, const std::string& prefix, float scale, int8_t zp) {
    return dequantize(quantize(x, prefix, scale, zp), prefix);
  }

  // DQ(w) [M, C/g, k, k] with per-channel scales and zero zero points, DQ(b) in x_scale * w_scale units.
  // Float weights are about U(-1, 1) / sqrt(fan_in), so outputs keep the input's magnitude.
  std::string conv(const std::string& x, float x_scale, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                   int64_t group, bool bias, int8_t w_zero_point = 0, int weight_range = 127) {
    const std::string p = fresh("conv");
    const int64_t fan_in = cin / group * k * k;
    std::vector<int8_t> w(static_cast<size_t>(cout * fan_in));
    for (auto& v : w) v = static_cast<int8_t>(std::lround(weight_range * noise.next()));
    std::vector<float> ws(static_cast<size_t>(cout));
    for (int64_t c = 0; c < cout; ++c) ws[c] = (1.f + 0.5f * std::sin(float(c))) / (127.f * std::sqrt(float(fan_in)));
    raw_initializer(m, p + "_w", onnx::TensorProto::INT8, {cout, cin / group, k, k}, w);
    m.initializer(p + "_ws", {cout}, ws);
    raw_initializer(m, p + "_wzp", onnx::TensorProto::INT8, {cout}, std::vector<int8_t>(cout, w_zero_point));
    set_int(m.node("DequantizeLinear", {p + "_w", p + "_ws", p + "_wzp"}, {p + "_wdq"}), "axis", 0);
    std::vector<std::string> ins = {x, p + "_wdq"};
    if (bias) {
      std::vector<int32_t> b(static_cast<size_t>(cout));
      std::vector<float> bs(static_cast<size_t>(cout));
      for (int64_t c = 0; c < cout; ++c) {
        bs[c] = x_scale * ws[c];
        b[c] = static_cast<int32_t>(std::lround(0.2f * noise.next() / bs[c]));
      }
      raw_initializer(m, p + "_b", onnx::TensorProto::INT32, {cout}, b);
      m.initializer(p + "_bs", {cout}, bs);
      raw_initializer(m, p + "_bzp", onnx::TensorProto::INT32, {cout}, std::vector<int32_t>(cout, 0));
      set_int(m.node("DequantizeLinear", {p + "_b", p + "_bs", p + "_bzp"}, {p + "_bdq"}), "axis", 0);
      ins.push_back(p + "_bdq");
    }
    auto* n = m.node("Conv", ins, {p + "_y"});
    set_ints(n, "strides", {stride, stride});
    if (k > 1) set_ints(n, "pads", {k / 2, k / 2, k / 2, k / 2});
    if (group > 1) set_int(n, "group", group);
    return p + "_y";
  }

  std::string relu(const std::string& x) {
    const std::string y = fresh("relu");
    m.node("Relu", {x}, {y});
    return y;
  }
  std::string clip(const std::string& x, float lo, float hi) {
    const std::string y = fresh("clip");
    scalar(y + "_lo", lo);
    scalar(y + "_hi", hi);
    m.node("Clip", {x, y + "_lo", y + "_hi"}, {y});
    return y;
  }

  std::shared_ptr<Model> load() const {
    const std::string bytes = m.bytes();
    return Model::load_from_memory(bytes.data(), bytes.size());
  }
};

Tensor random_input(const Shape& shape, uint32_t seed) {
  Tensor x(DType::kFloat32, shape);
  Noise n(seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = n.next();
  return x;
}

struct Comparison {
  int max_steps = 0;           // largest |fast - reference| in int8 steps
  std::vector<std::string> ops;  // executed op types of the fast session
};

// Op types a session executes, in order.
std::vector<std::string> executed_ops(const Session& session) {
  std::vector<std::string> ops;
  for (const auto& s : session.node_summaries()) ops.push_back(s.op_type);
  return ops;
}

// Runs the model on the reference path and on the fast path (1 and 2 threads); the output is int8.
Comparison compare(const std::shared_ptr<Model>& model, const Tensor& x) {
  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  const Tensor expected = reference.run({{"x", x}})[0];
  Comparison c;
  for (int threads : {1, 2}) {
    SessionOptions on;
    on.num_threads = threads;
    Session fast(model, on);
    const Tensor got = fast.run({{"x", x}})[0];
    EXPECT_EQ(got.dtype(), DType::kInt8);
    EXPECT_EQ(got.shape(), expected.shape());
    if (got.shape() != expected.shape() || got.dtype() != expected.dtype()) continue;
    for (int64_t i = 0; i < got.numel(); ++i)
      c.max_steps = std::max(c.max_steps, std::abs(int(got.data<int8_t>()[i]) - int(expected.data<int8_t>()[i])));
    c.ops = executed_ops(fast);
  }
  return c;
}

int count(const std::vector<std::string>& ops, const std::string& op) {
  return static_cast<int>(std::count(ops.begin(), ops.end(), op));
}

std::string joined(const std::vector<std::string>& ops) {
  std::string s;
  for (const auto& o : ops) s += o + " ";
  return s;
}

struct ConvCase {
  const char* name;
  int64_t cin, cout, k, stride, group;
  bool bias;
  int activation;  // 0 none, 1 Relu, 2 Clip(0, 0.4)
  int8_t x_zero_point;
  int64_t size = 9;  // input height and width
  int weight_range = 127;  // weights in [-range, range]; 63 (7-bit) takes the vpmaddubsw kernel
};

class Int8Conv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Int8Conv, MatchesReferenceWithinOneStep) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  const ConvCase p = GetParam();
  QdqModel q;
  q.m.input("x", {2, p.cin, p.size, p.size});
  const float x_scale = 2.f / 255;
  std::string y = q.conv(q.qdq("x", "in", x_scale, p.x_zero_point), x_scale, p.cin, p.cout, p.k, p.stride, p.group, p.bias,
                         0, p.weight_range);
  if (p.activation == 1) y = q.relu(y);
  if (p.activation == 2) y = q.clip(y, 0.f, 0.4f);
  const std::string out = q.quantize(y, "out", 1.2f / 127, -3);
  const int64_t o = (p.size + 2 * (p.k / 2) - p.k) / p.stride + 1;
  q.m.output(out, {2, p.cout, o, o}, onnx::TensorProto::INT8);
  const Comparison c = compare(q.load(), random_input({2, p.cin, p.size, p.size}, 3));
  EXPECT_LE(c.max_steps, 1);
  EXPECT_EQ(count(c.ops, "QConvNhwc"), 1) << joined(c.ops);
  EXPECT_EQ(count(c.ops, "Conv") + count(c.ops, "ConvNhwc") + count(c.ops, "DequantizeLinear"), 0) << joined(c.ops);
  EXPECT_EQ(count(c.ops, "Clip") + count(c.ops, "Relu"), 0) << joined(c.ops);  // the clamp is fused
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8Conv,
    ::testing::Values(ConvCase{"pointwise", 8, 16, 1, 1, 1, true, 0, 0}, ConvCase{"k3", 8, 8, 3, 1, 1, true, 0, 5},
                      ConvCase{"k3_stride2", 8, 12, 3, 2, 1, true, 1, -7}, ConvCase{"grouped", 8, 8, 3, 1, 2, true, 1, 0},
                      ConvCase{"depthwise", 8, 8, 3, 1, 8, true, 2, 3}, ConvCase{"depthwise_stride2", 16, 16, 3, 2, 16, true, 1, 0},
                      ConvCase{"no_bias_clip", 4, 8, 3, 1, 1, false, 2, -20}, ConvCase{"k5", 3, 6, 5, 2, 1, true, 1, 0},
                      // 1x1 with an input zero point, odd K above 16, N not a multiple of 16 and a row
                      // count (2 x 7 x 7 = 98) that is not a multiple of 6 (AVX2 pointwise kernel tails)
                      ConvCase{"pointwise_tails", 37, 21, 1, 1, 1, true, 1, -11, 7},
                      ConvCase{"pointwise_wide", 64, 40, 1, 1, 1, false, 0, 9, 11},
                      ConvCase{"im2col_zero_point", 3, 16, 3, 2, 1, true, 2, 17, 13},
                      // 7-bit weights: unsigned rows and k-quads (K not a multiple of 4, im2col padding)
                      ConvCase{"pointwise_tails_7bit", 37, 21, 1, 1, 1, true, 1, -11, 7, 63},
                      ConvCase{"pointwise_wide_7bit", 64, 40, 1, 1, 1, false, 0, 9, 11, 63},
                      ConvCase{"k3_7bit", 8, 8, 3, 1, 1, true, 0, 5, 9, 63},
                      ConvCase{"im2col_zero_point_7bit", 3, 16, 3, 2, 1, true, 2, 17, 13, 63},
                      ConvCase{"k5_7bit", 3, 6, 5, 2, 1, true, 1, -128, 9, 63},
                      // 6-bit weights, K >= 64: the k-octet tile (K = 72 through im2col, 69 padded to 72)
                      ConvCase{"k3_6bit", 8, 8, 3, 1, 1, true, 0, 5, 9, 31},
                      ConvCase{"pointwise_wide_6bit", 69, 40, 1, 1, 1, false, 0, 9, 11, 31}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

TEST(Int8Gemm, GemmAndMatMulMatchReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  for (bool matmul : {false, true}) {
    QdqModel q;
    q.m.input("x", {3, 16});
    const float x_scale = 2.f / 255;
    const std::string x = q.qdq("x", "in", x_scale, 4);
    std::vector<int8_t> w(160);
    for (auto& v : w) v = static_cast<int8_t>(std::lround(127 * q.noise.next()));
    std::vector<float> ws(10);
    for (int c = 0; c < 10; ++c) ws[c] = (1.f + 0.3f * std::cos(float(c))) / (127.f * 4.f);
    raw_initializer(q.m, "w", onnx::TensorProto::INT8, matmul ? std::vector<int64_t>{16, 10} : std::vector<int64_t>{10, 16}, w);
    q.m.initializer("ws", {10}, ws);
    raw_initializer(q.m, "wzp", onnx::TensorProto::INT8, {10}, std::vector<int8_t>(10, 0));
    set_int(q.m.node("DequantizeLinear", {"w", "ws", "wzp"}, {"wdq"}), "axis", matmul ? 1 : 0);
    std::string y;
    if (matmul) {
      q.m.node("MatMul", {x, "wdq"}, {"mm"});
      y = "mm";
    } else {
      std::vector<int32_t> b(10);
      std::vector<float> bs(10);
      for (int c = 0; c < 10; ++c) {
        bs[c] = x_scale * ws[c];
        b[c] = static_cast<int32_t>(std::lround(0.3f * q.noise.next() / bs[c]));
      }
      raw_initializer(q.m, "b", onnx::TensorProto::INT32, {10}, b);
      q.m.initializer("bs", {10}, bs);
      set_int(q.m.node("DequantizeLinear", {"b", "bs"}, {"bdq"}), "axis", 0);
      set_int(q.m.node("Gemm", {x, "wdq", "bdq"}, {"gemm"}), "transB", 1);
      y = q.relu("gemm");
    }
    const std::string out = q.quantize(y, "out", 1.5f / 127, 2);
    q.m.output(out, {3, 10}, onnx::TensorProto::INT8);
    const Comparison c = compare(q.load(), random_input({3, 16}, 11));
    EXPECT_LE(c.max_steps, 1) << (matmul ? "MatMul" : "Gemm");
    EXPECT_EQ(count(c.ops, "QFullyConnected"), 1) << joined(c.ops);
    EXPECT_EQ(count(c.ops, "Relu") + count(c.ops, "Gemm") + count(c.ops, "MatMul"), 0) << joined(c.ops);
  }
}

// A classifier at the end of a quantized model: DQ(x) -> Gemm | MatMul with DQ(int8 w) and a bias, float
// output with no Q after it. Sizes that leave partial 16-column blocks, an odd K and rows beyond one tile
// of 4; the bias as DQ(int32) (Gemm), as float (Gemm with a [1]-broadcast C) or absent (MatMul).
TEST(Int8Gemm, FloatOutputClassifierMatchesReference) {
  for (int variant = 0; variant < 3; ++variant) {
    const bool matmul = variant == 2;
    const int64_t rows = 6, k = 37, n = 21;
    QdqModel q;
    q.m.input("x", {rows, k});
    const float x_scale = 2.f / 255;
    const std::string x = q.qdq("x", "in", x_scale, -9);
    std::vector<int8_t> w(static_cast<size_t>(k * n));
    for (auto& v : w) v = static_cast<int8_t>(std::lround(127 * q.noise.next()));
    w[0] = -128;
    std::vector<float> ws(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) ws[c] = (1.f + 0.3f * std::cos(float(c))) / (127.f * 6.f);
    raw_initializer(q.m, "w", onnx::TensorProto::INT8, matmul ? std::vector<int64_t>{k, n} : std::vector<int64_t>{n, k}, w);
    q.m.initializer("ws", {n}, ws);
    raw_initializer(q.m, "wzp", onnx::TensorProto::INT8, {n}, std::vector<int8_t>(static_cast<size_t>(n), 0));
    set_int(q.m.node("DequantizeLinear", {"w", "ws", "wzp"}, {"wdq"}), "axis", matmul ? 1 : 0);
    if (matmul) {
      q.m.node("MatMul", {x, "wdq"}, {"y"});
    } else if (variant == 0) {
      std::vector<int32_t> b(static_cast<size_t>(n));
      std::vector<float> bs(static_cast<size_t>(n));
      for (int64_t c = 0; c < n; ++c) {
        bs[c] = x_scale * ws[c];
        b[c] = static_cast<int32_t>(std::lround(0.3f * q.noise.next() / bs[c]));
      }
      raw_initializer(q.m, "b", onnx::TensorProto::INT32, {n}, b);
      q.m.initializer("bs", {n}, bs);
      set_int(q.m.node("DequantizeLinear", {"b", "bs"}, {"bdq"}), "axis", 0);
      set_int(q.m.node("Gemm", {x, "wdq", "bdq"}, {"y"}), "transB", 1);
    } else {
      q.m.initializer("c", {1}, {0.25f});
      set_int(q.m.node("Gemm", {x, "wdq", "c"}, {"y"}), "transB", 1);
    }
    q.m.output("y", {rows, n});
    const auto model = q.load();
    const Tensor input = random_input({rows, k}, 5);
    SessionOptions off;
    off.optimize = false;
    const Tensor expected = Session(model, off).run({{"x", input}})[0];
    for (int threads : {1, 2}) {
      SessionOptions on;
      on.num_threads = threads;
      Session fast(model, on);
      const Tensor got = fast.run({{"x", input}})[0];
      ASSERT_EQ(got.dtype(), DType::kFloat32);
      ASSERT_EQ(got.shape(), expected.shape());
      float worst = 0, largest = 0;
      for (int64_t i = 0; i < got.numel(); ++i) {
        worst = std::max(worst, std::fabs(got.data<float>()[i] - expected.data<float>()[i]));
        largest = std::max(largest, std::fabs(expected.data<float>()[i]));
      }
      EXPECT_LE(worst, 1e-5f * largest) << "variant " << variant << ", " << threads << " threads";
      EXPECT_GT(largest, 0.1f);
      const std::vector<std::string> ops = executed_ops(fast);
      EXPECT_EQ(count(ops, "QFullyConnectedToFloat"), 1) << joined(ops);
      EXPECT_EQ(count(ops, "Gemm") + count(ops, "MatMul") + count(ops, "FullyConnected"), 0) << joined(ops);
    }
  }
}

TEST(Int8Add, BroadcastingAddWithReluMatchesReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {2, 4, 5, 5});
  const std::string a = q.qdq("x", "a", 2.f / 255, 3);
  q.m.node("ReduceMean", {"x"}, {"mean"});  // [1, 1, 1, 1]: a broadcast operand with its own scale
  const std::string b = q.qdq("mean", "b", 0.5f / 127, -9);
  q.m.node("Add", {a, b}, {"sum"});
  const std::string out = q.quantize(q.relu("sum"), "out", 1.7f / 127, -20);
  q.m.output(out, {2, 4, 5, 5}, onnx::TensorProto::INT8);
  const Comparison c = compare(q.load(), random_input({2, 4, 5, 5}, 5));
  EXPECT_LE(c.max_steps, 1);
  EXPECT_EQ(count(c.ops, "QLinearAdd"), 1) << joined(c.ops);
  EXPECT_EQ(count(c.ops, "Add") + count(c.ops, "Relu") + count(c.ops, "Clip"), 0) << joined(c.ops);
}

TEST(Int8GlobalAveragePool, NchwMatchesReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {2, 6, 7, 7});
  q.m.node("GlobalAveragePool", {q.qdq("x", "in", 2.f / 255, 1)}, {"gap"});
  const std::string out = q.quantize("gap", "out", 0.3f / 127, 2);
  q.m.output(out, {2, 6, 1, 1}, onnx::TensorProto::INT8);
  const Comparison c = compare(q.load(), random_input({2, 6, 7, 7}, 9));
  EXPECT_LE(c.max_steps, 1);
  EXPECT_EQ(count(c.ops, "QLinearGlobalAveragePool"), 1) << joined(c.ops);
}

// conv+relu -> maxpool -> conv+relu -> conv, add (residual) + relu -> GAP -> Flatten -> Gemm: the int8
// values stay NHWC between the int8 kernels and no Q -> DQ pair is left between them.
TEST(Int8Graph, ResidualBlockStaysInt8AndNhwc) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {1, 3, 16, 16});
  const float s_in = 2.f / 255, s1 = 1.2f / 127, s2 = 1.f / 127, s3 = 1.5f / 127, s4 = 2.f / 127;
  std::string y = q.relu(q.conv(q.qdq("x", "in", s_in, 0), s_in, 3, 8, 3, 2, 1, true));
  const std::string c1 = q.quantize(y, "c1", s1, -128);
  auto* pool = q.m.node("MaxPool", {q.dequantize(c1, "c1")}, {"pool"});
  set_ints(pool, "kernel_shape", {3, 3});
  set_ints(pool, "strides", {2, 2});
  set_ints(pool, "pads", {1, 1, 1, 1});
  const std::string p = q.quantize("pool", "p", s1, -128);
  y = q.relu(q.conv(q.dequantize(p, "p"), s1, 8, 8, 3, 1, 1, true));
  const std::string c2 = q.quantize(y, "c2", s2, -128);
  const std::string c3 = q.quantize(q.conv(q.dequantize(c2, "c2"), s2, 8, 8, 3, 1, 1, true), "c3", s3, 4);
  q.m.node("Add", {q.dequantize(c3, "c3"), q.dequantize(p, "p")}, {"sum"});
  const std::string a = q.quantize(q.relu("sum"), "a", s4, -128);
  q.m.node("GlobalAveragePool", {q.dequantize(a, "a")}, {"gap"});
  const std::string g = q.quantize("gap", "g", s4 / 2, -128);
  set_int(q.m.node("Flatten", {q.dequantize(g, "g")}, {"flat"}), "axis", 1);
  const std::string f = q.quantize("flat", "g2", s4 / 2, -128);
  (void)f;
  // Gemm on the flattened value (same scale as g: Flatten runs on int8 data).
  std::vector<int8_t> w(80);
  for (auto& v : w) v = static_cast<int8_t>(std::lround(127 * q.noise.next()));
  raw_initializer(q.m, "fc_w", onnx::TensorProto::INT8, {10, 8}, w);
  q.m.initializer("fc_ws", {}, {1.f / (127 * 3)});
  q.int8_scalar("fc_wzp", 0);
  q.m.node("DequantizeLinear", {"fc_w", "fc_ws", "fc_wzp"}, {"fc_wdq"});
  set_int(q.m.node("Gemm", {q.dequantize(f, "g2"), "fc_wdq"}, {"fc"}), "transB", 1);
  const std::string out = q.quantize("fc", "out", 1.f / 127, 0);
  q.m.output(out, {1, 10}, onnx::TensorProto::INT8);

  auto model = q.load();
  Graph graph = model->graph();
  optimize_graph(graph, true);
  std::vector<std::string> ops;
  for (const auto& n : graph.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"QuantizeInt8", "NchwToNhwc", "QConvNhwc", "MaxPoolNhwc", "QConvNhwc",
                                           "QConvNhwc", "QLinearAdd", "QLinearGlobalAveragePool", "NhwcToNchw",
                                           "Flatten", "QFullyConnected"}))
      << joined(ops);
  const Comparison c = compare(model, random_input({1, 3, 16, 16}, 21));
  EXPECT_LE(c.max_steps, 3);  // one-step differences may carry through four requantizations
  EXPECT_EQ(count(c.ops, "DequantizeLinear") + count(c.ops, "QuantizeLinear"), 0) << joined(c.ops);
  EXPECT_EQ(count(c.ops, "QuantizeInt8"), 1) << joined(c.ops);
}

// Every unsupported case keeps its DQ -> float op -> Q form (and so the reference answer).
TEST(FuseQdq, LeavesUnsupportedPatterns) {
  auto build = [](int variant) {
    QdqModel q;
    q.m.input("x", {1, 4, 6, 6});
    const float s = 2.f / 255;
    std::string x = q.qdq("x", "in", s, 0);
    if (variant == 0) {  // non-zero weight zero point
      x = q.conv(x, s, 4, 4, 3, 1, 1, true, 3);
      return std::make_pair(q.quantize(x, "out", 1.f / 127, 0), q);
    }
    if (variant == 1) {  // requantization scale x_scale * w_scale / y_scale >= 256
      x = q.conv(x, s, 4, 4, 1, 1, 1, false);
      return std::make_pair(q.quantize(x, "out", 1e-9f, 0), q);
    }
    if (variant == 2) {  // MaxPool changing the scale
      auto* pool = q.m.node("MaxPool", {x}, {"pool"});
      set_ints(pool, "kernel_shape", {2, 2});
      return std::make_pair(q.quantize("pool", "out", 2 * s, 0), q);
    }
    // Conv output read twice before quantization: the float value is needed
    x = q.conv(x, s, 4, 4, 1, 1, 1, false);
    q.m.node("Neg", {x}, {"neg"});
    q.m.output("neg", {1, 4, 6, 6});
    return std::make_pair(q.quantize(x, "out", 1.f / 127, 0), q);
  };
  for (int variant = 0; variant < 4; ++variant) {
    auto [out, q] = build(variant);
    q.m.output(out, {}, onnx::TensorProto::INT8);
    Graph g = q.load()->graph();
    EXPECT_EQ(fuse_qdq(g), 0) << "variant " << variant;
  }
}

TEST(FuseQdq, RewritesConvPatternToQLinearConv) {
  QdqModel q;
  q.m.input("x", {1, 4, 6, 6});
  const float s = 2.f / 255;
  const std::string y = q.clip(q.conv(q.qdq("x", "in", s, 0), s, 4, 4, 3, 1, 1, true), 0.f, 0.5f);
  const std::string out = q.quantize(y, "out", 1.f / 127, -128);
  q.m.output(out, {1, 4, 6, 6}, onnx::TensorProto::INT8);
  Graph g = q.load()->graph();
  EXPECT_EQ(fuse_qdq(g), 1);
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"QuantizeInt8", "QLinearConv", "Clip"})) << joined(ops);
  // Clip(0, 0.5) at scale 1/127, zero point -128: [Q(0), Q(0.5)] = [-128, round(63.5) - 128 = -64].
  const Node& clip = g.nodes[2];
  EXPECT_EQ(clip.outputs[0], out);
  EXPECT_EQ(g.initializers.at(clip.inputs[1]).data<int8_t>()[0], -128);
  EXPECT_EQ(g.initializers.at(clip.inputs[2]).data<int8_t>()[0], -64);
  EXPECT_EQ(g.nodes[1].inputs[0], "in_q");  // reads the int8 value, not the DequantizeLinear
}

// edgerun.QuantizeInt8 rounds exactly like QuantizeLinear: ties to even, saturation, NaN to -128. The
// MaxPool (same scale in and out, so exact) makes FuseQdq rewrite the graph.
TEST(Int8Quantize, MatchesQuantizeLinearExactly) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  const float s = 0.25f;
  q.m.input("x", {1, 2, 7, 9});  // 126 values: 7 vectors of 16 and a scalar tail of 14
  auto* pool = q.m.node("MaxPool", {q.qdq("x", "in", s, -3)}, {"pool"});
  set_ints(pool, "kernel_shape", {1, 2});
  const std::string out = q.quantize("pool", "out", s, -3);
  q.m.output(out, {1, 2, 7, 8}, onnx::TensorProto::INT8);
  Tensor x = random_input({1, 2, 7, 9}, 8);
  float* v = x.data<float>();
  for (int i = 0; i < 64; ++i) v[i] = (static_cast<float>(i) - 32.f + 0.5f) * s;  // every value a tie
  for (int i = 112; i < 126; ++i) v[i] = (static_cast<float>(i) - 119.f + 0.5f) * s;
  const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 31.875f, 31.9f, -32.9f, -0.f, 1e-30f};
  for (int i = 0; i < 10; ++i) v[64 + i * 3] = specials[i];
  v[113] = NAN;
  v[117] = -INFINITY;
  v[121] = 1e30f;
  const Comparison c = compare(q.load(), x);
  EXPECT_EQ(c.max_steps, 0);
  EXPECT_EQ(count(c.ops, "QuantizeInt8"), 1) << joined(c.ops);
}

// ONNX QLinearConv from other tools takes the same fast path.
TEST(Int8Conv, QLinearConvNodeRunsOnXnnpack) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {1, 6, 8, 8});
  const std::string xq = q.quantize("x", "in", 2.f / 255, 7);
  std::vector<int8_t> w(6 * 6 * 9);
  for (auto& v : w) v = static_cast<int8_t>(std::lround(127 * q.noise.next()));
  raw_initializer(q.m, "w", onnx::TensorProto::INT8, {6, 6, 3, 3}, w);
  q.m.initializer("ws", {}, {1.f / (127 * 7)});
  q.int8_scalar("wzp", 0);
  q.scalar("y_scale", 1.f / 127);
  q.int8_scalar("y_zp", 1);
  auto* n = q.m.node("QLinearConv", {xq, "in_scale", "in_zp", "w", "ws", "wzp", "y_scale", "y_zp"}, {"y"});
  set_ints(n, "pads", {1, 1, 1, 1});
  q.m.output("y", {1, 6, 8, 8}, onnx::TensorProto::INT8);
  const Comparison c = compare(q.load(), random_input({1, 6, 8, 8}, 4));
  EXPECT_LE(c.max_steps, 1);
  EXPECT_EQ(count(c.ops, "QConvNhwc"), 1) << joined(c.ops);
}

// QLinearMatMul with constant int8 weights (other tools) runs as QFullyConnected, per-column scales.
TEST(Int8Gemm, QLinearMatMulNodeRunsOnXnnpack) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {2, 3, 12});
  const std::string xq = q.quantize("x", "in", 2.f / 255, -5);
  std::vector<int8_t> w(12 * 7);
  for (auto& v : w) v = static_cast<int8_t>(std::lround(127 * q.noise.next()));
  raw_initializer(q.m, "w", onnx::TensorProto::INT8, {12, 7}, w);
  std::vector<float> ws(7);
  for (int c = 0; c < 7; ++c) ws[c] = (1.f + 0.2f * c) / (127 * 3.5f);
  q.m.initializer("ws", {7}, ws);
  raw_initializer(q.m, "wzp", onnx::TensorProto::INT8, {7}, std::vector<int8_t>(7, 0));
  q.scalar("y_scale", 1.f / 127);
  q.int8_scalar("y_zp", 3);
  q.m.node("QLinearMatMul", {xq, "in_scale", "in_zp", "w", "ws", "wzp", "y_scale", "y_zp"}, {"y"});
  q.m.output("y", {2, 3, 7}, onnx::TensorProto::INT8);
  const Comparison c = compare(q.load(), random_input({2, 3, 12}, 6));
  EXPECT_LE(c.max_steps, 1);
  EXPECT_EQ(count(c.ops, "QFullyConnected"), 1) << joined(c.ops);
}

// uint8 activations (zero points of type uint8) stay on the reference path.
TEST(FuseQdq, LeavesUint8Activations) {
  QdqModel q;
  q.m.input("x", {1, 4, 6, 6});
  q.scalar("in_scale", 2.f / 255);
  raw_initializer<uint8_t>(q.m, "in_zp", onnx::TensorProto::UINT8, {}, {128});
  q.m.node("QuantizeLinear", {"x", "in_scale", "in_zp"}, {"xq"});
  q.m.node("DequantizeLinear", {"xq", "in_scale", "in_zp"}, {"xdq"});
  const std::string y = q.conv("xdq", 2.f / 255, 4, 4, 3, 1, 1, true);
  q.scalar("out_scale", 1.f / 127);
  raw_initializer<uint8_t>(q.m, "out_zp", onnx::TensorProto::UINT8, {}, {128});
  q.m.node("QuantizeLinear", {y, "out_scale", "out_zp"}, {"out"});
  q.m.output("out", {1, 4, 6, 6}, onnx::TensorProto::UINT8);
  Graph g = q.load()->graph();
  EXPECT_EQ(fuse_qdq(g), 0);
  EXPECT_EQ(fold_constant_dequantize(g), 2);  // weights and bias become float initializers...
  EXPECT_EQ(convert_to_nhwc(g), 1);           // ...so the float Conv still gets the XNNPACK kernel
}

// The float ops left in a QDQ model run on float kernels with weights dequantized exactly as the
// reference DequantizeLinear does: uint8 model, fast path vs reference path.
TEST(FoldConstantDequantize, Uint8ModelMatchesReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  QdqModel q;
  q.m.input("x", {1, 4, 6, 6});
  q.scalar("in_scale", 2.f / 255);
  raw_initializer<uint8_t>(q.m, "in_zp", onnx::TensorProto::UINT8, {}, {128});
  q.m.node("QuantizeLinear", {"x", "in_scale", "in_zp"}, {"xq"});
  q.m.node("DequantizeLinear", {"xq", "in_scale", "in_zp"}, {"xdq"});
  const std::string y = q.relu(q.conv("xdq", 2.f / 255, 4, 4, 3, 1, 1, true));
  q.scalar("out_scale", 1.f / 127);
  raw_initializer<uint8_t>(q.m, "out_zp", onnx::TensorProto::UINT8, {}, {0});
  q.m.node("QuantizeLinear", {y, "out_scale", "out_zp"}, {"out"});
  q.m.output("out", {1, 4, 6, 6}, onnx::TensorProto::UINT8);
  auto model = q.load();
  const Tensor x = random_input({1, 4, 6, 6}, 2);
  SessionOptions off;
  off.optimize = false;
  const Tensor want = Session(model, off).run({{"x", x}})[0];
  Session fast(model);
  const Tensor got = fast.run({{"x", x}})[0];
  int worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::abs(int(got.data<uint8_t>()[i]) - int(want.data<uint8_t>()[i])));
  EXPECT_LE(worst, 1);  // float summation order differs between the kernels
  const std::vector<std::string> ops = executed_ops(fast);
  EXPECT_EQ(count(ops, "ConvNhwc"), 1) << joined(ops);
}

}  // namespace
