// The int8 pointwise kernel against exact integer arithmetic, on each of its paths: AVX2 int16 rows
// (any weights), unsigned byte rows multiplied by vpmaddubsw (weights whose pair sums cannot saturate
// int16) and its k-octet tile, and AVX-512 VNNI (any weights). The extreme inputs are where a saturating
// pair sum would show. On a VNNI CPU the AVX2 paths' selection is checked in the EDGERUN_ISA=avx2 rerun.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/quantized/pointwise_conv_int8.h"
#include "runtime/thread_pool.h"

using edgerun::PointwiseConvInt8;

namespace {

struct Layer {
  int64_t n, k, rows;
  std::vector<int8_t> w, x;
  std::vector<int32_t> bias;
  std::vector<float> w_scale;
  int8_t x_zp = -7, y_zp = 4;
  float x_scale = 0.02f, y_scale = 0.5f;
};

// Y as the kernel defines it: float(sum (x - x_zp) w + bias) * (x_scale * w_scale / y_scale), rounded
// to nearest even, plus the zero point, clamped to int8.
std::vector<int8_t> expected(const Layer& l) {
  std::vector<int8_t> y(static_cast<size_t>(l.rows * l.n));
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t m = 0; m < l.n; ++m) {
      int32_t acc = l.bias[m];
      for (int64_t i = 0; i < l.k; ++i) acc += (l.x[r * l.k + i] - l.x_zp) * l.w[m * l.k + i];
      const float scale = l.x_scale * l.w_scale[m] / l.y_scale;
      const float v = std::nearbyint(static_cast<float>(acc) * scale);
      y[r * l.n + m] = static_cast<int8_t>(std::clamp(v + l.y_zp, -128.f, 127.f));
    }
  return y;
}

// Whether this CPU's kernel is the VNNI one, which takes every layer (the AVX2 path choices below are
// then not made).
bool vnni_cpu() {
  PointwiseConvInt8 conv;
  const int8_t w = 1;
  const int32_t bias = 0;
  const float scale = 1.f;
  conv.pack(&w, 1, 1, &bias, &scale, 0, 1.f, 0, 1.f, -128, 127);
  return conv.vnni();
}

std::vector<int8_t> run(const Layer& l, bool* unsigned_rows, bool* octets = nullptr,
                        edgerun::ThreadPool* threads = nullptr) {
  PointwiseConvInt8 conv;
  conv.pack(l.w.data(), l.n, l.k, l.bias.data(), l.w_scale.data(), l.x_zp, l.x_scale, l.y_zp, l.y_scale, -128, 127);
  *unsigned_rows = conv.unsigned_rows();
  if (octets) *octets = conv.octets();
  std::vector<char> scratch(conv.scratch_bytes(l.rows));
  std::vector<int8_t> y(static_cast<size_t>(l.rows * l.n));
  conv.run(l.x.data(), y.data(), l.rows, scratch.data(), threads);
  return y;
}

Layer layer(int64_t n, int64_t k, int64_t rows, int w_lo, int w_hi, int x_lo, int x_hi, unsigned seed) {
  std::mt19937 rng(seed);
  Layer l{n, k, rows};
  std::uniform_int_distribution<int> wd(w_lo, w_hi), xd(x_lo, x_hi), bd(-5000, 5000);
  for (int64_t i = 0; i < n * k; ++i) l.w.push_back(static_cast<int8_t>(wd(rng)));
  for (int64_t i = 0; i < rows * k; ++i) l.x.push_back(static_cast<int8_t>(xd(rng)));
  for (int64_t m = 0; m < n; ++m) {
    l.bias.push_back(bd(rng));
    // Scales that keep the outputs mostly inside int8, so most comparisons are not clamped values.
    l.w_scale.push_back(1.0f / (0.02f * 8 * std::sqrt(static_cast<float>(k)) * (64 + m % 7)));
  }
  return l;
}

}  // namespace

