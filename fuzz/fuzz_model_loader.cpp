// libFuzzer target: arbitrary bytes as an ONNX model must load, plan and run or fail with an Error.
#include <cstddef>
#include <cstdint>

#include "edgerun/edgerun.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto model = edgerun::Model::load_from_memory(data, size);
    edgerun::Session session(model);
    // Run with zero-filled inputs when every input shape is fixed and small.
    std::map<std::string, edgerun::Tensor> feeds;
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
    }
    session.run(feeds);
  } catch (const edgerun::Error&) {
  }
  return 0;
}
