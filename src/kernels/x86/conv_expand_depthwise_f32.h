// Float32 NHWC 1x1 expansion followed by a depthwise convolution (an inverted residual block's first two
// layers: mobilenet_v2/v3, efficientnet), computed band by band: each band of output rows has the
// expanded input rows it reads computed just before, into a per-slice scratch that stays in the
// core's L2 cache, and the expanded tensor never exists whole. At 112x112 with 96 expanded channels
// that tensor is 4.8 MB, written by the expansion and read back by the depthwise convolution: both
// layers were bound by that traffic, and gained nothing from a second thread.
//
// A slice's bands are consecutive, so the expanded rows two bands share (the kernel height minus the
// stride) are moved to the front of the scratch rather than computed again; where two slices meet,
// those rows are computed by both. Images of less than 2 MB of expanded channels stay in the caches
// anyway: they run whole, the expansion into the scratch and then the depthwise convolution (measured
// on mobilenet_v2: bands there were up to 1.2x slower at two threads). The arithmetic is that of
// ConvIgemmF32 and ConvDepthwiseF32, which do the work: the result is the same as theirs, bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/x86/conv_depthwise_f32.h"
#include "kernels/x86/conv_igemm_f32.h"

namespace edgerun {

class ThreadPool;

class ConvExpandDepthwiseF32 {
 public:
  static bool supported() { return ConvIgemmF32::supported() && ConvDepthwiseF32::supported(); }

  // expand_weights: ONNX layout [expanded][channels][1][1]; depthwise_weights: [expanded][1][kernel_h][kernel_w].
  // Biases may be null.
  void pack(const float* expand_weights, const float* expand_bias, int64_t channels, int64_t expanded,
            const OutputActivation& expand_activation, const float* depthwise_weights, const float* depthwise_bias,
            int64_t kernel_h, int64_t kernel_w, const OutputActivation& depthwise_activation);

  // The depthwise convolution's geometry (its input is the expanded tensor, of x's height and width).
  void set_geometry(const ConvNhwcGeometry& geometry);
  size_t scratch_bytes() const;

  // x: [batch][in_h][in_w][channels], y: [batch][out_h][out_w][expanded]; scratch: scratch_bytes(),
  // 64-byte aligned.
  void run(const float* x, float* y, void* scratch, ThreadPool* threads) const;

 private:
  // Output rows [row_begin, row_end) (over batch x out_h) in bands, with `rows` (band_input_rows_ expanded
  // rows) as the slice's scratch.
  void run_slice(const float* x, float* y, float* rows, int64_t row_begin, int64_t row_end) const;

  ConvIgemmF32 expand_;
  ConvDepthwiseF32 depthwise_;
  int64_t channels_ = 0, expanded_ = 0, kernel_h_ = 0;
  ConvNhwcGeometry geometry_;
  int64_t band_rows_ = 1;        // output rows a band
  int64_t band_input_rows_ = 0;  // the most expanded rows a band reads
  int64_t slices_ = 1;           // slices of scratch: a few per thread
  bool banded_ = true;           // false: small images run whole, the expanded tensor in the scratch
};

}  // namespace edgerun
