// Input and output sizes of an NHWC convolution as the own x86 kernels take them.
#pragma once
#include <cstdint>

namespace edgerun {

struct ConvNhwcGeometry {
  int64_t batch = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1, pad_top = 0, pad_left = 0;
};

}  // namespace edgerun
