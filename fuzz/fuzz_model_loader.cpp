// libFuzzer target: arbitrary bytes as an ONNX model must load, plan and run or fail with an Error.
#include <cstddef>
#include <cstdint>

#include "edgerun/edgerun.h"

namespace {
// Bounds on the work one input may ask for, so that a mutated attribute (a pad of 120, a batch of 35)
// spends the fuzzing time on new paths rather than on a large convolution under the sanitizers; the
// memory bound is the session's own limit (planning fails with an Error beyond it).
constexpr int64_t kMaxFlops = 20'000'000;
constexpr size_t kMaxPlanBytes = 16u << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto model = edgerun::Model::load_from_memory(data, size);
    edgerun::SessionOptions options;
    options.max_plan_bytes = kMaxPlanBytes;
    edgerun::Session session(model, options);
    // Run with zero-filled inputs when every input shape is fixed and small.
    std::map<std::string, edgerun::Tensor> feeds;
    std::map<std::string, edgerun::Shape> shapes;
    for (const auto& in : model->inputs()) {
      edgerun::Shape s;
      int64_t n = 1;
      for (const auto& d : in.dims) {
        if (d.value < 0 || d.value > 64) return 0;
        s.push_back(d.value);
        n *= d.value;
      }
      if (n > 4096 || !in.has_shape) return 0;
      feeds[in.name] = edgerun::Tensor(in.dtype, s);
      shapes[in.name] = s;
    }
    session.plan(shapes);
    int64_t flops = 0;
    for (const auto& node : session.node_summaries()) flops += node.flops;
    if (flops > kMaxFlops) return 0;
    session.run(feeds);
  } catch (const edgerun::Error&) {
  }
  return 0;
}
