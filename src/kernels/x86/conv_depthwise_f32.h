// Float32 NHWC depthwise convolution (one filter per channel: group == channels == out_channels) with an
// AVX2/FMA or AVX-512 kernel. The channels of a pixel are contiguous in NHWC, so a step is one vector of
// channels (8 in a ymm, or 16 in a zmm with cpu_has_avx512()) of up to 8 neighbouring output pixels of a row. For 3- and 5-wide kernels at stride 1 and 2 the step loads
// each input column once per kernel row and adds it to every output pixel that reads it, with the
// kernel row's weights held in registers; steps at the left and right edges skip the columns in the
// padding, and rows near the top and bottom read fewer kernel rows. Other widths and strides take a
// generic step, with the edge columns computed one at a time. Bias, a residual and the activation
// (clamp, SiLU, HardSwish) are applied in registers as the sums are stored, where XNNPACK's depthwise
// kernel needs a second pass for SiLU. Weights are packed once as [channel group][tap][8 or 16], zero past
// the last channel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/large_buffer.h"
#include "kernels/x86/activation_avx2.h"
#include "kernels/x86/conv_geometry.h"
#include "kernels/x86/cpu_features.h"

namespace edgerun {

class ThreadPool;

class ConvDepthwiseF32 {
 public:
  // True when this CPU runs the AVX2/FMA kernel (checked once).
  static bool supported();
  // Kernels with more taps than this are left to other implementations.
  static constexpr int64_t kMaxTaps = 64;
  // Geometries this kernel takes (dilated ones go to another implementation).
  static bool handles(const ConvNhwcGeometry& geometry) {
    return geometry.dilation_h == 1 && geometry.dilation_w == 1;
  }

  // Whether this kernel is the faster choice over XNNPACK's (with its second pass for SiLU and
  // HardSwish), as measured on the benchmark models. On AVX2 (AMD EPYC Zen 3): everywhere except 3x3
  // stride-2 convolutions of 32 or more channels with only a clamp to apply, which XNNPACK's per-pixel
  // loop runs 7 to 20 % faster (this kernel's steps read the 4x larger input less efficiently there).
  // With AVX-512 (Zen 5) everywhere: taking those too, which also lets FuseExpandDepthwise fuse them
  // with their expansions, ran mobilenet_v2 in 0.96x the time at 1 and 2 threads, mobilenet_v3_small
  // in 0.98-0.99x and shufflenet_v2_x1_0 in 0.97-1.03x. The A/B switch EDGERUN_CONV_DEPTHWISE overrides
  // it: 0 gives every depthwise convolution to XNNPACK, 1 takes them all. ConvNhwc and
  // FuseExpandDepthwise both ask here.
  static bool preferred(int64_t channels, int64_t kernel_h, int64_t kernel_w, const ConvNhwcGeometry& geometry,
                        const OutputActivation& activation) {
    const char* forced = std::getenv("EDGERUN_CONV_DEPTHWISE");
    const int setting = forced && *forced ? std::atoi(forced) : -1;
    if (setting == 0 || setting == 1) return setting == 1;
    if (cpu_has_avx512()) return true;
    const bool k3s2 = kernel_h == 3 && kernel_w == 3 && geometry.stride_h == 2 && geometry.stride_w == 2;
    return !(k3s2 && channels >= 32 && activation.function == OutputActivation::Function::kNone);
  }

  // weights: ONNX layout [channels][1][kernel_h][kernel_w]; bias may be null. `activation` is applied to
  // the outputs.
  void pack(const float* weights, const float* bias, int64_t channels, int64_t kernel_h, int64_t kernel_w,
            const OutputActivation& activation);

  void set_geometry(const ConvNhwcGeometry& geometry);
  // Bytes of scratch run() needs (none; kept for the calling pattern of the other kernels).
  size_t scratch_bytes() const { return 0; }

  // x: [batch][in_h][in_w][channels], y: [batch][out_h][out_w][channels]. `residual`, when given, is laid
  // out like y and added to the sums before the activation (a residual Add). `raw` leaves the activation
  // out (the caller applies it).
  void run(const float* x, float* y, void* scratch, ThreadPool* threads, const float* residual = nullptr,
           bool raw = false) const;

  // Output rows [row_begin, row_end) (over batch x out_h) on the calling thread, with the activation,
  // reading input rows (over batch x in_h) from x, which holds them from row x_first_row on: the rows
  // that row range reads may be all it holds (ConvExpandDepthwiseF32's band of computed rows).
  void run_rows(const float* x, int64_t x_first_row, float* y, int64_t row_begin, int64_t row_end) const;

  // The input rows (of one image) that output row `oh` reads: [first, first + count), within the image.
  void input_rows(int64_t oh, int64_t& first, int64_t& count) const {
    count = row_kh_end_[oh] - row_kh_begin_[oh];
    first = count > 0 ? oh * geometry_.stride_h - geometry_.pad_top + row_kh_begin_[oh] : 0;
  }

 private:
  // One work item of run(): output row `row` (over batch x out_h), channel groups [group_begin, group_end),
  // with x holding the input rows from x_first_row on.
  void run_row(const float* x, int64_t x_first_row, float* y, const float* residual,
               const OutputActivation& activation, int64_t row, int64_t group_begin, int64_t group_end) const;

  // An output column near the left or right edge (the generic kernel): the first input column read and
  // the kernel columns inside the image.
  struct EdgeColumn {
    int64_t out_col, in_col, kw_begin, kw_end;
  };

  int64_t channels_ = 0, kernel_h_ = 0, kernel_w_ = 0, groups_ = 0;
  int64_t lanes_ = 8;  // channels per group: one vector, 16 on AVX-512 (cpu_has_avx512()), else 8
  std::vector<float, LargeBufferAllocator<float>> packed_;  // [groups][taps][lanes_]
  std::vector<float> bias_;    // [groups * lanes_]
  OutputActivation activation_;
  ConvNhwcGeometry geometry_;
  int variant_ = 0;  // which compiled kernel (kernel width and stride) runs this geometry
  // Output columns [inner_begin_, inner_end_) read only columns inside the image (the generic kernel).
  int64_t inner_begin_ = 0, inner_end_ = 0;
  std::vector<EdgeColumn> edge_columns_;  // the others
  // Per output row (of one image): the range of kernel rows inside the image.
  std::vector<int64_t> row_kh_begin_, row_kh_end_;
  bool serial_ = false;  // too little work to split over threads
};

}  // namespace edgerun
