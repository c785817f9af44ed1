// Checks shared by the tests of fused ops (FuseExpandDepthwise, FuseConvMaxPool): a fused op must give
// the reference kernels' result and, since it runs the same kernels band by band, the unfused result
// bit for bit.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edgerun/edgerun.h"
#include "model_builder.h"

namespace edgerun::test {

inline int count_op(const Session& s, const std::string& op) {
  int n = 0;
  for (const auto& summary : s.node_summaries()) n += summary.op_type == op;
  return n;
}

// Uniform values in [-2, 2] for the model's one 4-D float input.
inline Tensor input_for(const Model& model) {
  const auto& dims = model.inputs().at(0).dims;
  Tensor x(DType::kFloat32, {dims[0].value, dims[1].value, dims[2].value, dims[3].value});
  const auto values = uniform(static_cast<size_t>(x.numel()), 2.f, 9);
  std::copy(values.begin(), values.end(), x.data<float>());
  return x;
}

// Runs `model` on x with the reference kernels, and at 1, 2 and 3 threads with the fusion off (the A/B
// switch `fusion_switch` = 0) and on: fused, the graph must hold one `fused_op` and none of `gone`, the
// output must be within 1e-5 of the reference (relative to its largest value) and equal to the unfused
// one bit for bit, and a second run on the same session must give the same again.
inline void expect_fusion_exact(const std::shared_ptr<Model>& model, const Tensor& x, const std::string& fused_op,
                                const char* fusion_switch, const std::vector<std::string>& gone) {
  SessionOptions off;
  off.optimize = false;
  const Tensor expected = Session(model, off).run({{"x", x}}).at(0);
  float scale = 0.f;
  for (int64_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::fabs(expected.data<float>()[i]));
  ASSERT_GT(scale, 0.f);
  for (int threads : {1, 2, 3}) {
    SessionOptions on;
    on.num_threads = threads;
    Tensor unfused;
    {
      ScopedEnv no_fusion(fusion_switch, "0");
      Session apart(model, on);
      EXPECT_EQ(count_op(apart, fused_op), 0);
      unfused = apart.run({{"x", x}}).at(0);
    }
    Session fused(model, on);
    ASSERT_EQ(count_op(fused, fused_op), 1) << "not fused";
    for (const std::string& op : gone) EXPECT_EQ(count_op(fused, op), 0) << op << " left beside " << fused_op;
    const Tensor got = fused.run({{"x", x}}).at(0);
    ASSERT_EQ(got.shape(), expected.shape());
    float worst = 0.f;
    int64_t differ = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      worst = std::max(worst, std::fabs(got.data<float>()[i] - expected.data<float>()[i]));
      differ += got.data<float>()[i] != unfused.data<float>()[i];
    }
    EXPECT_LT(worst / scale, 1e-5) << threads << " threads";
    EXPECT_EQ(differ, 0) << threads << " threads: outputs differ from the unfused kernels'";
    // The scratch rows of one run do not leak into the next.
    const Tensor again = fused.run({{"x", x}}).at(0);
    EXPECT_EQ(std::memcmp(again.data<float>(), got.data<float>(), static_cast<size_t>(got.numel()) * sizeof(float)), 0);
  }
}

}  // namespace edgerun::test
