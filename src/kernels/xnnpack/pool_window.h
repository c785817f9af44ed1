// Window geometry of the NHWC pooling kernels in XNNPACK's terms.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/reference/window_geometry.h"

namespace edgerun {

// XNNPACK pools see explicit paddings and floor the output size; ONNX ceil_mode extends the bottom
// and right padding just enough for the extra window (XNNPACK pools ignore padded positions).
struct PoolPadding {
  uint32_t top, right, bottom, left;
};

inline PoolPadding pool_padding(const WindowGeometry& g) {
  auto end = [&](int i) {
    const int64_t extent = (g.kernel[i] - 1) * g.dilation[i] + 1;
    return std::max(g.pad_end[i], (g.out[i] - 1) * g.stride[i] + extent - g.in[i] - g.pad_begin[i]);
  };
  return {static_cast<uint32_t>(g.pad_begin[0]), static_cast<uint32_t>(end(1)), static_cast<uint32_t>(end(0)),
          static_cast<uint32_t>(g.pad_begin[1])};
}

}  // namespace edgerun
