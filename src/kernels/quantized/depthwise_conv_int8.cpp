#include "kernels/quantized/depthwise_conv_int8.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "kernels/quantized/requantize_avx2.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGERUN_DEPTHWISE_INT8_AVX2 1
#endif

namespace edgerun {
namespace {

constexpr int64_t kBlock = 16;  // channels per step
// Below this many multiply-adds a convolution runs on the calling thread: waking the pool costs more.
constexpr int64_t kMinParallelMacs = int64_t{1} << 15;
constexpr int64_t kBandRows = 8;  // most output rows per band (see set_geometry)

// Lane i of the "low" and "high" int32 sums of a block holds these channels of it: vpunpcklwd and
// vpunpckhwd interleave within each 128-bit lane.
constexpr int64_t low_lane_channel(int64_t i) { return i < 4 ? i : i + 4; }
constexpr int64_t high_lane_channel(int64_t i) { return i < 4 ? i + 4 : i + 8; }

#ifdef EDGERUN_DEPTHWISE_INT8_AVX2
#define EDGERUN_INT8_AVX2 __attribute__((target("avx2")))

// 16 int8 outputs in channel order from a block's low and high sums (bias and scale in lane order).
EDGERUN_INT8_AVX2 inline __m128i requantize_block(__m256i low, __m256i high, const int32_t* bias, const float* scale,
                                                  __m256 lo, __m256 hi, __m256i zero_point) {
  const __m256i i0 = requantize_8(low, bias, scale, lo, hi, zero_point);
  const __m256i i1 = requantize_8(high, bias + 8, scale + 8, lo, hi, zero_point);
  // Per 128-bit lane: low's channels 0-3 (8-11) then high's 4-7 (12-15), so channel order.
  const __m256i i16 = _mm256_packs_epi32(i0, i1);
  return _mm_packs_epi16(_mm256_castsi256_si128(i16), _mm256_extracti128_si256(i16, 1));
}

// Channels [c, c + 16) of an input pixel as int16 (`valid` of them real), or the zero point for a pixel
// in the padding (null).
EDGERUN_INT8_AVX2 inline __m256i widen_block(const int8_t* pixel, int64_t c, int64_t valid, __m256i zero_point) {
  if (!pixel) return zero_point;
  if (valid == kBlock) return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pixel + c)));
  alignas(16) int8_t part[kBlock] = {};  // past the last channel: any value, its weights are zero
  std::memcpy(part, pixel + c, static_cast<size_t>(valid));
  return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(part)));
}

// One padded column of a row pair: `top` and `bottom` are the two input pixels (null in the padding,
// which holds the zero point), `out` its 32 int16 of block 0, those of the next block `block_step` on.
EDGERUN_INT8_AVX2 void pair_column(const int8_t* top, const int8_t* bottom, int64_t channels, int64_t blocks,
                                   int64_t block_step, int8_t x_zero_point, int16_t* out) {
  const __m256i zero_point = _mm256_set1_epi16(x_zero_point);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c = b * kBlock, valid = std::min(kBlock, channels - c);
    const __m256i t = widen_block(top, c, valid, zero_point), u = widen_block(bottom, c, valid, zero_point);
    __m256i* dst = reinterpret_cast<__m256i*>(out + b * block_step);
    _mm256_storeu_si256(dst, _mm256_unpacklo_epi16(t, u));
    _mm256_storeu_si256(dst + 1, _mm256_unpackhi_epi16(t, u));
  }
}

struct RowArgs {
  const int16_t* pairs[DepthwiseConvInt8::kMaxTaps];  // per kernel row pair: its row pair, block 0, column 0
  const int16_t* w;                                   // packed weights of block 0
  const int32_t* bias;
  const float* scale;
  int8_t* out;  // output row, pixel 0, channel 0
  int64_t row_pairs, kernel_w, stride, dilation, out_w, channels, blocks, padded_cols;
  float y_lo, y_hi;
  int32_t y_zero_point;
};

