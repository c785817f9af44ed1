// Multiply-add rates of the three inner loops a 6x16 GEMM tile can use on AVX2: fp32 FMA, int16
// vpmaddwd (the int8 kernel for any weights) and u8 x s8 vpmaddubsw + vpmaddwd (the int8 kernel for
// weights whose pairs cannot saturate). Each tile runs from L1 (K = 512), best of 5 repeats. Then the
// int8 GEMM kernel itself (PointwiseConvInt8: packing, requantization, its tiles) on a 480 x 512 x 64
// layer with 8-bit weights (int16 path), 7-bit (6x16 vpmaddubsw tile) and 6-bit (4x16 k-octet tile),
// alternating the three, medians of 31 runs.
//
//   build/bench/edgerun_multiply_rates
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/quantized/pointwise_conv_int8.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

constexpr long kK = 512;

#define EDGERUN_ACCUMULATORS(T, zero) T c0 = zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0
#define EDGERUN_ROWS(STEP) STEP(0, c0, c1) STEP(1, c2, c3) STEP(2, c4, c5) STEP(3, c6, c7) STEP(4, c8, c9) STEP(5, c10, c11)

__attribute__((target("avx2,fma"), noinline)) void fp32_tile(const float* a, const float* w, float* out) {
  EDGERUN_ACCUMULATORS(__m256, _mm256_setzero_ps());
  for (long p = 0; p < kK; ++p) {
    const __m256 w0 = _mm256_loadu_ps(w + p * 16), w1 = _mm256_loadu_ps(w + p * 16 + 8);
#define STEP(r, A, B)                                 \
  {                                                   \
    const __m256 x = _mm256_broadcast_ss(a + r * kK + p); \
    A = _mm256_fmadd_ps(x, w0, A);                    \
    B = _mm256_fmadd_ps(x, w1, B);                    \
  }
    EDGERUN_ROWS(STEP)
#undef STEP
  }
  const __m256 all[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
  for (int i = 0; i < 12; ++i) _mm256_storeu_ps(out + 8 * i, all[i]);
}

__attribute__((target("avx2"), noinline)) void int16_tile(const int16_t* a, const int16_t* w, int32_t* out) {
  EDGERUN_ACCUMULATORS(__m256i, _mm256_setzero_si256());
  for (long p = 0; p < kK / 2; ++p) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * 32));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * 32 + 16));
#define STEP(r, A, B)                                       \
  {                                                         \
    int32_t pair;                                           \
    std::memcpy(&pair, a + r * kK + 2 * p, 4);              \
    const __m256i x = _mm256_set1_epi32(pair);              \
    A = _mm256_add_epi32(A, _mm256_madd_epi16(x, w0));      \
    B = _mm256_add_epi32(B, _mm256_madd_epi16(x, w1));      \
  }
    EDGERUN_ROWS(STEP)
#undef STEP
  }
  const __m256i all[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
  for (int i = 0; i < 12; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * i), all[i]);
}

__attribute__((target("avx2"), noinline)) void u8s8_tile(const uint8_t* a, const int8_t* w, int32_t* out) {
  EDGERUN_ACCUMULATORS(__m256i, _mm256_setzero_si256());
  const __m256i ones = _mm256_set1_epi16(1);
  for (long p = 0; p < kK / 4; ++p) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * 64 + 32));
#define STEP(r, A, B)                                                                   \
  {                                                                                     \
    int32_t quad;                                                                       \
    std::memcpy(&quad, a + r * kK + 4 * p, 4);                                          \
    const __m256i x = _mm256_set1_epi32(quad);                                          \
    A = _mm256_add_epi32(A, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));      \
    B = _mm256_add_epi32(B, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));      \
  }
    EDGERUN_ROWS(STEP)
#undef STEP
  }
  const __m256i all[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
  for (int i = 0; i < 12; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * i), all[i]);
}

template <typename F>
double best_seconds(F f, int calls) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return best;
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::puts("needs AVX2 and FMA");
    return 0;
  }
  static float af[6 * kK], wf[kK * 16], of[96];
  static int16_t a16[6 * kK], w16[kK * 16];
  static uint8_t a8[6 * kK];
  static int8_t w8[kK * 16];
  static int32_t oi[96];
  for (long i = 0; i < 6 * kK; ++i) af[i] = a16[i] = a8[i] = static_cast<uint8_t>(i % 7);
  for (long i = 0; i < kK * 16; ++i) wf[i] = w16[i] = w8[i] = static_cast<int8_t>(i % 5);
  const int calls = 100000;
  const double macs = 6.0 * 16 * kK * calls;
  const double f = best_seconds([&] { fp32_tile(af, wf, of); }, calls);
  const double i16 = best_seconds([&] { int16_tile(a16, w16, oi); }, calls);
  const double u8 = best_seconds([&] { u8s8_tile(a8, w8, oi); }, calls);
  std::printf("fp32 FMA             %6.1f GMAC/s\n", macs / f / 1e9);
  std::printf("int16 vpmaddwd       %6.1f GMAC/s  (%.2fx fp32)\n", macs / i16 / 1e9, f / i16);
  std::printf("u8s8 vpmaddubsw      %6.1f GMAC/s  (%.2fx fp32)\n", macs / u8 / 1e9, f / u8);

  const int64_t rows = 480, k = 512, n = 64;
  std::vector<int8_t> x(rows * k);
  for (int64_t i = 0; i < rows * k; ++i) x[i] = static_cast<int8_t>(i * 13 % 255 - 128);
  const std::vector<int32_t> bias(n, 0);
  const std::vector<float> w_scale(n, 0.001f);
  edgerun::PointwiseConvInt8 kernels[3];
  const int bits[3] = {8, 7, 6};
  for (int v = 0; v < 3; ++v) {
    const int range = (1 << (bits[v] - 1)) - 1;
    std::vector<int8_t> w(n * k);
    for (int64_t i = 0; i < n * k; ++i) w[i] = static_cast<int8_t>(i * 7 % (2 * range + 1) - range);
    kernels[v].pack(w.data(), n, k, bias.data(), w_scale.data(), 0, 0.1f, 0, 0.1f, -128, 127);
  }
  std::vector<char> scratch(kernels[0].scratch_bytes(rows) + kernels[2].scratch_bytes(rows));
  std::vector<int8_t> y(rows * n);
  std::vector<double> seconds[3];
  for (int rep = 0; rep < 31; ++rep)
    for (int v = 0; v < 3; ++v) {
      const auto t = std::chrono::steady_clock::now();
      kernels[v].run(x.data(), y.data(), rows, scratch.data(), nullptr);
      seconds[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    }
  const char* paths[3] = {"(int16 path)", "(vpmaddubsw 6x16 tile)", "(vpmaddubsw k-octet tile)"};
  const double layer_macs = static_cast<double>(rows * k * n);
  double median[3];
  for (int v = 0; v < 3; ++v) {
    std::sort(seconds[v].begin(), seconds[v].end());
    median[v] = seconds[v][seconds[v].size() / 2];
  }
  for (int v = 0; v < 3; ++v)
    std::printf("int8 GEMM, %d-bit weights %-26s %6.1f GMAC/s  (%.2fx the 7-bit time)\n", bits[v], paths[v],
                layer_macs / median[v] / 1e9, median[v] / median[1]);
  return 0;
}
