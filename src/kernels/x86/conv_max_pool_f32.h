// Float32 NHWC convolution followed by a max pool over its output (the stem of ResNets, squeezenet and
// shufflenet: a strided convolution of the 3-channel image, then a 3x3 stride-2 max pool), computed band
// by band: each band of pooled rows has the convolution rows it reads computed just before, into a
// per-slice scratch that stays in the core's L2 cache. The convolution's output (3.2 MB at 112x112x64)
// was written to memory and read back by the pool; it never exists whole now.
//
// A slice's bands are consecutive, so the rows two bands share (the pool's height minus its stride) are
// moved to the front of the scratch rather than computed again; where two slices meet they are computed
// by both. The convolution is ConvIgemmF32's, and max is exact: the result is the unfused one, bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/x86/conv_igemm_f32.h"

namespace edgerun {

class ThreadPool;

// A max pool's window over the convolution's output (conv out_h x out_w); positions outside it are
// left out of the maximum, as ONNX MaxPool's padding is.
struct MaxPoolGeometry {
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, out_h = 0, out_w = 0;
};

class ConvMaxPoolF32 {
 public:
  static bool supported() { return ConvIgemmF32::supported(); }

  // As ConvIgemmF32::pack.
  void pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels, int64_t kernel_h,
            int64_t kernel_w, const OutputActivation& activation);

  void set_geometry(const ConvNhwcGeometry& conv, const MaxPoolGeometry& pool);
  size_t scratch_bytes() const;

  // x: [batch][in_h][in_w][channels], y: [batch][pool out_h][pool out_w][out_channels]; scratch:
  // scratch_bytes(), 64-byte aligned.
  void run(const float* x, float* y, void* scratch, ThreadPool* threads) const;

 private:
  // Pooled rows [row_begin, row_end) (over batch x pool out_h) in bands, with `rows` (band_conv_rows_
  // convolution rows) as the slice's scratch; `x` is the convolution's input as pixels_input gives it.
  void run_slice(const float* x, float* y, float* rows, int64_t row_begin, int64_t row_end) const;

  ConvIgemmF32 conv_;
  int64_t out_channels_ = 0;
  ConvNhwcGeometry conv_geometry_;
  MaxPoolGeometry pool_;
  int64_t band_rows_ = 1;       // pooled rows a band
  int64_t band_conv_rows_ = 0;  // the most convolution rows a band reads
  int64_t slices_ = 1;          // slices of scratch: a few per thread
  size_t conv_scratch_ = 0;     // bytes before the slices: the convolution's padded input, if any
};

}  // namespace edgerun
