// edgerun.ExpandDepthwiseNhwc (FuseExpandDepthwise): a 1x1 Conv with its activation, then a depthwise
// Conv with its own, run by an optimized session (fused) against the reference kernels, and against
// the same session options with the fusion off (the two convolutions' own kernels, which the fused one
// calls band by band: the same arithmetic, so the same bits). Images of 2 MB and more of expanded
// channels run in bands, smaller ones whole; batches of two put image boundaries inside slices.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "edgerun/edgerun.h"
#include "kernels/x86/conv_expand_depthwise_f32.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "fusion_check.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::set_ints;
using test::set_int;
using test::ScopedEnv;
using test::count_op;
using test::expect_fusion_exact;
using test::input_for;
using test::uniform;

struct ExpandCase {
  std::string name;
  int64_t batch, channels, expanded, height, width, kernel, stride;
  std::vector<int64_t> pads;  // top, left, bottom, right
  std::string expand_activation, depthwise_activation;  // "", "Relu6", "Silu" or "HardSwish"
  bool bias = true;
};

void PrintTo(const ExpandCase& c, std::ostream* os) { *os << c.name; }

// Writes `activation` of `in` as `out` (or renames through Identity when there is none).
void add_activation(test::ModelSpec& m, const std::string& activation, const std::string& in, const std::string& out) {
  if (activation == "Relu6") {
    m.node("Clip", {in, "lo", "hi"}, {out});
  } else if (activation == "Silu") {
    m.node("Sigmoid", {in}, {out + "_gate"});
    m.node("Mul", {in, out + "_gate"}, {out});
  } else if (activation == "HardSwish") {
    m.node("HardSwish", {in}, {out});
  } else {
    m.node("Identity", {in}, {out});
  }
}

