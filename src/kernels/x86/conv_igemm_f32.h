// Float32 NHWC convolution (groups of 1) as an indirect GEMM with an AVX2/FMA micro-kernel: each tile
// is 6 output pixels x 16 output channels in 12 ymm accumulators, and for every kernel tap the 6 rows
// are pointers into the input (or into a zero row where the tap falls in the padding), so nothing is
// copied into an im2col buffer. Weights are packed once as [16-channel block][tap][input channel][16].
// The Debian XNNPACK build of this vintage reaches ~25 GFLOP/s on a 3x3 64->64 convolution on this
// machine; this kernel is what ConvNhwc uses instead when the CPU has AVX2 and FMA. With AVX-512
// (cpu_has_avx512()) a tile is 8 pixels x 32 channels in 16 zmm accumulators, reading two neighbouring
// packed blocks as two weight streams (Zen 5's two 512-bit FMA pipes do twice the work per cycle).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/large_buffer.h"
#include "kernels/x86/activation_avx2.h"
#include "kernels/x86/conv_geometry.h"

namespace edgerun {

class ThreadPool;

class ConvIgemmF32 {
 public:
  // True when this CPU runs the AVX2/FMA kernel (checked once).
  static bool supported();
  // Kernels with more taps than this are left to other implementations.
  static constexpr int64_t kMaxTaps = 64;

  // weights: ONNX layout [out_channels][channels][kernel_h][kernel_w]; bias may be null. `activation` is
  // applied to the outputs (a fused Relu, Relu6 or SiLU).
  void pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels, int64_t kernel_h,
            int64_t kernel_w, const OutputActivation& activation);

  void set_geometry(const ConvNhwcGeometry& geometry);
  // Bytes of scratch run() needs for this geometry (0 unless the input is copied with its padding).
  size_t scratch_bytes() const;

  // x: [batch][in_h][in_w][channels], y: [batch][out_h][out_w][out_channels]; scratch: scratch_bytes(),
  // 64-byte aligned. `weights`, when given, replaces the packed weights (see scale_weights). `residual`,
  // when given, is laid out like y and added to the sums before the activation (a residual Add). `raw`
  // leaves the activation out (the caller applies it). Without a residual, `y_stride` (0: out_channels)
  // sets the floats from one output pixel to the next, for an output inside a wider one.
  void run(const float* x, float* y, void* scratch, ThreadPool* threads, const float* weights = nullptr,
           const float* residual = nullptr, bool raw = false, int64_t y_stride = 0) const;

  // Output pixels [p_begin, p_end) of (batch x out_h x out_w) on the calling thread, with the packed
  // weights and the activation, into y[(p - p_begin) * out_channels]: a band of rows for a caller that
  // consumes them at once (ConvExpandDepthwiseF32, ConvMaxPoolF32). `x` is what pixels_input returned.
  void run_pixels(const float* x, float* y, int64_t p_begin, int64_t p_end) const;
  // The input run_pixels reads: x itself, or in the padded-row mode (fewer than 8 channels and a kernel
  // wider than 1) a copy of x with its padding columns, made here in `scratch` (scratch_bytes(), 64-byte
  // aligned) on `threads`.
  const float* pixels_input(const float* x, void* scratch, ThreadPool* threads) const;

  // The packed weights with input channel c multiplied by scale[c] (packed_floats() values): the
  // convolution of x * scale, for a per-channel scale that changes every run (a squeeze-excitation
  // gate), without a pass over x.
  size_t packed_floats() const { return packed_.size(); }
  void scale_weights(const float* scale, float* out) const;

 private:
  // One work item of run(): the output rows of pixel chunk `chunk` for column-block group `group`.
  // `x` is the input, or in the padded-row mode its padded copy.
  void run_unit(const float* x, float* y, int64_t y_stride, const float* weights, const float* residual,
                const OutputActivation& activation, int64_t chunk, int64_t chunk_rows, int64_t group,
                int64_t groups) const;
  // Pixels [p_begin, p_end) (at most kChunkRows), column tiles [ct_begin, ct_end); pixel p is stored at
  // y[(p - y_first_pixel) * y_stride], its residual at the same offset (with a residual, y_stride is
  // out_channels).
  void run_range(const float* x, float* y, int64_t y_first_pixel, int64_t y_stride, const float* weights,
                 const float* residual,
                 const OutputActivation& activation, int64_t p_begin, int64_t p_end, int64_t ct_begin,
                 int64_t ct_end) const;
  void copy_padded(const float* x, float* padded, int64_t row_begin, int64_t row_end) const;
  int64_t column_tiles() const;

  int64_t out_channels_ = 0, channels_ = 0, kernel_h_ = 0, kernel_w_ = 0, blocks_ = 0;
  std::vector<float, LargeBufferAllocator<float>> packed_;  // [blocks][taps][channels][16]
  std::vector<float> bias_;    // [blocks * 16]
  std::vector<float> zeros_;   // one tap of zeros, read where a tap falls in the padding
  // Padded-row mode: taps are kernel rows over a copy of the input padded to padded_w_ pixels a row.
  bool padded_rows_ = false;
  int64_t padded_w_ = 0;
  OutputActivation activation_;
  ConvNhwcGeometry geometry_;
  // AVX-512 (cpu_has_avx512()): tiles of tile_rows_ pixels x 32 channels in zmm registers.
  bool avx512_ = false;
  int64_t tile_rows_ = 6;
};

}  // namespace edgerun