// One output row, all its channel blocks; J kernel row pairs and KW kernel columns when known at compile
// time, else 0.
template <int J, int KW>
EDGERUN_INT8_AVX2 void row_avx2(const RowArgs& a) {
  const int64_t row_pairs = J > 0 ? J : a.row_pairs, kernel_w = KW > 0 ? KW : a.kernel_w;
  const __m256 lo = _mm256_set1_ps(a.y_lo), hi = _mm256_set1_ps(a.y_hi);
  const __m256i zero_point = _mm256_set1_epi32(a.y_zero_point);
  const int64_t pixel_step = a.stride * 32, tap_step = a.dilation * 32, block_step = a.padded_cols * 32;
  for (int64_t b = 0; b < a.blocks; ++b) {
    const int16_t* w = a.w + b * row_pairs * kernel_w * 32;
    const int64_t c = b * kBlock, valid = std::min(kBlock, a.channels - c);
    for (int64_t ox = 0; ox < a.out_w; ++ox) {
      __m256i low = _mm256_setzero_si256(), high = low;
      for (int64_t j = 0; j < row_pairs; ++j) {
        const int16_t* z = a.pairs[j] + b * block_step + ox * pixel_step;
        const int16_t* wj = w + j * kernel_w * 32;
        for (int64_t kx = 0; kx < kernel_w; ++kx) {
          const __m256i* zp = reinterpret_cast<const __m256i*>(z + kx * tap_step);
          const __m256i* wp = reinterpret_cast<const __m256i*>(wj + kx * 32);
          low = _mm256_add_epi32(low, _mm256_madd_epi16(_mm256_loadu_si256(zp), _mm256_loadu_si256(wp)));
          high = _mm256_add_epi32(high, _mm256_madd_epi16(_mm256_loadu_si256(zp + 1), _mm256_loadu_si256(wp + 1)));
        }
      }
      const __m128i q = requantize_block(low, high, a.bias + c, a.scale + c, lo, hi, zero_point);
      int8_t* out = a.out + ox * a.channels + c;
      if (valid == kBlock) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), q);
      } else {
        alignas(16) int8_t result[kBlock];
        _mm_store_si128(reinterpret_cast<__m128i*>(result), q);
        std::memcpy(out, result, static_cast<size_t>(valid));
      }
    }
  }
}

#define EDGERUN_INT8_VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

// row_avx2 with AVX-512 VNNI: a block's 32 int16 (its low and high halves) are one zmm, and vpdpwssd
// multiplies and adds a tap into the int32 sums in one instruction (lanes 0-7 the low sums, 8-15 the
// high ones), where AVX2 takes two loads of each, two vpmaddwd and two vpaddd. (gcc 12 warns of
// uninitialized values inside its own AVX-512 intrinsics.)
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <int J, int KW>
EDGERUN_INT8_VNNI void row_vnni(const RowArgs& a) {
  const int64_t row_pairs = J > 0 ? J : a.row_pairs, kernel_w = KW > 0 ? KW : a.kernel_w;
  const __m512 lo = _mm512_set1_ps(a.y_lo), hi = _mm512_set1_ps(a.y_hi);
  const __m512i zero_point = _mm512_set1_epi32(a.y_zero_point);
  const int64_t pixel_step = a.stride * 32, tap_step = a.dilation * 32, block_step = a.padded_cols * 32;
  for (int64_t b = 0; b < a.blocks; ++b) {
    const int16_t* w = a.w + b * row_pairs * kernel_w * 32;
    const int64_t c = b * kBlock, valid = std::min(kBlock, a.channels - c);
    const __mmask16 store = static_cast<__mmask16>((1u << valid) - 1);
    const __m512i bias_v = _mm512_loadu_si512(a.bias + c);
    const __m512 scale_v = _mm512_loadu_ps(a.scale + c);
    for (int64_t ox = 0; ox < a.out_w; ++ox) {
      __m512i acc = _mm512_setzero_si512();
      for (int64_t j = 0; j < row_pairs; ++j) {
        const int16_t* z = a.pairs[j] + b * block_step + ox * pixel_step;
        const int16_t* wj = w + j * kernel_w * 32;
        for (int64_t kx = 0; kx < kernel_w; ++kx)
          acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(z + kx * tap_step), _mm512_loadu_si512(wj + kx * 32));
      }
      // Bias and scale are in lane order; 4-byte groups 1 and 2 swapped into channel order.
      const __m128i q =
          _mm_shuffle_epi32(requantize_16_avx512(acc, bias_v, scale_v, lo, hi, zero_point), _MM_SHUFFLE(3, 1, 2, 0));
      _mm_mask_storeu_epi8(a.out + ox * a.channels + c, store, q);
    }
  }
}
#pragma GCC diagnostic pop

#endif  // EDGERUN_DEPTHWISE_INT8_AVX2

}  // namespace

bool DepthwiseConvInt8::supported() {
#ifdef EDGERUN_DEPTHWISE_INT8_AVX2
  return cpu_has_avx2();
#else
  return false;
#endif
}

