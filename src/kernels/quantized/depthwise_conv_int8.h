// Int8 NHWC depthwise convolution (one filter per channel: group == channels == out_channels) with
// AVX2, for QConvNhwc. XNNPACK's qc8 depthwise kernels of this vintage widen every product to int32
// (vpmulld) and run at 3-4 G multiply-adds/s here, slower than the fp32 depthwise kernel. Here vpmaddwd
// multiplies two kernel rows at once: a first pass writes "row pairs", the zero-point-padded input
// widened to int16 with each value of an even padded row beside the value below it, in the lane order
// vpmaddwd takes; the second pass reads them straight from memory, two kernel rows of a tap column for 8
// channels in one instruction (an output row starting at an odd row, or an odd kernel height, pairs
// some rows with zero weights), with no widening, shuffling or bounds checks in its loop. Each input
// value is widened once instead of once per tap. Requantization is the pointwise kernel's: float(acc) *
// scale[c], rounded to nearest even, plus the output zero point, clamped. With AVX-512 VNNI one
// vpdpwssd multiplies and adds a tap's two rows for all 16 channels of a block.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/large_buffer.h"
#include "kernels/x86/conv_geometry.h"

namespace edgerun {

class ThreadPool;

class DepthwiseConvInt8 {
 public:
  // True when this CPU runs the AVX2 kernel (checked once).
  static bool supported();
  // Kernels with more taps than this, and dilated kernel rows, are left to other implementations.
  static constexpr int64_t kMaxTaps = 64;
  static bool handles(int64_t kernel_h, int64_t kernel_w, int64_t dilation_h) {
    return kernel_h * kernel_w <= kMaxTaps && dilation_h == 1;
  }

  // weights: ONNX layout [channels][1][kernel_h][kernel_w] int8 (symmetric, per-channel scale
  // w_scales[c]); bias may be null.
  void pack(const int8_t* weights, int64_t channels, int64_t kernel_h, int64_t kernel_w, const int32_t* bias,
            const float* w_scales, int8_t x_zero_point, float x_scale, int8_t y_zero_point, float y_scale,
            int8_t y_min, int8_t y_max);

  void set_geometry(const ConvNhwcGeometry& geometry);
  // Bytes of scratch run() needs (the row pairs).
  size_t scratch_bytes() const;

  // x: [batch][in_h][in_w][channels], y: [batch][out_h][out_w][channels].
  void run(const int8_t* x, int8_t* y, void* scratch, ThreadPool* threads) const;

  // Work items of run(), public for its thread-pool loop: band `band` (over batch x bands of output rows)
  // with its row pairs in `pairs`.
  void run_band(const int8_t* x, int8_t* y, int16_t* pairs, int64_t band) const;

 private:
  int64_t channels_ = 0, kernel_h_ = 0, kernel_w_ = 0, row_pairs_ = 0, blocks_ = 0;
  // [odd][blocks][row pairs][kernel_w][2][16]: the int16 (w[2j - odd][kx], w[2j + 1 - odd][kx]) of
  // channels 0-3 and 8-11, then 4-7 and 12-15 of the block (the lanes vpunpcklwd / vpunpckhwd of two
  // widened rows give); zero outside the kernel and past the last channel. `odd`: the output row's
  // first input row is the second of its pair.
  std::vector<int16_t, LargeBufferAllocator<int16_t>> packed_;
  std::vector<int32_t> bias_;  // [blocks * 16] in the same lane order: bias - x_zero_point * sum w
  std::vector<float> scale_;   // [blocks * 16] in the same lane order: x_scale * w_scale / y_scale
  int8_t x_zero_point_ = 0;
  int32_t y_zero_point_ = 0;
  float y_lo_ = 0, y_hi_ = 0;  // clamp bounds minus the zero point, in float
  ConvNhwcGeometry geometry_;
  // Row pair m holds padded rows 2m and 2m + 1 (padded row r is input row r - pad_top), stored as
  // [blocks][padded columns][32] int16. A band of band_rows_ output rows writes the pairs it reads
  // (at most band_pairs_) into its slice of the scratch.
  int64_t padded_cols_ = 0, band_rows_ = 1, bands_per_image_ = 0, band_pairs_ = 0, slices_ = 1;
  // Pair m of image n into `out`.
  void pair_row(const int8_t* x, int16_t* out, int64_t n, int64_t m) const;
  // Output row `row` (over batch x out_h), its pairs from pair `first_pair` on in `pairs`.
  void run_row(const int16_t* pairs, int64_t first_pair, int8_t* y, int64_t row) const;
  bool serial_ = false;  // too little work to split over threads
  bool vnni_ = false;    // AVX-512 VNNI: one vpdpwssd per tap and block
};

}  // namespace edgerun
