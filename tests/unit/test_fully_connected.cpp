// edgerun.FullyConnected (Gemm with transB, MatMul with constant weights) against the reference Gemm and
// MatMul kernels: a single row (the batch-1 classifier head), row counts on and off the 6-row tile,
// inner sizes odd and even, column counts off the 16-wide block, with and without bias and a fused Relu,
// at 1 and 2 threads, and a session that re-plans for a new batch after its weights were packed and freed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "edgerun/edgerun.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::uniform;

struct FcCase {
  std::string name;
  int64_t rows, k, n;
  bool matmul;  // MatMul with W [k, n]; otherwise Gemm with transB and W [n, k]
  bool bias;
  bool relu;
};

void PrintTo(const FcCase& c, std::ostream* os) { *os << c.name; }

std::shared_ptr<Model> fc_model(const FcCase& c, int64_t rows) {
  test::ModelSpec m;
  m.input("x", {rows, c.k});
  const std::string out = c.relu ? "fc" : "y";
  const auto w = uniform(static_cast<size_t>(c.k * c.n), 1.f / std::sqrt(static_cast<float>(c.k)), 3);
  if (c.matmul) {
    m.initializer("w", {c.k, c.n}, w);
    m.node("MatMul", {"x", "w"}, {c.bias ? "mm" : out});
    if (c.bias) {
      m.initializer("b", {c.n}, uniform(static_cast<size_t>(c.n), 0.5f, 4));
      m.node("Add", {"mm", "b"}, {out});
    }
  } else {
    m.initializer("w", {c.n, c.k}, w);
    std::vector<std::string> inputs = {"x", "w"};
    if (c.bias) {
      m.initializer("b", {c.n}, uniform(static_cast<size_t>(c.n), 0.5f, 4));
      inputs.push_back("b");
    }
    auto* gemm = m.node("Gemm", inputs, {out});
    auto* a = gemm->add_attribute();
    a->set_name("transB");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(1);
  }
  if (c.relu) m.node("Relu", {out}, {"y"});
  m.output("y", {});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

Tensor random_input(int64_t rows, int64_t k, unsigned seed) {
  Tensor x(DType::kFloat32, {rows, k});
  const auto v = uniform(static_cast<size_t>(x.numel()), 2.f, seed);
  std::copy(v.begin(), v.end(), x.data<float>());
  return x;
}

// Largest difference relative to the largest reference value.
float relative_error(const Tensor& got, const Tensor& expected) {
  EXPECT_EQ(got.shape(), expected.shape());
  float worst = 0.f, scale = 0.f;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    worst = std::max(worst, std::fabs(got.data<float>()[i] - expected.data<float>()[i]));
    scale = std::max(scale, std::fabs(expected.data<float>()[i]));
  }
  EXPECT_GT(scale, 0.f);
  return worst / scale;
}

class FullyConnectedF32Test : public ::testing::TestWithParam<FcCase> {};

TEST_P(FullyConnectedF32Test, MatchesReferenceGemmAndMatMul) {
  const FcCase& c = GetParam();
  auto model = fc_model(c, c.rows);
  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  const Tensor x = random_input(c.rows, c.k, 5);
  const Tensor expected = reference.run({{"x", x}}).at(0);
  for (int threads : {1, 2}) {
    SessionOptions on;
    on.num_threads = threads;
    Session fast(model, on);
    EXPECT_LT(relative_error(fast.run({{"x", x}}).at(0), expected), 1e-5) << threads << " threads";
    std::vector<std::string> ops;
    for (const auto& s : fast.node_summaries()) ops.push_back(s.op_type);
    EXPECT_EQ(ops, std::vector<std::string>{"FullyConnected"}) << "bias or activation not fused";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FullyConnectedF32Test,
    ::testing::Values(FcCase{"one_row_classifier", 1, 1280, 1000, false, true, false},
                      FcCase{"one_row_odd_k_relu", 1, 37, 21, false, true, true},
                      FcCase{"one_row_matmul_no_bias", 1, 64, 48, true, false, false},
                      FcCase{"two_rows", 2, 100, 33, false, true, false},
                      FcCase{"five_rows_matmul", 5, 17, 16, true, true, true},
                      FcCase{"six_rows", 6, 256, 40, false, false, false},
                      FcCase{"thirteen_rows_matmul", 13, 48, 70, true, true, false},
                      FcCase{"one_input_feature", 7, 1, 5, false, true, true}),
    [](const ::testing::TestParamInfo<FcCase>& info) { return info.param.name; });

// A session that owns its model frees the weights once packed; planning again for another batch size
// reuses the packed form.
TEST(FullyConnectedF32Test, OwnedSessionRunsNewBatchSizesAfterFreeingWeights) {
  const FcCase c{"owned", -1, 96, 50, false, true, true};
  auto make = [&] { return fc_model(c, -1); };
  SessionOptions off;
  off.optimize = false;
  Session reference(make(), off);
  Session fast(make());
  for (int64_t rows : {1, 9, 2}) {
    const Tensor x = random_input(rows, c.k, static_cast<unsigned>(rows));
    EXPECT_LT(relative_error(fast.run({{"x", x}}).at(0), reference.run({{"x", x}}).at(0)), 1e-5) << rows << " rows";
  }
}

}  // namespace