void DepthwiseConvInt8::pack(const int8_t* weights, int64_t channels, int64_t kernel_h, int64_t kernel_w,
                             const int32_t* bias, const float* w_scales, int8_t x_zero_point, float x_scale,
                             int8_t y_zero_point, float y_scale, int8_t y_min, int8_t y_max) {
  channels_ = channels;
  kernel_h_ = kernel_h;
  kernel_w_ = kernel_w;
  vnni_ = cpu_has_avx512_vnni();
  row_pairs_ = kernel_h / 2 + 1;  // pairs of input rows an output row reads, whichever row it starts at
  blocks_ = (channels + kBlock - 1) / kBlock;
  packed_.assign(static_cast<size_t>(2 * blocks_ * row_pairs_ * kernel_w * 32), 0);
  bias_.assign(static_cast<size_t>(blocks_ * kBlock), 0);
  scale_.assign(static_cast<size_t>(blocks_ * kBlock), 0.f);
  const int64_t taps = kernel_h * kernel_w;
  auto lane_channel = [](int64_t b, int64_t lane) {  // lane 0-7 of the low sums, 8-15 of the high ones
    return b * kBlock + (lane < 8 ? low_lane_channel(lane) : high_lane_channel(lane - 8));
  };
  for (int64_t b = 0; b < blocks_; ++b) {
    for (int64_t lane = 0; lane < kBlock; ++lane) {
      const int64_t ch = lane_channel(b, lane);
      if (ch >= channels) continue;
      const int64_t half = lane / 8, i = lane % 8;
      // An output row whose kernel starts at an odd input row reads it as the second of a pair.
      for (int64_t odd = 0; odd < 2; ++odd)
        for (int64_t j = 0; j < row_pairs_; ++j)
          for (int64_t e = 0; e < 2; ++e) {
            const int64_t ky = 2 * j + e - odd;
            if (ky < 0 || ky >= kernel_h) continue;
            for (int64_t kx = 0; kx < kernel_w; ++kx)
              packed_[((((odd * blocks_ + b) * row_pairs_ + j) * kernel_w + kx) * 2 + half) * 16 + 2 * i + e] =
                  weights[ch * taps + ky * kernel_w + kx];
          }
      int32_t sum = 0;
      for (int64_t t = 0; t < taps; ++t) sum += weights[ch * taps + t];
      bias_[b * kBlock + lane] = (bias ? bias[ch] : 0) - static_cast<int32_t>(x_zero_point) * sum;
      scale_[b * kBlock + lane] = x_scale * w_scales[ch] / y_scale;  // as XNNPACK computes its requantization scale
    }
  }
  x_zero_point_ = x_zero_point;
  y_zero_point_ = y_zero_point;
  y_lo_ = static_cast<float>(static_cast<int32_t>(y_min) - y_zero_point);
  y_hi_ = static_cast<float>(static_cast<int32_t>(y_max) - y_zero_point);
}

void DepthwiseConvInt8::set_geometry(const ConvNhwcGeometry& geometry) {
  const ConvNhwcGeometry& g = geometry_ = geometry;
  padded_cols_ = g.out_w > 0 ? (g.out_w - 1) * g.stride_w + (kernel_w_ - 1) * g.dilation_w + 1 : 0;
  serial_ = g.batch * g.out_h * g.out_w * channels_ * kernel_h_ * kernel_w_ < kMinParallelMacs;
  // Bands of output rows, each with the row pairs it reads written just before it reads them: a band's
  // pairs stay in its thread's cache. (Writing all pairs in one parallel loop and reading them in a
  // second made two threads slower than one here: each thread read pairs the other had written.)
  // At least 4 bands per thread, at most kBandRows rows a band (~100 KB of pairs for mobilenet_v2's
  // 112x112 layers). Neighbouring bands both write the pairs they share.
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t per_image = std::max<int64_t>({1, (4 * hw + g.batch - 1) / std::max<int64_t>(g.batch, 1),
                                               (g.out_h + kBandRows - 1) / kBandRows});
  band_rows_ = std::max<int64_t>(1, (g.out_h + per_image - 1) / per_image);
  bands_per_image_ = g.out_h > 0 ? (g.out_h + band_rows_ - 1) / band_rows_ : 0;
  band_pairs_ = 0;  // the most any band reads (run_band's range)
  for (int64_t oy0 = 0; oy0 < g.out_h; oy0 += band_rows_) {
    const int64_t oy1 = std::min(g.out_h, oy0 + band_rows_);
    band_pairs_ = std::max(band_pairs_, (oy1 - 1) * g.stride_h / 2 + row_pairs_ - oy0 * g.stride_h / 2);
  }
  slices_ = std::min<int64_t>(4 * hw, 32);
}

size_t DepthwiseConvInt8::scratch_bytes() const {
  return static_cast<size_t>(slices_ * band_pairs_ * padded_cols_ * blocks_ * 32) * sizeof(int16_t);
}

