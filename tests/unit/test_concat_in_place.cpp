// Concatenation in place (Executor, Kernel::concatenates_last_axis / writes_strided_output): the
// convolutions of a squeezenet fire module store straight into their channel Concat's output, rows of
// the Concat's width apart. Checked against the reference kernels and, bit for bit, against the same
// session options with every Concat copying (EDGERUN_CONCAT_IN_PLACE=0); and left alone where another
// reader, a graph output or an input that is not a convolution would see the difference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "edgerun/edgerun.h"
#include "kernels/x86/conv_igemm_f32.h"
#include "fusion_check.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::input_for;
using test::ScopedEnv;
using test::set_int;
using test::set_ints;
using test::uniform;

struct Branch {
  int64_t out_channels, kernel;  // a kernel x kernel Conv of the squeezed value, "same" padding, then Relu
};

// x -> 1x1 Conv + Relu (squeeze) -> each branch -> Concat(axis) -> y. `extra` adds a second reader of
// branch 0 (a graph output) or makes the last Concat input the squeezed value itself.
enum class Extra { kNone, kBranchIsOutput, kSqueezeJoins };

std::shared_ptr<Model> fire_model(int64_t batch, int64_t channels, int64_t squeeze, int64_t size,
                                  const std::vector<Branch>& branches, int64_t axis = 1, Extra extra = Extra::kNone) {
  test::ModelSpec m;
  m.input("x", {batch, channels, size, size});
  m.initializer("ws", {squeeze, channels, 1, 1}, uniform(static_cast<size_t>(squeeze * channels), 0.5f, 11));
  m.initializer("bs", {squeeze}, uniform(static_cast<size_t>(squeeze), 0.5f, 12));
  m.node("Conv", {"x", "ws", "bs"}, {"s_raw"});
  m.node("Relu", {"s_raw"}, {"s"});
  std::vector<std::string> joined;
  for (size_t i = 0; i < branches.size(); ++i) {
    const Branch& b = branches[i];
    const std::string n = std::to_string(i);
    m.initializer("w" + n, {b.out_channels, squeeze, b.kernel, b.kernel},
                  uniform(static_cast<size_t>(b.out_channels * squeeze * b.kernel * b.kernel), 0.5f, 20 + static_cast<int>(i)));
    m.initializer("b" + n, {b.out_channels}, uniform(static_cast<size_t>(b.out_channels), 0.5f, 40 + static_cast<int>(i)));
    auto* conv = m.node("Conv", {"s", "w" + n, "b" + n}, {"e" + n + "_raw"});
    const int64_t pad = b.kernel / 2;
    set_ints(conv, "pads", {pad, pad, pad, pad});
    m.node("Relu", {"e" + n + "_raw"}, {"e" + n});
    joined.push_back("e" + n);
  }
  if (extra == Extra::kSqueezeJoins) joined.push_back("s");
  auto* concat = m.node("Concat", joined, {"y"});
  set_int(concat, "axis", axis);
  m.output("y", {});
  if (extra == Extra::kBranchIsOutput) m.output("e0", {});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

void int64_initializer(test::ModelSpec& m, const std::string& name, const std::vector<int64_t>& values) {
  auto* t = m.initializer(name, {static_cast<int64_t>(values.size())}, {});
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t v : values) t->add_int64_data(v);
}

// shufflenet's unit: x -> 1x1 Conv + Relu (s, 2 * half channels) -> Slice of the first half (kept) and
// of the second (-> 1x1 Conv + Relu) -> Concat of the two on the channels.
std::shared_ptr<Model> split_model(int64_t half, int64_t size) {
  test::ModelSpec m;
  m.input("x", {1, 8, size, size});
  m.initializer("ws", {2 * half, 8, 1, 1}, uniform(static_cast<size_t>(2 * half * 8), 0.5f, 13));
  m.node("Conv", {"x", "ws"}, {"s_raw"});
  m.node("Relu", {"s_raw"}, {"s"});
  int64_initializer(m, "zero", {0});
  int64_initializer(m, "half", {half});
  int64_initializer(m, "all", {2 * half});
  int64_initializer(m, "channels", {1});
  m.node("Slice", {"s", "zero", "half", "channels"}, {"kept"});
  m.node("Slice", {"s", "half", "all", "channels"}, {"branch"});
  m.initializer("wb", {half, half, 1, 1}, uniform(static_cast<size_t>(half * half), 0.5f, 14));
  m.node("Conv", {"branch", "wb"}, {"b_raw"});
  m.node("Relu", {"b_raw"}, {"b"});
  auto* concat = m.node("Concat", {"kept", "b"}, {"y"});
  set_int(concat, "axis", 1);
  m.output("y", {});
  const std::string bytes = m.bytes();
  return Model::load_from_memory(bytes.data(), bytes.size());
}