// x -> Conv 1x1 -> activation -> depthwise Conv -> activation -> y; `extra_reader` also reads the
// expansion (which then cannot be fused).
std::shared_ptr<Model> expand_model(const ExpandCase& c, bool extra_reader = false, int64_t expand_stride = 1) {
  test::ModelSpec m;
  m.input("x", {c.batch, c.channels, c.height, c.width});
  m.initializer("lo", {}, {0.f});
  m.initializer("hi", {}, {6.f});
  m.initializer("w1", {c.expanded, c.channels, 1, 1}, uniform(static_cast<size_t>(c.expanded * c.channels), 0.5f, 3));
  m.initializer("w2", {c.expanded, 1, c.kernel, c.kernel},
                uniform(static_cast<size_t>(c.expanded * c.kernel * c.kernel), 0.5f, 4));
  std::vector<std::string> in1 = {"x", "w1"}, in2 = {"e", "w2"};
  if (c.bias) {
    m.initializer("b1", {c.expanded}, uniform(static_cast<size_t>(c.expanded), 0.5f, 5));
    m.initializer("b2", {c.expanded}, uniform(static_cast<size_t>(c.expanded), 0.5f, 6));
    in1.push_back("b1");
    in2.push_back("b2");
  }
  auto* expand = m.node("Conv", in1, {"e_raw"});
  if (expand_stride != 1) set_ints(expand, "strides", {expand_stride, expand_stride});
  add_activation(m, c.expand_activation, "e_raw", "e");
  auto* dw = m.node("Conv", in2, {"d_raw"});
  set_int(dw, "group", c.expanded);
  set_ints(dw, "strides", {c.stride, c.stride});
  if (!c.pads.empty()) set_ints(dw, "pads", c.pads);
  add_activation(m, c.depthwise_activation, "d_raw", "y");
  m.output("y", {});
  if (extra_reader) {
    m.node("GlobalAveragePool", {"e"}, {"pooled"});
    m.output("pooled", {});
  }
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

class ExpandDepthwise : public ::testing::TestWithParam<ExpandCase> {};

TEST_P(ExpandDepthwise, MatchesReferenceAndTheUnfusedKernels) {
  if (!xnnpack_available() || !ConvExpandDepthwiseF32::supported()) GTEST_SKIP() << "needs AVX2 and FMA";
  auto model = expand_model(GetParam());
  // The unfused path on the own depthwise kernel (not XNNPACK's), as the fused one uses.
  ScopedEnv own_depthwise("EDGERUN_CONV_DEPTHWISE", "1");
  expect_fusion_exact(model, input_for(*model), "ExpandDepthwiseNhwc", "EDGERUN_FUSE_EXPAND_DEPTHWISE",
                      {"ConvNhwc", "Clip", "Sigmoid", "Mul", "HardSwish", "Silu"});
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, ExpandDepthwise,
    ::testing::Values(
        // In bands (2 MB or more of expanded image): stride 1 and 2, 3x3 and 5x5, channels off the
        // 16-wide blocks, asymmetric pads, two images.
        ExpandCase{"banded_k3s1_relu6", 1, 16, 120, 66, 70, 3, 1, {1, 1, 1, 1}, "Relu6", "Relu6"},
        ExpandCase{"banded_k3s2_batch2_silu_hard_swish", 2, 8, 130, 65, 64, 3, 2, {0, 1, 1, 0}, "Silu", "HardSwish"},
        ExpandCase{"banded_k5s2_no_bias", 1, 24, 96, 75, 80, 5, 2, {2, 2, 2, 2}, "", "Relu6", false},
        ExpandCase{"banded_k5s1_batch2_unpadded", 2, 12, 100, 72, 76, 5, 1, {}, "HardSwish", ""},
        // Whole (small images): the expanded tensor in the scratch.
        ExpandCase{"whole_14x14", 1, 32, 192, 14, 14, 3, 1, {1, 1, 1, 1}, "Relu6", "Relu6"},
        ExpandCase{"whole_7x7_stride2_batch2", 2, 40, 72, 7, 7, 3, 2, {1, 1, 1, 1}, "Silu", "Silu"}),
    [](const ::testing::TestParamInfo<ExpandCase>& info) { return info.param.name; });

// The expansion stays a convolution of its own where the fusion would change what others read or
// what it computes.
TEST(FuseExpandDepthwise, LeavesOtherShapesAlone) {
  if (!xnnpack_available() || !ConvExpandDepthwiseF32::supported()) GTEST_SKIP() << "needs AVX2 and FMA";
  const ExpandCase c{"case", 1, 8, 32, 12, 12, 3, 1, {1, 1, 1, 1}, "Relu6", "Relu6"};
  SessionOptions on;
  EXPECT_EQ(count_op(Session(expand_model(c), on), "ExpandDepthwiseNhwc"), 1);
  // The expanded value has a second reader.
  EXPECT_EQ(count_op(Session(expand_model(c, true), on), "ExpandDepthwiseNhwc"), 0);
  // A strided 1x1 convolution.
  EXPECT_EQ(count_op(Session(expand_model(c, false, 2), on), "ExpandDepthwiseNhwc"), 0);
  // A 3x3 stride-2 depthwise convolution of 32 channels with only a clamp, which ConvNhwc leaves to
  // XNNPACK as faster there without AVX-512; with a function (SiLU) the own kernel runs it, fused.
  ExpandCase strided = c;
  strided.stride = 2;
  EXPECT_EQ(count_op(Session(expand_model(strided), on), "ExpandDepthwiseNhwc"), cpu_has_avx512() ? 1 : 0);
  strided.depthwise_activation = "Silu";
  EXPECT_EQ(count_op(Session(expand_model(strided), on), "ExpandDepthwiseNhwc"), 1);
  // A depthwise convolution ConvNhwc gives XNNPACK (as the A/B switch says) is not fused.
  ScopedEnv xnnpack_depthwise("EDGERUN_CONV_DEPTHWISE", "0");
  EXPECT_EQ(count_op(Session(expand_model(c), on), "ExpandDepthwiseNhwc"), 0);
}

}  // namespace
