// edgerun.GlobalAveragePoolNhwc (a GlobalAveragePool on an NHWC value: after a convolution) against the
// reference kernels: channel counts off the 32- and 8-wide blocks, pixel counts that split into slices
// of different sizes, batches, 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "edgerun/edgerun.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "model_builder.h"

using namespace edgerun;

namespace {

using test::uniform;

TEST(GlobalAveragePoolNhwc, MatchesReference) {
  if (!xnnpack_available()) GTEST_SKIP() << "XNNPACK does not support this CPU";
  struct Case {
    int64_t batch, channels, out_channels, height, width;
  };
  for (const Case& c : {Case{1, 8, 40, 17, 19}, Case{2, 5, 37, 30, 30}, Case{1, 16, 96, 56, 57}, Case{3, 4, 3, 2, 2}}) {
    test::ModelSpec m;
    m.input("x", {c.batch, c.channels, c.height, c.width});
    m.initializer("w", {c.out_channels, c.channels, 1, 1},
                  uniform(static_cast<size_t>(c.out_channels * c.channels), 0.5f, 11));
    m.node("Conv", {"x", "w"}, {"conv"});
    m.node("GlobalAveragePool", {"conv"}, {"y"});
    m.output("y", {});
    const std::string bytes = m.bytes();
    auto model = Model::load_from_memory(bytes.data(), bytes.size());
    Tensor x(DType::kFloat32, {c.batch, c.channels, c.height, c.width});
    const auto values = uniform(static_cast<size_t>(x.numel()), 3.f, 12);
    std::copy(values.begin(), values.end(), x.data<float>());
    SessionOptions off;
    off.optimize = false;
    const Tensor expected = Session(model, off).run({{"x", x}}).at(0);
    for (int threads : {1, 2}) {
      SessionOptions on;
      on.num_threads = threads;
      Session fast(model, on);
      bool nhwc = false;
      for (const auto& s : fast.node_summaries()) nhwc |= s.op_type == "GlobalAveragePoolNhwc";
      EXPECT_TRUE(nhwc) << "the pool did not run on NHWC data";
      const Tensor got = fast.run({{"x", x}}).at(0);
      ASSERT_EQ(got.shape(), expected.shape());
      for (int64_t i = 0; i < got.numel(); ++i)
        ASSERT_NEAR(got.data<float>()[i], expected.data<float>()[i], 1e-5f * (1.f + std::fabs(expected.data<float>()[i])))
            << "element " << i << ", " << threads << " threads, " << c.channels << " -> " << c.out_channels;
    }
  }
}

}  // namespace