void DepthwiseConvInt8::pair_row(const int8_t* x, int16_t* out, int64_t n, int64_t m) const {
#ifdef EDGERUN_DEPTHWISE_INT8_AVX2
  const ConvNhwcGeometry& g = geometry_;
  const int64_t iy0 = 2 * m - g.pad_top, iy1 = iy0 + 1;
  const int8_t* image = x + n * g.in_h * g.in_w * channels_;
  for (int64_t px = 0; px < padded_cols_; ++px, out += 32) {
    const int64_t ix = px - g.pad_left;
    const bool col_inside = ix >= 0 && ix < g.in_w;
    const int8_t* top = col_inside && iy0 >= 0 && iy0 < g.in_h ? image + (iy0 * g.in_w + ix) * channels_ : nullptr;
    const int8_t* bottom = col_inside && iy1 >= 0 && iy1 < g.in_h ? image + (iy1 * g.in_w + ix) * channels_ : nullptr;
    pair_column(top, bottom, channels_, blocks_, padded_cols_ * 32, x_zero_point_, out);
  }
#else
  (void)x, (void)out, (void)n, (void)m;
#endif
}

void DepthwiseConvInt8::run_row(const int16_t* pairs, int64_t first_pair, int8_t* y, int64_t row) const {
#ifdef EDGERUN_DEPTHWISE_INT8_AVX2
  const ConvNhwcGeometry& g = geometry_;
  const int64_t oy = row % g.out_h;
  const int64_t pair_size = padded_cols_ * blocks_ * 32;
  const int64_t first = oy * g.stride_h;  // padded row
  RowArgs a;
  for (int64_t j = 0; j < row_pairs_; ++j) a.pairs[j] = pairs + (first / 2 + j - first_pair) * pair_size;
  a.w = packed_.data() + (first % 2) * blocks_ * row_pairs_ * kernel_w_ * 32;
  a.bias = bias_.data();
  a.scale = scale_.data();
  a.out = y + row * g.out_w * channels_;
  a.row_pairs = row_pairs_;
  a.kernel_w = kernel_w_;
  a.stride = g.stride_w;
  a.dilation = g.dilation_w;
  a.out_w = g.out_w;
  a.channels = channels_;
  a.blocks = blocks_;
  a.padded_cols = padded_cols_;
  a.y_lo = y_lo_;
  a.y_hi = y_hi_;
  a.y_zero_point = y_zero_point_;
  if (vnni_) {
    if (row_pairs_ == 2 && kernel_w_ == 3) row_vnni<2, 3>(a);
    else if (row_pairs_ == 3 && kernel_w_ == 5) row_vnni<3, 5>(a);
    else row_vnni<0, 0>(a);
  } else if (row_pairs_ == 2 && kernel_w_ == 3) {
    row_avx2<2, 3>(a);
  } else if (row_pairs_ == 3 && kernel_w_ == 5) {
    row_avx2<3, 5>(a);
  } else {
    row_avx2<0, 0>(a);
  }
#else
  (void)pairs, (void)first_pair, (void)y, (void)row;
#endif
}

void DepthwiseConvInt8::run_band(const int8_t* x, int8_t* y, int16_t* pairs, int64_t band) const {
  const ConvNhwcGeometry& g = geometry_;
  const int64_t n = band / bands_per_image_, oy0 = band % bands_per_image_ * band_rows_;
  const int64_t oy1 = std::min(g.out_h, oy0 + band_rows_);
  const int64_t first_pair = oy0 * g.stride_h / 2, last_pair = (oy1 - 1) * g.stride_h / 2 + row_pairs_ - 1;
  const int64_t pair_size = padded_cols_ * blocks_ * 32;
  for (int64_t m = first_pair; m <= last_pair; ++m) pair_row(x, pairs + (m - first_pair) * pair_size, n, m);
  for (int64_t oy = oy0; oy < oy1; ++oy) run_row(pairs, first_pair, y, n * g.out_h + oy);
}

void DepthwiseConvInt8::run(const int8_t* x, int8_t* y, void* scratch, ThreadPool* threads) const {
  int16_t* base = static_cast<int16_t*>(scratch);
  const int64_t bands = geometry_.batch * bands_per_image_;
  const int64_t parallel = threads && !serial_ ? threads->num_threads() : 1;
  const int64_t slices = parallel > 1 ? std::min({bands, slices_, 4 * parallel}) : 1;
  const size_t slice_size = static_cast<size_t>(band_pairs_ * padded_cols_ * blocks_ * 32);
  // Each slice owns its part of the scratch, whichever thread runs it.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s)
      for (int64_t b = s * bands / slices; b < (s + 1) * bands / slices; ++b) run_band(x, y, base + s * slice_size, b);
  };
  if (slices > 1) threads->parallel_for(slices, 1, work);
  else work(0, 1);
}

}  // namespace edgerun