// Largest |value| of a float tensor.
float largest(const Tensor& t) {
  float m = 0.f;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data<float>()[i]));
  return m;
}

// Runs the model at 1, 2 and 3 threads with the Concat in place and copying: expects `placed` values in
// place, every output within 1e-5 of the reference kernels' (relative to its largest value) and equal
// to the copying session's bit for bit, again on a second run.
void expect_in_place(const std::shared_ptr<Model>& model, size_t placed) {
  const Tensor x = input_for(*model);
  SessionOptions off;
  off.optimize = false;
  const std::vector<Tensor> expected = Session(model, off).run({{"x", x}});
  for (int threads : {1, 2, 3}) {
    SessionOptions on;
    on.num_threads = threads;
    std::vector<Tensor> copied;
    {
      ScopedEnv copy("EDGERUN_CONCAT_IN_PLACE", "0");
      Session s(model, on);
      copied = s.run({{"x", x}});
      EXPECT_EQ(s.stats().concat_inputs_in_place, 0u);
    }
    Session s(model, on);
    for (int round = 0; round < 2; ++round) {
      const std::vector<Tensor> got = s.run({{"x", x}});
      EXPECT_EQ(s.stats().concat_inputs_in_place, placed) << threads << " threads";
      ASSERT_EQ(got.size(), expected.size());
      for (size_t o = 0; o < got.size(); ++o) {
        ASSERT_EQ(got[o].shape(), expected[o].shape());
        const float scale = largest(expected[o]);
        ASSERT_GT(scale, 0.f);
        float worst = 0.f;
        for (int64_t i = 0; i < got[o].numel(); ++i)
          worst = std::max(worst, std::fabs(got[o].data<float>()[i] - expected[o].data<float>()[i]));
        EXPECT_LT(worst / scale, 1e-5) << "output " << o << ", " << threads << " threads, run " << round;
        EXPECT_EQ(std::memcmp(got[o].data<float>(), copied[o].data<float>(), static_cast<size_t>(got[o].nbytes())), 0)
            << "output " << o << " differs from the copying Concat's, " << threads << " threads, run " << round;
      }
    }
  }
}

bool own_kernels() { return ConvIgemmF32::supported(); }

TEST(ConcatInPlace, FireModuleWritesIntoTheConcat) {
  if (!own_kernels()) GTEST_SKIP() << "needs AVX2 and FMA";
  // squeezenet1_1's fire module (a 1x1 and a Winograd 3x3 expansion), at 55x55 and two images.
  expect_in_place(fire_model(2, 32, 16, 55, {{64, 1}, {64, 3}}), 2);
}

TEST(ConcatInPlace, WidthsOffTheChannelBlocks) {
  if (!own_kernels()) GTEST_SKIP() << "needs AVX2 and FMA";
  // Widths that end inside a 16-channel block: each convolution's last block stores only its own
  // channels, beside the next input's. A 5x5 kernel runs on the GEMM, the 3x3 on Winograd.
  expect_in_place(fire_model(1, 24, 12, 20, {{20, 1}, {13, 3}, {35, 5}, {7, 1}}), 4);
  // 7x7 images: few pixels, so the GEMM splits the output channels over the threads.
  expect_in_place(fire_model(1, 64, 48, 7, {{40, 1}, {72, 3}}), 2);
}

TEST(ConcatInPlace, ChannelSliceWritesIntoTheConcat) {
  if (!own_kernels()) GTEST_SKIP() << "needs AVX2 and FMA";
  // The kept half is sliced straight into the Concat's output, the branch's convolution stores beside it.
  expect_in_place(split_model(58, 28), 2);
  expect_in_place(split_model(13, 9), 2);
}

TEST(ConcatInPlace, CopiesWhereOthersReadTheInputs) {
  if (!own_kernels()) GTEST_SKIP() << "needs AVX2 and FMA";
  // A branch that is also a graph output: the Concat copies them all.
  expect_in_place(fire_model(1, 16, 8, 12, {{16, 1}, {16, 3}}, 1, Extra::kBranchIsOutput), 0);
  // The squeezed value joins too, and it is read by the branches: nothing in place.
  expect_in_place(fire_model(1, 16, 8, 12, {{16, 1}, {16, 3}}, 1, Extra::kSqueezeJoins), 0);
  // A Concat over the images (not the innermost axis in NHWC).
  expect_in_place(fire_model(2, 16, 8, 12, {{16, 1}, {16, 3}}, 0), 0);
}

}  // namespace
