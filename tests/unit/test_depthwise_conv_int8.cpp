// The AVX2 int8 depthwise kernel against exact integer arithmetic: kernel sizes with an odd and an even
// tap count and height, strides (output rows starting at even and odd input rows), dilated columns,
// asymmetric padding (the taps that read the zero point), channel counts
// with and without a short last block, clamps, and 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/quantized/depthwise_conv_int8.h"
#include "runtime/thread_pool.h"

using edgerun::ConvNhwcGeometry;
using edgerun::DepthwiseConvInt8;

namespace {

struct Layer {
  int64_t channels, kh, kw;
  ConvNhwcGeometry g;
  std::vector<int8_t> w, x;
  std::vector<int32_t> bias;
  std::vector<float> w_scale;
  int8_t x_zp = 0, y_zp = 0, y_min = -128, y_max = 127;
  float x_scale = 0.02f, y_scale = 0.1f;
};

// Y as the kernel defines it: float(sum over taps inside the image of (x - x_zp) w + bias) *
// (x_scale * w_scale / y_scale), rounded to nearest even, plus the zero point, clamped.
std::vector<int8_t> expected(const Layer& l) {
  const ConvNhwcGeometry& g = l.g;
  const int64_t c = l.channels;
  std::vector<int8_t> y(static_cast<size_t>(g.batch * g.out_h * g.out_w * c));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        for (int64_t ch = 0; ch < c; ++ch) {
          int32_t acc = l.bias[ch];
          for (int64_t ky = 0; ky < l.kh; ++ky)
            for (int64_t kx = 0; kx < l.kw; ++kx) {
              const int64_t iy = oh * g.stride_h - g.pad_top + ky * g.dilation_h;
              const int64_t ix = ow * g.stride_w - g.pad_left + kx * g.dilation_w;
              if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;
              acc += (l.x[((n * g.in_h + iy) * g.in_w + ix) * c + ch] - l.x_zp) * l.w[(ch * l.kh + ky) * l.kw + kx];
            }
          const float v = std::nearbyint(static_cast<float>(acc) * (l.x_scale * l.w_scale[ch] / l.y_scale));
          y[((n * g.out_h + oh) * g.out_w + ow) * c + ch] =
              static_cast<int8_t>(std::clamp(v + l.y_zp, static_cast<float>(l.y_min), static_cast<float>(l.y_max)));
        }
  return y;
}

std::vector<int8_t> run(const Layer& l, edgerun::ThreadPool* threads) {
  DepthwiseConvInt8 conv;
  conv.pack(l.w.data(), l.channels, l.kh, l.kw, l.bias.data(), l.w_scale.data(), l.x_zp, l.x_scale, l.y_zp, l.y_scale,
            l.y_min, l.y_max);
  conv.set_geometry(l.g);
  std::vector<int8_t> y(static_cast<size_t>(l.g.batch * l.g.out_h * l.g.out_w * l.channels));
  std::vector<char> scratch(conv.scratch_bytes());
  conv.run(l.x.data(), y.data(), scratch.data(), threads);
  return y;
}

// A layer with "same"-style padding (pad_end may differ from pad_begin), random int8 data.
Layer layer(int64_t channels, int64_t k, int64_t stride, int64_t dilation, int64_t size, int64_t pad_begin,
            int64_t pad_end, unsigned seed) {
  std::mt19937 rng(seed);
  Layer l{channels, k, k};
  ConvNhwcGeometry& g = l.g;
  g.batch = 2;
  g.in_h = g.in_w = size;
  g.stride_h = g.stride_w = stride;
  g.dilation_w = dilation;  // dilated rows are left to other kernels
  g.pad_top = g.pad_left = pad_begin;
  g.out_h = (size + pad_begin + pad_end - k) / stride + 1;
  g.out_w = (size + pad_begin + pad_end - dilation * (k - 1) - 1) / stride + 1;
  std::uniform_int_distribution<int> d(-128, 127), bd(-3000, 3000);
  for (int64_t i = 0; i < channels * k * k; ++i) l.w.push_back(static_cast<int8_t>(d(rng)));
  for (int64_t i = 0; i < g.batch * size * size * channels; ++i) l.x.push_back(static_cast<int8_t>(d(rng)));
  for (int64_t ch = 0; ch < channels; ++ch) {
    l.bias.push_back(bd(rng));
    // Outputs mostly inside int8, so most comparisons are not clamped values.
    l.w_scale.push_back(1.0f / (0.02f * 10 * 128 * static_cast<float>(k) * (1 + ch % 5)));
  }
  l.x_zp = static_cast<int8_t>(d(rng));
  l.y_zp = static_cast<int8_t>(d(rng) / 4);
  return l;
}

int64_t differing(const std::vector<int8_t>& a, const std::vector<int8_t>& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

struct Case {
  int64_t channels, k, stride, dilation, size, pad_begin, pad_end;
};

}  // namespace

TEST(DepthwiseConvInt8, MatchesIntegerArithmeticExactly) {
  if (!DepthwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  edgerun::ThreadPool two(2);
  const Case cases[] = {
      {32, 3, 1, 1, 9, 1, 1},   // mobilenet's 3x3 stride 1, whole blocks
      {48, 3, 2, 1, 10, 0, 1},  // stride 2 with TF-style padding at the end only
      {72, 3, 1, 1, 7, 1, 1},   // a short last block of 8 channels
      {3, 3, 2, 1, 8, 1, 1},    // fewer channels than a block
      {40, 5, 1, 1, 9, 2, 2},   // 25 taps: an odd count, the last pair half zero
      {24, 5, 2, 1, 11, 2, 2},  // 5x5 stride 2
      {16, 2, 1, 1, 6, 0, 1},   // an even tap count
      {20, 3, 1, 2, 9, 2, 2},   // dilated columns
      {32, 3, 3, 1, 10, 1, 1},  // stride 3: output rows starting at odd input rows
      {17, 7, 1, 1, 5, 3, 3},   // a 7x7 kernel wider than the image: most taps in the padding
  };
  for (const Case& p : cases) {
    const Layer l = layer(p.channels, p.k, p.stride, p.dilation, p.size, p.pad_begin, p.pad_end,
                          static_cast<unsigned>(p.channels * 31 + p.k));
    const std::vector<int8_t> want = expected(l);
    EXPECT_EQ(differing(run(l, nullptr), want), 0) << p.channels << " channels, k" << p.k << " s" << p.stride;
    EXPECT_EQ(differing(run(l, &two), want), 0) << p.channels << " channels, k" << p.k << " s" << p.stride
                                                << ", 2 threads";
  }
}

TEST(DepthwiseConvInt8, ExtremeValuesAndClampsAreExact) {
  if (!DepthwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  // Every input and weight at the int8 extremes: the largest int16 products (-128 * -128) and pair
  // sums a vpmaddwd can see; a fused ReLU-like clamp on the output.
  Layer l = layer(32, 3, 1, 1, 6, 1, 1, 7);
  for (size_t i = 0; i < l.x.size(); ++i) l.x[i] = i % 3 == 0 ? 127 : -128;
  for (size_t i = 0; i < l.w.size(); ++i) l.w[i] = i % 2 == 0 ? -128 : 127;
  l.x_zp = 127;
  l.y_min = -20;
  l.y_max = 90;
  EXPECT_EQ(differing(run(l, nullptr), expected(l)), 0);
}
