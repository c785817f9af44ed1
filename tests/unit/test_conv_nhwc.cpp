// The float NHWC convolutions (the AVX2 indirect GEMM, Winograd, the AVX2 depthwise kernel; XNNPACK for
// dilated depthwise) against the reference Conv kernel: one Conv (plus an optional residual Add and an
// activation the optimizer fuses into it) run by an optimized session and by a reference session, over
// the geometries that exercise their edges: channel counts off the 16-wide block (8-wide for depthwise),
// pixel counts off the 6-row tile (the 8-pixel step for depthwise), padding on every side, strides,
// dilations, batches, 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "edgerun/edgerun.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "runtime/thread_pool.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::set_ints;
using test::ScopedEnv;
using test::uniform;

struct ConvCase {
  std::string name;
  int64_t batch, channels, out_channels, height, width, kernel_h, kernel_w;
  std::vector<int64_t> strides, dilations, pads;  // pads: top, left, bottom, right
  std::string activation;                         // "", "Relu", "Relu6", "Silu" or "HardSwish"
  bool bias = true;
  int64_t group = 1;                              // channels: depthwise
  std::string residual;  // "": none; "input": x (same shape) or "pooled": x's channel means, added before the activation
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

std::shared_ptr<Model> conv_model(const ConvCase& c) {
  test::ModelSpec m;
  m.input("x", {c.batch, c.channels, c.height, c.width});
  const int64_t group_channels = c.channels / c.group;
  m.initializer("w", {c.out_channels, group_channels, c.kernel_h, c.kernel_w},
                uniform(static_cast<size_t>(c.out_channels * group_channels * c.kernel_h * c.kernel_w), 0.5f, 7));
  std::vector<std::string> inputs = {"x", "w"};
  if (c.bias) {
    m.initializer("b", {c.out_channels}, uniform(static_cast<size_t>(c.out_channels), 0.5f, 8));
    inputs.push_back("b");
  }
  const std::string conv_out = c.activation.empty() && c.residual.empty() ? "y" : "conv";
  auto* conv = m.node("Conv", inputs, {conv_out});
  if (!c.strides.empty()) set_ints(conv, "strides", c.strides);
  if (!c.dilations.empty()) set_ints(conv, "dilations", c.dilations);
  if (!c.pads.empty()) set_ints(conv, "pads", c.pads);
  if (c.group != 1) {
    auto* a = conv->add_attribute();
    a->set_name("group");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(c.group);
  }
  std::string pre = conv_out;  // what the activation reads
  if (!c.residual.empty()) {
    pre = c.activation.empty() ? "y" : "sum";
    if (c.residual == "pooled") m.node("GlobalAveragePool", {"x"}, {"shortcut"});
    m.node("Add", {conv_out, c.residual == "pooled" ? "shortcut" : "x"}, {pre});
  }
  if (c.activation == "Relu") {
    m.node("Relu", {pre}, {"y"});
  } else if (c.activation == "HardSwish") {
    m.node("HardSwish", {pre}, {"y"});
  } else if (c.activation == "Silu") {  // as exporters write it: x * Sigmoid(x)
    m.node("Sigmoid", {pre}, {"gate"});
    m.node("Mul", {pre, "gate"}, {"y"});
  } else if (c.activation == "Relu6") {
    m.initializer("lo", {}, {0.f});
    m.initializer("hi", {}, {6.f});
    m.node("Clip", {pre, "lo", "hi"}, {"y"});
  }
  m.output("y", {});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

class ConvNhwcF32 : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvNhwcF32, MatchesReferenceConv) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  const ConvCase& c = GetParam();
  auto model = conv_model(c);
  SessionOptions off;
  off.optimize = false;
  Session reference(model, off);
  Tensor x(DType::kFloat32, {c.batch, c.channels, c.height, c.width});
  const auto values = uniform(static_cast<size_t>(x.numel()), 4.f, 9);
  std::copy(values.begin(), values.end(), x.data<float>());
  const Tensor expected = reference.run({{"x", x}}).at(0);
  float scale = 0.f;
  for (int64_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::fabs(expected.data<float>()[i]));
  ASSERT_GT(scale, 0.f);

