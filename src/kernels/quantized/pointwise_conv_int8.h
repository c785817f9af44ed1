// Int8 pointwise convolution (Y[P, N] = requantize(X[P, K] x W[K, N] + bias)) with AVX2, for the 1x1
// convolutions (and im2col rows) of QConvNhwc. XNNPACK's int8 GEMM kernels of this vintage reduce
// 8-deep k-slices horizontally at the end of every tile, which dominates when K is small (mobilenet's
// 16- to 96-channel 1x1 layers); here weights are packed as int16 k-pairs for 16 columns, so each
// vpmaddwd adds into final column sums (6 rows x 16 columns per tile) and nothing is reduced across
// lanes. Where the weights allow it exactly (no k-pair of same-sign weights over 128 in magnitude: any
// 7-bit weights), rows are unsigned bytes (x + 128) and weights int8 k-quads, multiplied by vpmaddubsw:
// twice the multiply-adds per instruction, 1.8-1.9x the fp32 FMA tile's rate here (bench/multiply_rates.cpp).
// Where every group of 4 weights whose products meet in one int16 lane over two k-quads stays within
// +-128 (any 6-bit weights), a 4-row tile adds two quads' pair sums before widening them: 3 multiply
// instructions per 64 multiply-adds instead of 4, 1-15 % less time than the 6x16 tile on large-K layers.
// On CPUs with AVX-512 VNNI, vpdpbusd takes every layer: 4 byte products summed straight into int32
// lanes (exact for any int8 weights), 64 multiply-adds per instruction, in 8-row x 32-column tiles.
// Requantization is XNNPACK's "fp32" scheme: float(acc) * scale[n], rounded to nearest even,
// plus the output zero point, clamped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/large_buffer.h"

namespace edgerun {

class ThreadPool;

class PointwiseConvInt8 {
 public:
  // True when this CPU runs the AVX2 kernel (checked once).
  static bool supported();

  // weights: [N][K] int8 (symmetric, per output channel scale w_scales[n]); bias may be null.
  void pack(const int8_t* weights, int64_t n, int64_t k, const int32_t* bias, const float* w_scales, int8_t x_zero_point,
            float x_scale, int8_t y_zero_point, float y_scale, int8_t y_min, int8_t y_max);

  // Scratch bytes run() needs for `rows` rows of X.
  size_t scratch_bytes(int64_t rows) const;

  // x: [rows][K] int8, y: [rows][N] int8.
  void run(const int8_t* x, int8_t* y, int64_t rows, void* scratch, ThreadPool* threads) const;

  // The same from rows already prepared the way run() prepares them in its scratch, [rows][row_stride()]
  // apart: unsigned bytes x + 128 when unsigned_rows(), else int16; the values after the K of a row
  // zero. Lets im2col gather straight into them.
  void run_prepared(const void* rows_in, int8_t* y, int64_t rows, ThreadPool* threads) const;
  bool unsigned_rows() const { return unsigned_rows_; }
  bool octets() const { return octets_; }
  bool vnni() const { return vnni_; }
  // Bytes of packed weights the GEMM reads.
  int64_t weight_bytes() const {
    return static_cast<int64_t>(packed_.size() * sizeof(int16_t) + packed_u8_.size());
  }
  int64_t row_stride() const { return steps_ * (unsigned_rows_ ? 4 : 2); }
  // dst[i] = src[i] for n values, and dst[i] = src[i] + 128.
  static void widen(const int8_t* src, int16_t* dst, int64_t n);
  // Inline for the short runs im2col copies (a 7x7 stem over 3 channels: 21 bytes).
  static void to_unsigned(const int8_t* src, uint8_t* dst, int64_t n) {
    if (n >= 64) to_unsigned_long(src, dst, n);
    else to_unsigned_words(src, dst, n);
  }
  static void to_unsigned_long(const int8_t* src, uint8_t* dst, int64_t n);
  // 8 bytes a step: short runs, and the tails of long ones.
  static void to_unsigned_words(const int8_t* src, uint8_t* dst, int64_t n) {
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
      uint64_t v;
      std::memcpy(&v, src + c, 8);
      v ^= 0x8080808080808080ull;
      std::memcpy(dst + c, &v, 8);
    }
    for (; c < n; ++c) dst[c] = static_cast<uint8_t>(src[c] ^ 0x80);
  }

  // Work items of run(), public for its thread-pool trampolines: one chunk of rows prepared, and the
  // output columns of one group of 16-column blocks for one chunk.
  void prepare_chunk(const int8_t* x, void* rows_out, int64_t rows, int64_t chunk) const;
  void gemm_unit(const void* rows_in, int8_t* y, int64_t rows, int64_t chunk, int64_t group, int64_t groups) const;

 private:
  int64_t n_ = 0, k_ = 0, steps_ = 0, blocks_ = 0;
  bool unsigned_rows_ = false;  // the vpmaddubsw kernel: weights allow it (see pack)
  bool octets_ = false;         // its k-octet tile: weights allow that too (see pack)
  bool vnni_ = false;           // the AVX-512 VNNI kernel (any weights)
  std::vector<int16_t, LargeBufferAllocator<int16_t>> packed_;    // [blocks][k_pairs][16][2]
  std::vector<int8_t, LargeBufferAllocator<int8_t>> packed_u8_;   // [blocks][k_quads][16][4]
  std::vector<int32_t> bias_;    // [blocks * 16]: bias - (x_zero_point [+ 128]) * sum_k w (offsets folded in)
  std::vector<float> scale_;     // [blocks * 16]: x_scale * w_scale / y_scale
  int32_t y_zero_point_ = 0;
  float y_lo_ = 0, y_hi_ = 0;    // clamp bounds minus the zero point, in float
};

}  // namespace edgerun
