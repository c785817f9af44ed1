// Float32 NHWC 3x3 stride-1 convolution (groups of 1) by Winograd's minimal filtering, F(2x2,3x3) or
// F(4x4,3x3), with AVX2/FMA. Direct convolution (ConvIgemmF32) already runs at this machine's FMA peak;
// Winograd needs 16/36 (F2) or 36/144 (F4) multiplies per output where direct needs 9, so only it can
// go further. Per block of output tiles: the input tiles are transformed (vectorized over channels, which
// NHWC keeps contiguous) into [point][tile][channel], one 6x16 GEMM micro-kernel multiplies them by the
// transformed weights of every point, and the output transform adds the bias and clamps as it stores.
// With AVX-512 the GEMMs run on 6 tiles x 32 channels in zmm registers (fma_avx512.h), and the
// transforms on 16 channels per zmm.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/large_buffer.h"
#include "kernels/x86/activation_avx2.h"
#include "kernels/x86/conv_geometry.h"

namespace edgerun {

class ThreadPool;

class ConvWinogradF32 {
 public:
  // True when this CPU runs the AVX2/FMA kernel (checked once).
  static bool supported();

  // The tile size that runs this convolution faster than the direct kernel, or 0 where none does: the
  // transformed weights (16 or 36 floats per 3x3 filter) must be reused over enough tiles.
  static int choose_tile(int64_t channels, int64_t out_channels, int64_t batch, int64_t out_h, int64_t out_w);

  // tile: outputs per tile side, 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)).
  explicit ConvWinogradF32(int tile);
  int tile() const { return tile_; }

  // weights: ONNX layout [out_channels][channels][3][3]; bias may be null. `activation` is applied to the
  // outputs (a fused Relu, Relu6 or SiLU).
  void pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels,
            const OutputActivation& activation);

  // Strides and dilations are 1 (see ConvNhwc).
  void set_geometry(const ConvNhwcGeometry& geometry);
  // Scratch run() needs (64-byte aligned), for any number of threads.
  size_t scratch_bytes() const;

  // x: [batch][in_h][in_w][channels], y: [batch][out_h][out_w][out_channels]. `residual`, when given, is
  // laid out like y and added to the outputs before the activation (a residual Add). `raw` leaves the
  // activation out (the caller applies it). Without a residual, `y_stride` (0: out_channels) sets the
  // floats from one output pixel to the next, for an output inside a wider one.
  void run(const float* x, float* y, void* scratch, ThreadPool* threads, const float* residual = nullptr,
           bool raw = false, int64_t y_stride = 0) const;

  size_t packed_bytes() const { return packed_.size() * sizeof(float); }

 private:
  void run_unit(const float* x, float* y, int64_t y_stride, const float* residual, const OutputActivation& activation,
                float* scratch, int64_t block, int64_t group, int64_t groups) const;

  int tile_, alpha_, points_;
  int64_t out_channels_ = 0, channels_ = 0, channels_padded_ = 0, blocks_ = 0;
  int64_t tiles_h_ = 0, tiles_w_ = 0, tiles_ = 0, block_tiles_ = 0, tile_blocks_ = 0, slices_ = 0;
  size_t slice_floats_ = 0;
  std::vector<float, LargeBufferAllocator<float>> packed_;  // [points][blocks][channels][16]
  std::vector<float> bias_;    // [blocks * 16]
  OutputActivation activation_;
  ConvNhwcGeometry geometry_;
  bool avx512_ = false;  // AVX-512 (cpu_has_avx512()): GEMMs of 6 tiles x 32 channels, 16-lane transforms
};

}  // namespace edgerun
