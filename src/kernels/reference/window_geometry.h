// Sliding-window geometry shared by the convolution and pooling kernels: attribute parsing, padding
// resolution (explicit pads or auto_pad) and output sizes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace edgerun {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowAttributes {
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;  // empty when absent
  bool ceil_mode = false;

  // Reads auto_pad, kernel_shape, strides, dilations, pads and ceil_mode; throws on an unknown auto_pad.
  static WindowAttributes from_node(const Node& node);
};

// Per spatial dimension, outermost first.
struct WindowGeometry {
  std::vector<int64_t> in, kernel, stride, dilation, pad_begin, pad_end, out;
  size_t rank() const { return in.size(); }
  int64_t out_size() const;
  int64_t in_size() const;
  int64_t kernel_size() const;
};

// Checks the attribute lengths and values against the spatial rank and computes pads and output sizes
// (ONNX Conv/Pool rules). `kernel` is the kernel extent (from the weights or kernel_shape).
WindowGeometry resolve_window(const PrepareContext& ctx, const WindowAttributes& attrs,
                              const std::vector<int64_t>& in_spatial, const std::vector<int64_t>& kernel);

// The same geometry with leading unit dimensions so that 1-D, 2-D and 3-D windows share one 3-level loop nest.
struct Window3 {
  int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad[3];
};
Window3 to_window3(const WindowGeometry& g);

// Output positions o (in [0, out)) whose input coordinate o * stride - pad + offset lies in [0, in):
// returns [lo, hi) (lo may equal hi).
void valid_output_range(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t offset, int64_t* lo,
                        int64_t* hi);

// Floor division for possibly negative numerators.
inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace edgerun