TEST(PointwiseConvInt8, SevenBitWeightsTakeTheUnsignedPathExactly) {
  if (!PointwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  for (auto [n, k, rows] : {std::tuple{16, 4, 6}, {21, 37, 98}, {40, 64, 11}, {3, 1, 1}, {33, 130, 50}}) {
    Layer l = layer(n, k, rows, -64, 64, -128, 127, static_cast<unsigned>(n * k));
    bool unsigned_rows = false;
    EXPECT_EQ(run(l, &unsigned_rows), expected(l)) << n << "x" << k;
    EXPECT_TRUE(unsigned_rows);
  }
}

TEST(PointwiseConvInt8, PairsThatCouldSaturateTakeTheInt16Path) {
  if (!PointwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  // All inputs at 127 (255 as unsigned bytes) and weight pairs (127, 127): a pair sum of 64770, which
  // vpmaddubsw would clamp to 32767.
  Layer l = layer(16, 8, 12, 120, 127, 127, 127, 1);
  bool unsigned_rows = true;
  EXPECT_EQ(run(l, &unsigned_rows), expected(l));
  if (!vnni_cpu()) EXPECT_FALSE(unsigned_rows);
  // One same-sign pair summing to 129 is enough to need the int16 path; opposite signs never do.
  Layer edge = layer(16, 8, 12, -64, 64, -128, 127, 2);
  edge.w[5 * 8 + 2] = 65, edge.w[5 * 8 + 3] = 64;
  EXPECT_EQ(run(edge, &unsigned_rows), expected(edge));
  if (!vnni_cpu()) EXPECT_FALSE(unsigned_rows);
  edge.w[5 * 8 + 3] = -128;
  edge.w[5 * 8 + 2] = 127;
  for (int64_t r = 0; r < edge.rows; ++r) edge.x[r * 8 + 2] = 127, edge.x[r * 8 + 3] = -128;
  EXPECT_EQ(run(edge, &unsigned_rows), expected(edge));
  EXPECT_TRUE(unsigned_rows);
  // The largest same-sign pair that still fits, at the extreme inputs: 255 * 128 = 32640.
  edge.w[5 * 8 + 2] = -64, edge.w[5 * 8 + 3] = -64;
  for (int64_t r = 0; r < edge.rows; ++r) edge.x[r * 8 + 2] = 127, edge.x[r * 8 + 3] = 127;
  EXPECT_EQ(run(edge, &unsigned_rows), expected(edge));
  EXPECT_TRUE(unsigned_rows);
}

TEST(PointwiseConvInt8, SixBitWeightsTakeTheOctetTileExactly) {
  if (!PointwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  // K not a multiple of 8 (a zero quad pads the last octet), rows not a multiple of the 4-row tile; K of
  // 64 and more (shallower layers keep the 6x16 tile).
  for (auto [n, k, rows] : {std::tuple{16, 64, 4}, {21, 67, 98}, {40, 64, 11}, {3, 65, 1}, {33, 130, 50}, {16, 76, 7}}) {
    Layer l = layer(n, k, rows, -32, 32, -128, 127, static_cast<unsigned>(n * k + 1));
    bool unsigned_rows = false, octets = false;
    EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l)) << n << "x" << k;
    EXPECT_TRUE(unsigned_rows);
    EXPECT_EQ(octets, !vnni_cpu());
  }
}

TEST(PointwiseConvInt8, OctetGroupsAtTheInt16LimitAreExact) {
  if (!PointwiseConvInt8::supported()) GTEST_SKIP() << "no AVX2";
  // The octet tile adds the pair sums of k, k+1 and k+4, k+5 in int16. A group of positive weights summing
  // to 128 at input 127 (255 unsigned) reaches 32640 and still fits; 129 does not, and the layer takes
  // the 6x16 tile (its pairs still fit) instead.
  Layer l = layer(16, 64, 9, -20, 20, -128, 127, 3);
  l.w[2 * 64 + 8] = 32, l.w[2 * 64 + 9] = 32, l.w[2 * 64 + 12] = 32, l.w[2 * 64 + 13] = 32;
  l.w[7 * 64 + 2] = -32, l.w[7 * 64 + 3] = -32, l.w[7 * 64 + 6] = -32, l.w[7 * 64 + 7] = -32;
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t i = 0; i < l.k; ++i) l.x[r * 64 + i] = 127;
  bool unsigned_rows = false, octets = false;
  EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l));
  if (!vnni_cpu()) EXPECT_TRUE(octets);
  l.w[2 * 64 + 13] = 33;
  EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l));
  if (!vnni_cpu()) EXPECT_FALSE(octets);
  EXPECT_TRUE(unsigned_rows);
  // Mixed signs in a group count separately: +64 +64 and -64 -64 fit.
  l.w[2 * 64 + 8] = 64, l.w[2 * 64 + 9] = 64, l.w[2 * 64 + 12] = -64, l.w[2 * 64 + 13] = -64;
  EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l));
  if (!vnni_cpu()) EXPECT_TRUE(octets);
  // -128 alone fits (255 * -128 = -32640); with a -1 in the other pair of its group it does not, though
  // each pair still fits the 6x16 tile.
  l.w[2 * 64 + 8] = -128, l.w[2 * 64 + 9] = 0, l.w[2 * 64 + 12] = 0, l.w[2 * 64 + 13] = 0;
  EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l));
  if (!vnni_cpu()) EXPECT_TRUE(octets);
  l.w[2 * 64 + 12] = -1;
  EXPECT_EQ(run(l, &unsigned_rows, &octets), expected(l));
  if (!vnni_cpu()) EXPECT_FALSE(octets);
  EXPECT_TRUE(unsigned_rows);
}

TEST(PointwiseConvInt8, VnniTakesAnyWeightsExactly) {
  if (!vnni_cpu()) GTEST_SKIP() << "no AVX-512 VNNI";
  // Full-range weights (pairs that would saturate int16) at the extreme inputs; column counts that end
  // in a single 16-column block and in a partial one, row counts off the 8-row tile, K off the k-quad;
  // on one thread and two.
  edgerun::ThreadPool two(2);
  for (auto [n, k, rows] : {std::tuple{16, 4, 8}, {48, 37, 98}, {33, 64, 11}, {3, 1, 1}, {40, 130, 50}, {64, 9, 7},
                            {24, 16, 200}}) {
    for (auto [lo, hi] : {std::pair{-128, 127}, std::pair{120, 127}, std::pair{-128, -120}}) {
      Layer l = layer(n, k, rows, lo, hi, -128, 127, static_cast<unsigned>(n * k + lo));
      if (lo > 0) std::fill(l.x.begin(), l.x.end(), int8_t{127});
      bool unsigned_rows = false;
      EXPECT_EQ(run(l, &unsigned_rows), expected(l)) << n << "x" << k << " weights " << lo << ".." << hi;
      EXPECT_TRUE(unsigned_rows);
      EXPECT_EQ(run(l, &unsigned_rows, nullptr, &two), expected(l)) << n << "x" << k << " on two threads";
    }
  }
}
