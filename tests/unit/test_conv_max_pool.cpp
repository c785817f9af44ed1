// FuseConvMaxPool and edgerun.ConvMaxPoolNhwc: a strided convolution and the max pool reading it, run
// band by band, against the reference kernels and bit for bit against the two kernels unfused.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "edgerun/edgerun.h"
#include "kernels/x86/conv_max_pool_f32.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "fusion_check.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::count_op;
using test::expect_fusion_exact;
using test::input_for;
using test::set_int;
using test::set_ints;
using test::uniform;

struct PoolCase {
  std::string name;
  int64_t batch, channels, out_channels, height, width, kernel, stride;
  std::vector<int64_t> pads;  // the convolution's: top, left, bottom, right
  int64_t pool_kernel, pool_stride;
  std::vector<int64_t> pool_pads;
  bool ceil_mode = false;
  int64_t pool_dilation = 1;
  std::string activation = "Relu";  // "" or "Relu"
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

// x -> Conv -> activation -> MaxPool -> y; `extra_reader` also reads the convolution (which then
// cannot be fused), `conv_stride` overrides the convolution's stride.
std::shared_ptr<Model> pool_model(const PoolCase& c, bool extra_reader = false) {
  test::ModelSpec m;
  m.input("x", {c.batch, c.channels, c.height, c.width});
  m.initializer("w", {c.out_channels, c.channels, c.kernel, c.kernel},
                uniform(static_cast<size_t>(c.out_channels * c.channels * c.kernel * c.kernel), 0.5f, 3));
  m.initializer("b", {c.out_channels}, uniform(static_cast<size_t>(c.out_channels), 0.5f, 4));
  auto* conv = m.node("Conv", {"x", "w", "b"}, {c.activation.empty() ? "a" : "c"});
  set_ints(conv, "strides", {c.stride, c.stride});
  if (!c.pads.empty()) set_ints(conv, "pads", c.pads);
  if (!c.activation.empty()) m.node(c.activation, {"c"}, {"a"});
  auto* pool = m.node("MaxPool", {"a"}, {"y"});
  set_ints(pool, "kernel_shape", {c.pool_kernel, c.pool_kernel});
  set_ints(pool, "strides", {c.pool_stride, c.pool_stride});
  if (!c.pool_pads.empty()) set_ints(pool, "pads", c.pool_pads);
  if (c.ceil_mode) set_int(pool, "ceil_mode", 1);
  if (c.pool_dilation != 1) set_ints(pool, "dilations", {c.pool_dilation, c.pool_dilation});
  m.output("y", {});
  if (extra_reader) {
    m.node("GlobalAveragePool", {"a"}, {"pooled"});
    m.output("pooled", {});
  }
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

class ConvMaxPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(ConvMaxPool, MatchesReferenceAndTheUnfusedKernels) {
  if (!xnnpack_available() || !ConvMaxPoolF32::supported()) GTEST_SKIP() << "needs AVX2 and FMA";
  auto model = pool_model(GetParam());
  expect_fusion_exact(model, input_for(*model), "ConvMaxPoolNhwc", "EDGERUN_FUSE_CONV_MAX_POOL",
                      {"ConvNhwc", "MaxPoolNhwc", "Relu"});
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, ConvMaxPool,
    ::testing::Values(
        // The stems: ResNet (7x7 stride 2, pool 3x3 stride 2 padded), squeezenet (3x3 stride 2 unpadded,
        // pool with ceil_mode), shufflenet (24 channels: a block cut short), two images.
        PoolCase{"resnet_stem", 1, 3, 64, 45, 41, 7, 2, {3, 3, 3, 3}, 3, 2, {1, 1, 1, 1}},
        PoolCase{"squeezenet_stem_ceil_mode", 1, 3, 64, 47, 44, 3, 2, {}, 3, 2, {}, true},
        PoolCase{"shufflenet_stem_batch2", 2, 3, 24, 38, 35, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}},
        // Many bands per slice (rows moved to the front): 160 x 128 x 64 convolution rows.
        PoolCase{"many_bands", 1, 3, 64, 320, 256, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}},
        // More channels (no padded rows), channel tails, no activation, asymmetric pads, a dilated
        // pool, a pool of stride 1, a 2x2 pool.
        PoolCase{"wide_no_activation", 1, 10, 21, 30, 27, 3, 2, {0, 1, 1, 0}, 3, 2, {1, 0, 0, 1}, false, 1, ""},
        PoolCase{"dilated_pool_batch2", 2, 8, 40, 33, 35, 3, 2, {1, 1, 1, 1}, 3, 1, {2, 2, 2, 2}, false, 2},
        PoolCase{"pool_2x2", 1, 5, 17, 30, 30, 5, 2, {2, 2, 2, 2}, 2, 2, {}}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return info.param.name; });

// The convolution stays apart where the fusion would change what others read, or where ConvNhwc may
// run it otherwise (stride 1).
TEST(FuseConvMaxPool, LeavesOtherShapesAlone) {
  if (!xnnpack_available() || !ConvMaxPoolF32::supported()) GTEST_SKIP() << "needs AVX2 and FMA";
  const PoolCase c{"case", 1, 3, 16, 20, 20, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}};
  SessionOptions on;
  EXPECT_EQ(count_op(Session(pool_model(c), on), "ConvMaxPoolNhwc"), 1);
  // The convolution's output has a second reader.
  EXPECT_EQ(count_op(Session(pool_model(c, true), on), "ConvMaxPoolNhwc"), 0);
  // A stride-1 convolution.
  PoolCase unit = c;
  unit.stride = 1;
  EXPECT_EQ(count_op(Session(pool_model(unit), on), "ConvMaxPoolNhwc"), 0);
}

}  // namespace