  // Winograd cases run with the default choice and with each tile size forced; depthwise ones with the
  // default choice (the own kernel, or XNNPACK where it is faster), with the own kernel forced and with
  // XNNPACK forced. Dilated depthwise convolutions always run on XNNPACK.
  const bool winograd = c.name.rfind("winograd", 0) == 0;
  const bool dilated = std::any_of(c.dilations.begin(), c.dilations.end(), [](int64_t d) { return d > 1; });
  const char* variable = c.group != 1 ? "EDGERUN_CONV_DEPTHWISE" : "EDGERUN_CONV_WINOGRAD";
  const std::vector<const char*> settings = winograd         ? std::vector<const char*>{"", "2", "4"}
                                            : c.group != 1 ? std::vector<const char*>{"", "1", "0"}
                                                           : std::vector<const char*>{""};
  for (const char* setting : settings) {
    ScopedEnv env(variable, setting);
    const bool xnnpack = c.group != 1 && (dilated || std::string(setting) == "0");
    for (int threads : {1, 2}) {
      const uint64_t pool_calls = ThreadPool::xnnpack_parallel_calls();
      SessionOptions on;
      on.num_threads = threads;
      Session fast(model, on);
      const Tensor got = fast.run({{"x", x}}).at(0);
      ASSERT_EQ(got.shape(), expected.shape());
      float worst = 0.f;
      for (int64_t i = 0; i < got.numel(); ++i)
        worst = std::max(worst, std::fabs(got.data<float>()[i] - expected.data<float>()[i]));
      // F(4x4,3x3) rounds to a few 1e-6 of the largest pre-activation value, which a clamp (Relu6) can
      // put well above `scale`.
      EXPECT_LT(worst / scale, winograd ? 5e-5 : 1e-5) << threads << " threads, " << variable << "=" << setting;
      // XNNPACK's parallel loops (depthwise convolutions there, split over output rows) run on the
      // session's own pool.
      const bool rows = expected.shape()[0] * expected.shape()[2] > 1;
      if (xnnpack && rows && threads > 1) EXPECT_GT(ThreadPool::xnnpack_parallel_calls(), pool_calls);
      std::vector<std::string> ops;
      for (const auto& s : fast.node_summaries()) ops.push_back(s.op_type);
      EXPECT_EQ(std::count(ops.begin(), ops.end(), "ConvNhwc"), 1);
      for (const char* op : {"Relu", "Clip", "Silu", "Sigmoid", "Mul", "HardSwish", "Add"})
        EXPECT_EQ(std::count(ops.begin(), ops.end(), op), 0) << "activation or residual not fused: " << op;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, ConvNhwcF32,
    ::testing::Values(ConvCase{"pointwise_16_to_32", 1, 16, 32, 7, 9, 1, 1, {}, {}, {}, ""},
                      ConvCase{"pointwise_odd_channels", 1, 17, 33, 5, 5, 1, 1, {}, {}, {}, "Relu"},
                      ConvCase{"pointwise_strided", 2, 24, 40, 9, 8, 1, 1, {2, 2}, {}, {}, ""},
                      ConvCase{"k3_pad1", 1, 8, 16, 10, 10, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6"},
                      ConvCase{"k3_stride2_first_layer", 1, 3, 32, 15, 17, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, ""},
                      ConvCase{"k3_asymmetric_pads", 2, 5, 21, 6, 7, 3, 3, {1, 2}, {}, {0, 2, 1, 0}, ""},
                      ConvCase{"k3_dilated", 1, 12, 20, 11, 11, 3, 3, {}, {2, 2}, {2, 2, 2, 2}, "Relu"},
                      ConvCase{"k7_stride2_resnet_stem", 1, 3, 64, 23, 23, 7, 7, {2, 2}, {}, {3, 3, 3, 3}, "Relu"},
                      ConvCase{"few_channels_batch2_unused_columns", 2, 4, 20, 9, 8, 3, 3, {2, 2}, {}, {}, ""},
                      ConvCase{"few_channels_dilated_rows", 1, 2, 17, 10, 11, 3, 5, {}, {2, 1}, {2, 1, 3, 4}, "Relu6"},
                      ConvCase{"pointwise_silu", 1, 24, 40, 9, 8, 1, 1, {}, {}, {}, "Silu"},
                      ConvCase{"k3_stride2_silu_few_channels", 1, 3, 16, 13, 12, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "Silu"},
                      ConvCase{"pointwise_hard_swish", 1, 16, 24, 7, 7, 1, 1, {}, {}, {}, "HardSwish"},
                      ConvCase{"k1x3_no_bias", 1, 9, 7, 4, 13, 1, 3, {}, {}, {0, 1, 0, 1}, "", false},
                      // The AVX-512 direct tile (8 pixels x 32 channels): pairs of 16-channel blocks with the
                      // second cut short (40, 21), an odd block alone at the end (48, 70), residuals with
                      // either, pixel counts off 8.
                      ConvCase{"pointwise_residual_48_relu", 1, 48, 48, 9, 7, 1, 1, {}, {}, {}, "Relu", true, 1, "input"},
                      ConvCase{"k1x3_residual_40_relu6", 2, 40, 40, 5, 11, 1, 3, {}, {}, {0, 1, 0, 1}, "Relu6", true, 1, "input"},
                      ConvCase{"k3_stride2_70_hard_swish", 1, 16, 70, 13, 11, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "HardSwish"},
                      ConvCase{"k3_stride2_21_relu6", 1, 24, 21, 10, 9, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "Relu6"},
                      ConvCase{"one_pixel", 3, 64, 48, 1, 1, 1, 1, {}, {}, {}, ""},
                      // 7x7 images run on 7-pixel AVX-512 tiles; batch 2 spans two pixel chunks.
                      ConvCase{"pointwise_7x7_residual_relu", 1, 80, 80, 7, 7, 1, 1, {}, {}, {}, "Relu", true, 1, "input"},
                      ConvCase{"k3_7x7_batch2_relu6", 2, 24, 40, 7, 7, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6"},
                      ConvCase{"kernel_larger_than_input", 1, 4, 8, 2, 2, 3, 3, {}, {}, {1, 1, 1, 1}, ""},
                      ConvCase{"depthwise_k3", 1, 32, 32, 9, 9, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6", true, 32},
                      ConvCase{"depthwise_channel_tails", 2, 44, 44, 7, 6, 3, 3, {}, {}, {1, 1, 1, 1}, "", true, 44},
                      ConvCase{"depthwise_silu", 1, 24, 24, 9, 9, 3, 3, {}, {}, {1, 1, 1, 1}, "Silu", true, 24},
                      ConvCase{"depthwise_hard_swish", 1, 16, 16, 8, 8, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "HardSwish", true, 16},
                      ConvCase{"depthwise_few_channels", 1, 5, 5, 6, 6, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "", false, 5},
                      ConvCase{"depthwise_k5_stride2", 1, 72, 72, 11, 10, 5, 5, {2, 2}, {}, {2, 2, 2, 2}, "Relu", true, 72},
                      ConvCase{"depthwise_dilated_asymmetric", 1, 40, 40, 8, 9, 3, 3, {1, 2}, {2, 1}, {0, 2, 1, 0}, "", true, 40},
                      ConvCase{"depthwise_dilated_silu", 1, 24, 24, 9, 9, 3, 3, {}, {2, 2}, {2, 2, 2, 2}, "Silu", true, 24},
                      // The AVX2 depthwise kernel: each compiled kernel (3 and 5 wide at stride 1 and 2, any
                      // other width or stride), rows of 8-pixel steps plus every remainder, channel groups
                      // cut short by the last channel, edge columns and rows in the padding, images smaller
                      // than the kernel, residuals of the output's shape and broadcast ones (added by the
                      // caller), channel splits over threads when the rows are few.
                      ConvCase{"dw_k3s1_one_channel", 1, 1, 1, 12, 13, 3, 3, {}, {}, {1, 1, 1, 1}, "", true, 1},
                      ConvCase{"dw_k3s1_7_channels_relu6", 1, 7, 7, 9, 10, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6", true, 7},
                      ConvCase{"dw_k3s1_8_channels_asymmetric", 1, 8, 8, 11, 17, 3, 3, {}, {}, {0, 2, 1, 0}, "", true, 8},
                      ConvCase{"dw_k3s2_9_channels_silu", 1, 9, 9, 15, 16, 3, 3, {2, 2}, {}, {1, 1, 1, 1}, "Silu", true, 9},
                      ConvCase{"dw_k3s2_wide_odd", 1, 20, 20, 9, 41, 3, 3, {2, 2}, {}, {0, 1, 1, 0}, "", true, 20},
                      ConvCase{"dw_k5s1_17_channels_hard_swish", 1, 17, 17, 12, 19, 5, 5, {}, {}, {2, 2, 2, 2}, "HardSwish", true, 17},
                      ConvCase{"dw_k5s1_no_pads", 1, 24, 24, 10, 22, 5, 5, {}, {}, {}, "Relu", false, 24},
                      ConvCase{"dw_k5s2_33_channels_asymmetric", 1, 33, 33, 13, 14, 5, 5, {2, 2}, {}, {1, 2, 2, 1}, "Relu", true, 33},
                      ConvCase{"dw_k3s1_96_channels_batch2_silu", 2, 96, 96, 14, 14, 3, 3, {}, {}, {1, 1, 1, 1}, "Silu", true, 96},
                      ConvCase{"dw_k5_small_image_many_channels", 1, 200, 200, 7, 7, 5, 5, {}, {}, {2, 2, 2, 2}, "Silu", true, 200},
                      ConvCase{"dw_one_row_many_channels", 1, 136, 136, 1, 40, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6", true, 136},
                      ConvCase{"dw_one_pixel_output", 2, 19, 19, 3, 3, 3, 3, {}, {}, {}, "", true, 19},
                      ConvCase{"dw_kernel_larger_than_input", 1, 12, 12, 2, 3, 5, 5, {}, {}, {2, 2, 2, 2}, "HardSwish", true, 12},
                      ConvCase{"dw_padding_beyond_kernel", 1, 9, 9, 3, 4, 3, 3, {}, {}, {3, 4, 2, 5}, "", true, 9},
                      ConvCase{"dw_k7_any_width", 1, 16, 16, 10, 23, 7, 7, {}, {}, {3, 3, 3, 3}, "Relu6", true, 16},
                      ConvCase{"dw_k3_stride3_any_stride", 1, 10, 10, 13, 40, 3, 3, {3, 3}, {}, {1, 1, 1, 1}, "", true, 10},
                      ConvCase{"dw_k1x5_and_rows", 1, 12, 12, 6, 15, 1, 5, {}, {}, {0, 2, 0, 2}, "", true, 12},
                      ConvCase{"dw_k5x1_any_width", 1, 12, 12, 15, 6, 5, 1, {2, 1}, {}, {2, 0, 2, 0}, "Silu", true, 12},
                      ConvCase{"dw_residual", 1, 24, 24, 9, 9, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6", true, 24, "input"},
                      ConvCase{"dw_residual_tail_batch2", 2, 21, 21, 8, 11, 5, 5, {}, {}, {2, 2, 2, 2}, "", false, 21, "input"},
                      ConvCase{"dw_residual_broadcast", 1, 16, 16, 8, 8, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu", true, 16, "pooled"},
                      // 3x3 stride 1: Winograd, tiles cut by the image edge, channels off 8 and 16.
                      ConvCase{"winograd_pad1", 1, 32, 32, 28, 28, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu"},
                      ConvCase{"winograd_pad0_odd", 1, 19, 37, 23, 21, 3, 3, {}, {}, {}, "Relu6"},
                      ConvCase{"winograd_batch2_no_bias", 2, 13, 24, 17, 30, 3, 3, {}, {}, {1, 1, 1, 1}, "", false},
                      ConvCase{"winograd_asymmetric_pads", 1, 40, 7, 14, 15, 3, 3, {}, {}, {0, 2, 1, 0}, ""},
                      ConvCase{"winograd_many_channels", 1, 160, 150, 14, 14, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu"},
                      ConvCase{"winograd_silu", 1, 16, 24, 16, 18, 3, 3, {}, {}, {1, 1, 1, 1}, "Silu"},
                      ConvCase{"winograd_hard_swish", 1, 16, 24, 16, 18, 3, 3, {}, {}, {1, 1, 1, 1}, "HardSwish"},
                      ConvCase{"winograd_small_image", 3, 24, 20, 7, 7, 3, 3, {}, {}, {1, 1, 1, 1}, ""},
                      ConvCase{"winograd_residual_48_relu6", 1, 48, 48, 12, 13, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu6", true, 1, "input"}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

}  // namespace

namespace {

// Weights the session's kernels packed are freed when the session owns the model, and only then; the
// session still runs, including after re-planning for another batch size (an ungrouped and a depthwise
// convolution).
TEST(SessionWeights, PackedWeightsAreFreedOnlyFromAnOwnedModel) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  for (const ConvCase& c : {ConvCase{"owned", -1, 16, 24, 8, 8, 3, 3, {}, {}, {1, 1, 1, 1}, "Relu"},  // symbolic batch
                            ConvCase{"owned_depthwise", -1, 24, 24, 8, 8, 5, 5, {}, {}, {2, 2, 2, 2}, "Silu", true, 24}}) {
    SCOPED_TRACE(c.name);
    SessionOptions off;
    off.optimize = false;
    Session reference(conv_model(c), off);
    auto run_both = [&](Session& fast, int64_t batch) {
      Tensor x(DType::kFloat32, {batch, c.channels, c.height, c.width});
      const auto values = uniform(static_cast<size_t>(x.numel()), 4.f, 9);
      std::copy(values.begin(), values.end(), x.data<float>());
      const Tensor expected = reference.run({{"x", x}}).at(0);
      const Tensor got = fast.run({{"x", x}}).at(0);
      ASSERT_EQ(got.shape(), expected.shape());
      for (int64_t i = 0; i < got.numel(); ++i)
        ASSERT_NEAR(got.data<float>()[i], expected.data<float>()[i], 1e-4f) << "batch " << batch << " element " << i;
    };

    auto shared = conv_model(c);
    Session shares(shared);
    EXPECT_NE(shared->graph().initializers.at("w").raw(), nullptr) << "a model others hold keeps its weights";
    run_both(shares, 1);

    Session owns(conv_model(c));
    run_both(owns, 1);  // plans (the batch is symbolic), packing and freeing the weights
    const auto& inits = owns.model().graph().initializers;
    for (const auto& [name, t] : inits)
      if (t.rank() == 4) {
        EXPECT_EQ(t.raw(), nullptr) << name << " was packed by the convolution and should be freed";
        EXPECT_EQ(t.shape(), (Shape{c.out_channels, c.channels / c.group, c.kernel_h, c.kernel_w}));
      }
    EXPECT_EQ(owns.stats().weight_bytes, 0u);
    run_both(owns, 3);  // new shapes: planned again without the freed weights
    EXPECT_EQ(owns.stats().weight_bytes, 0u);
  }
}

}  // namespace
