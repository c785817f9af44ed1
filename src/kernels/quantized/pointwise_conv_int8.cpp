#include "kernels/quantized/pointwise_conv_int8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels/quantized/requantize_avx2.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__)  // the octet tile's asm names 16 ymm registers
#include <immintrin.h>
#define EDGERUN_POINTWISE_AVX2 1
#endif

namespace edgerun {
namespace {

constexpr int64_t kTileRows = 6;
constexpr int64_t kBlock = 16;                 // output columns per packed block
constexpr int64_t kChunkRows = kTileRows * 8;  // rows per parallel work item
constexpr int64_t kMinOctetDepth = 64;          // K from which the octet tile is used
constexpr int64_t kVnniRows = 8;                // rows per AVX-512 VNNI tile

#ifdef EDGERUN_POINTWISE_AVX2

// One k-step's products of a broadcast row value x and the weights of 8 columns, summed per column into
// int32: int16 k-pairs by vpmaddwd, or unsigned-byte k-quads by vpmaddubsw (32 byte pairs into 16 int16
// pair sums, twice the multiply-adds per instruction) then vpmaddwd by ones. vpmaddubsw's pair sums
// saturate above 32767; pack() takes that path only for weights where no pair can get there.
__attribute__((target("avx2"))) inline __m256i step_products(__m256i x, __m256i w, const int16_t*) {
  return _mm256_madd_epi16(x, w);
}
__attribute__((target("avx2"))) inline __m256i step_products(__m256i x, __m256i w, const uint8_t*) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1));
}

// acc[r][h] = sum over k-steps s of row r's step s . w[s][h*8..h*8+7], for 6 rows. Both layouts take 4
// bytes of a row (an int16 k-pair or a byte k-quad) and 64 bytes of weights (16 columns) a step.
template <typename Row, typename Weight>
__attribute__((target("avx2"))) inline void tile_6x16(const Row* const a[kTileRows], const Weight* w, int64_t steps,
                                                       __m256i acc[kTileRows][2]) {
  constexpr int64_t kRowStep = 4 / sizeof(Row), kWeightStep = 64 / sizeof(Weight);
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t s = 0; s < steps; ++s, w += kWeightStep) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kWeightStep / 2));
    int32_t step;
#define EDGERUN_ROW(R)                                                               \
  std::memcpy(&step, a[R] + kRowStep * s, sizeof(step));                             \
  {                                                                                  \
    const __m256i x = _mm256_set1_epi32(step);                                       \
    c##R##0 = _mm256_add_epi32(c##R##0, step_products(x, w0, static_cast<Row*>(nullptr))); \
    c##R##1 = _mm256_add_epi32(c##R##1, step_products(x, w1, static_cast<Row*>(nullptr))); \
  }
    EDGERUN_ROW(0)
    EDGERUN_ROW(1)
    EDGERUN_ROW(2)
    EDGERUN_ROW(3)
    EDGERUN_ROW(4)
    EDGERUN_ROW(5)
#undef EDGERUN_ROW
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
  acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
}

// The unsigned-byte tile for weights whose k-octets cannot saturate int16 (see pack; any 6-bit weights):
// the vpmaddubsw pair sums of two k-quads are added as int16 before one vpmaddwd by ones widens them,
// 3 multiply instructions per 64 multiply-adds where the 6x16 tile takes 4. 4 rows: 8 accumulators, the
// 4 weight vectors of an octet, the ones and 3 temporaries fill the 16 ymm registers. `steps` is even.
__attribute__((target("avx2"))) inline void tile_4x16_octets(const uint8_t* const a[kTileRows], const int8_t* w,
                                                              int64_t steps, __m256i acc[kTileRows][2]) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  for (int64_t s = 0; s < steps / 2; ++s, w += 128) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
    const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64));
    const __m256i w3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 96));
    __m256i x, t, u;
    // Quad 0 of the octet into t (columns 0-7) and u (8-15), quad 1 added; the second broadcast of quad
    // 1 spares a fourth temporary.
#define EDGERUN_OCTET_ROW(R)                                \
  "vpbroadcastd (%[a" #R "],%[s],8), %[x]\n\t"             \
  "vpmaddubsw %[w0], %[x], %[t]\n\t"                       \
  "vpmaddubsw %[w1], %[x], %[u]\n\t"                       \
  "vpbroadcastd 4(%[a" #R "],%[s],8), %[x]\n\t"            \
  "vpmaddubsw %[w2], %[x], %[x]\n\t"                       \
  "vpaddw %[x], %[t], %[t]\n\t"                            \
  "vpbroadcastd 4(%[a" #R "],%[s],8), %[x]\n\t"            \
  "vpmaddubsw %[w3], %[x], %[x]\n\t"                       \
  "vpaddw %[x], %[u], %[u]\n\t"                            \
  "vpmaddwd %[ones], %[t], %[t]\n\t"                       \
  "vpaddd %[t], %[c" #R "0], %[c" #R "0]\n\t"              \
  "vpmaddwd %[ones], %[u], %[u]\n\t"                       \
  "vpaddd %[u], %[c" #R "1], %[c" #R "1]\n\t"
    asm(EDGERUN_OCTET_ROW(0) EDGERUN_OCTET_ROW(1) EDGERUN_OCTET_ROW(2) EDGERUN_OCTET_ROW(3)
        : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
          [c30] "+x"(c30), [c31] "+x"(c31), [x] "=&x"(x), [t] "=&x"(t), [u] "=&x"(u)
        : [ones] "x"(ones), [w0] "x"(w0), [w1] "x"(w1), [w2] "x"(w2), [w3] "x"(w3), [s] "r"(s), [a0] "r"(a0),
          [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3)
        : "memory");
#undef EDGERUN_OCTET_ROW
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
  acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
}

// Whether the octet tile is exact for one column's k weights: in every k-octet, the positive weights at
// offsets 0, 1, 4, 5 (whose products meet in one int16 lane) sum to at most 128 and the negative ones to
// at least -128, and likewise at 2, 3, 6, 7. 32 weights a step.
__attribute__((target("avx2"))) bool octet_groups_fit(const int8_t* w, int64_t k) {
  const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi8(1);
  const __m256i high = _mm256_set1_epi16(128), low = _mm256_set1_epi16(-128);
  const __m256i low_half = _mm256_set1_epi64x(0xFFFFFFFF);
  for (int64_t i = 0; i < k; i += 32) {
    __m256i v;
    if (i + 32 <= k) {
      v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
    } else {
      alignas(32) int8_t part[32] = {};  // zero weights complete the last octet
      std::memcpy(part, w + i, static_cast<size_t>(k - i));
      v = _mm256_load_si256(reinterpret_cast<const __m256i*>(part));
    }
    // Pair sums of the positive and of the negative weights, then pairs 0 + 2 and 1 + 3 of each octet
    // into int16 lanes 0 and 1 of its 64 bits.
    __m256i positive = _mm256_maddubs_epi16(ones, _mm256_max_epi8(v, zero));
    __m256i negative = _mm256_maddubs_epi16(ones, _mm256_min_epi8(v, zero));
    positive = _mm256_add_epi16(positive, _mm256_srli_epi64(positive, 32));
    negative = _mm256_add_epi16(negative, _mm256_srli_epi64(negative, 32));
    const __m256i over = _mm256_or_si256(_mm256_cmpgt_epi16(positive, high), _mm256_cmpgt_epi16(low, negative));
    if (!_mm256_testz_si256(over, low_half)) return false;
  }
  return true;
}

// 16 int8 outputs from two vectors of 8 int32 column sums.
__attribute__((target("avx2"))) inline __m128i requantize_16(__m256i acc0, __m256i acc1, const int32_t* bias,
                                                            const float* scale, __m256 lo, __m256 hi, __m256i zero_point) {
  const __m256i i0 = requantize_8(acc0, bias, scale, lo, hi, zero_point);
  const __m256i i1 = requantize_8(acc1, bias + 8, scale + 8, lo, hi, zero_point);
  const __m256i i16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xD8);
  return _mm_packs_epi16(_mm256_castsi256_si128(i16), _mm256_extracti128_si256(i16, 1));
}

__attribute__((target("avx2"))) void widen_avx2(const int8_t* src, int16_t* dst, int64_t n) {
  int64_t c = 0;
  for (; c + 16 <= n; c += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + c))));
  for (; c < n; ++c) dst[c] = src[c];
}

__attribute__((target("avx2"))) void to_unsigned_avx2(const int8_t* src, uint8_t* dst, int64_t n) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  int64_t c = 0;
  for (; c + 32 <= n; c += 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c),
                        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + c)), flip));
  PointwiseConvInt8::to_unsigned_words(src + c, dst + c, n - c);
}

// Rows as unsigned bytes, K padded to the stride with zeros.
void flip_rows(const int8_t* x, uint8_t* xu, int64_t rows, int64_t k, int64_t stride) {
  if (stride == k) {  // K a multiple of 4: one pass over the chunk (per row, K = 16 cost 15 ns a row)
    to_unsigned_avx2(x, xu, rows * k);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    to_unsigned_avx2(x + r * k, xu + r * stride, k);
    for (int64_t i = k; i < stride; ++i) xu[r * stride + i] = 0;
  }
}

// Rows as int16, the odd K padded with a zero.
void widen_rows(const int8_t* x, int16_t* x16, int64_t rows, int64_t k, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) {
    widen_avx2(x + r * k, x16 + r * stride, k);
    if (stride > k) x16[r * stride + k] = 0;
  }
}

// Output columns [block_begin * 16, block_end * 16) of `rows` rows.
// X rows of `Row` (int16, or unsigned bytes), `steps` k-pairs or k-quads each, `stride` apart; Octets: the
// 4-row tile of k-octets.
template <typename Row, typename Weight, bool Octets = false>
__attribute__((target("avx2"))) void gemm_avx2(const Row* x, int8_t* y, int64_t rows, int64_t steps, int64_t stride,
                                              int64_t n, int64_t block_begin, int64_t block_end,
                                              const Weight* packed, const int32_t* bias, const float* scale,
                                              int32_t y_zero_point, float y_lo, float y_hi) {
  const int64_t block_size = steps * (sizeof(Row) == 1 ? 4 : 2) * kBlock;
  const __m256 lo = _mm256_set1_ps(y_lo), hi = _mm256_set1_ps(y_hi);
  const __m256i zero_point = _mm256_set1_epi32(y_zero_point);
  __m256i acc[kTileRows][2];
  alignas(16) int8_t tail[kTileRows][kBlock];
  for (int64_t b = block_begin; b < block_end; ++b) {
    const Weight* w = packed + b * block_size;
    const int64_t col = b * kBlock, cols = std::min(kBlock, n - col);
    constexpr int64_t tile_rows = Octets ? 4 : kTileRows;
    for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
      const int64_t valid = std::min(tile_rows, rows - r0);
      const Row* a[kTileRows];  // rows past the end repeat the last one (computed, not stored)
      for (int64_t r = 0; r < tile_rows; ++r) a[r] = x + (r0 + std::min(r, valid - 1)) * stride;
      if constexpr (Octets) tile_4x16_octets(a, w, steps, acc);
      else tile_6x16(a, w, steps, acc);
      for (int64_t r = 0; r < valid; ++r) {
        const __m128i q = requantize_16(acc[r][0], acc[r][1], bias + col, scale + col, lo, hi, zero_point);
        int8_t* out = y + (r0 + r) * n + col;
        if (cols == kBlock) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out), q);
        } else {
          _mm_store_si128(reinterpret_cast<__m128i*>(tail[r]), q);
          std::memcpy(out, tail[r], static_cast<size_t>(cols));
        }
      }
    }
  }
}

#define EDGERUN_VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

// AVX-512 VNNI: vpdpbusd multiplies 4 unsigned row bytes by 4 weights and adds the sum into an int32
// lane with no int16 stage, so any int8 weights are exact and one instruction does 64 multiply-adds
// (16 columns x one k-quad). A tile is 8 rows x Blocks 16-column blocks: 8 * Blocks zmm accumulators,
// the Blocks weight vectors read per k-quad, a row's quad broadcast once per row.
template <int Blocks>
EDGERUN_VNNI void tile_8xn_vnni(const uint8_t* const a[kVnniRows], const int8_t* w, int64_t block_size, int64_t steps,
                                __m512i acc[kVnniRows][2]) {
  __m512i c[kVnniRows][Blocks];
  for (int r = 0; r < kVnniRows; ++r)
    for (int h = 0; h < Blocks; ++h) c[r][h] = _mm512_setzero_si512();
  const int8_t* w1 = w + block_size;
  for (int64_t s = 0; s < steps; ++s, w += 64, w1 += 64) {
    const __m512i w0v = _mm512_loadu_si512(w);
    const __m512i w1v = Blocks == 2 ? _mm512_loadu_si512(w1) : w0v;
    for (int r = 0; r < kVnniRows; ++r) {
      int32_t quad;
      std::memcpy(&quad, a[r] + 4 * s, sizeof(quad));
      const __m512i x = _mm512_set1_epi32(quad);
      c[r][0] = _mm512_dpbusd_epi32(c[r][0], x, w0v);
      if (Blocks == 2) c[r][1] = _mm512_dpbusd_epi32(c[r][1], x, w1v);
    }
  }
  for (int r = 0; r < kVnniRows; ++r)
    for (int h = 0; h < Blocks; ++h) acc[r][h] = c[r][h];
}

// Output columns [block_begin * 16, block_end * 16) of `rows` unsigned-byte rows (`steps` k-quads each,
// `stride` apart), two blocks a tile where two remain. (gcc 12 warns of uninitialized values inside
// its own AVX-512 intrinsics.)
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
EDGERUN_VNNI void gemm_vnni(const uint8_t* x, int8_t* y, int64_t rows, int64_t steps, int64_t stride, int64_t n,
                            int64_t block_begin, int64_t block_end, const int8_t* packed, const int32_t* bias,
                            const float* scale, int32_t y_zero_point, float y_lo, float y_hi) {
  const int64_t block_size = steps * 4 * kBlock;
  const __m512 lo = _mm512_set1_ps(y_lo), hi = _mm512_set1_ps(y_hi);
  const __m512i zero_point = _mm512_set1_epi32(y_zero_point);
  __m512i acc[kVnniRows][2];
  for (int64_t b = block_begin; b < block_end; b += 2) {
    const int blocks = b + 1 < block_end ? 2 : 1;
    const int8_t* w = packed + b * block_size;
    for (int64_t r0 = 0; r0 < rows; r0 += kVnniRows) {
      const int64_t valid = std::min(kVnniRows, rows - r0);
      const uint8_t* a[kVnniRows];  // rows past the end repeat the last one (computed, not stored)
      for (int64_t r = 0; r < kVnniRows; ++r) a[r] = x + (r0 + std::min(r, valid - 1)) * stride;
      if (blocks == 2) tile_8xn_vnni<2>(a, w, block_size, steps, acc);
      else tile_8xn_vnni<1>(a, w, block_size, steps, acc);
      for (int h = 0; h < blocks; ++h) {
        const int64_t col = (b + h) * kBlock, cols = std::min(kBlock, n - col);
        const __mmask16 store = static_cast<__mmask16>((1u << cols) - 1);
        const __m512i bias_v = _mm512_loadu_si512(bias + col);
        const __m512 scale_v = _mm512_loadu_ps(scale + col);
        for (int64_t r = 0; r < valid; ++r)
          _mm_mask_storeu_epi8(y + (r0 + r) * n + col, store,
                               requantize_16_avx512(acc[r][h], bias_v, scale_v, lo, hi, zero_point));
      }
    }
  }
}
#pragma GCC diagnostic pop

#endif  // EDGERUN_POINTWISE_AVX2

}  // namespace

bool PointwiseConvInt8::supported() {
#ifdef EDGERUN_POINTWISE_AVX2
  return cpu_has_avx2();
#else
  return false;
#endif
}

void PointwiseConvInt8::pack(const int8_t* weights, int64_t n, int64_t k, const int32_t* bias, const float* w_scales,
                             int8_t x_zero_point, float x_scale, int8_t y_zero_point, float y_scale, int8_t y_min,
                             int8_t y_max) {
  n_ = n;
  k_ = k;
  blocks_ = (n + kBlock - 1) / kBlock;
  // vpmaddubsw adds two products of an unsigned byte (up to 255) and a weight into an int16, saturating
  // above 32767. A pair of same-sign weights reaches 255 * |w0 + w1|, of opposite signs at most
  // 255 * 128 = 32640: the path is exact when |w0 + w1| <= 128 for every pair (any 7-bit weights).
  // With AVX-512 VNNI there is no int16 stage, and every weight takes the unsigned-byte path.
#ifdef EDGERUN_POINTWISE_AVX2
  vnni_ = cpu_has_avx512_vnni();
#endif
  int worst = 0;
  for (int64_t m = 0; m < n && !vnni_; ++m)
    for (int64_t i = 0; i + 1 < k; i += 2) worst = std::max(worst, std::abs(weights[m * k + i] + weights[m * k + i + 1]));
  unsigned_rows_ = vnni_ || worst <= 128;
  // The octet tile adds the int16 pair sums of k and k + 4 (for k = 0, 1 mod 8 pairs: lanes hold the
  // pairs (8j, 8j+1) + (8j+4, 8j+5), and (8j+2, 8j+3) + (8j+6, 8j+7)): exact when the positive weights of
  // each such group of 4 sum to at most 128, and the negative ones to at least -128 (any 6-bit weights).
  // Below about 64 k values a tile's requantization outweighs its multiplies, and the 6-row tile
  // requantizes fewer times per weight load (bench/multiply_rates.cpp and alternating runs: the octet
  // tile took 0.85-0.95 of the time at K = 512-4608, 0.94-1.10 at K = 16-24).
  octets_ = !vnni_ && unsigned_rows_ && k >= kMinOctetDepth;
#ifdef EDGERUN_POINTWISE_AVX2
  for (int64_t m = 0; m < n && octets_; ++m) octets_ = octet_groups_fit(weights + m * k, k);
#endif
  steps_ = unsigned_rows_ ? (k + 3) / 4 : (k + 1) / 2;
  if (octets_) steps_ += steps_ % 2;  // whole octets
  const int64_t per_step = unsigned_rows_ ? 4 : 2;  // k values per step
  packed_.clear();
  packed_u8_.clear();
  if (unsigned_rows_) packed_u8_.assign(static_cast<size_t>(blocks_ * steps_ * per_step * kBlock + 64), 0);
  else packed_.assign(static_cast<size_t>(blocks_ * steps_ * per_step * kBlock + 16), 0);
  bias_.assign(static_cast<size_t>(blocks_ * kBlock), 0);
  scale_.assign(static_cast<size_t>(blocks_ * kBlock), 0.f);
  // Unsigned rows hold x + 128: their products exceed the true ones by 128 * sum_k w.
  const int32_t x_offset = static_cast<int32_t>(x_zero_point) + (unsigned_rows_ ? 128 : 0);
  // Column m's k values go per_step at a time, kBlock * per_step apart.
  auto scatter = [&](auto* dst, int64_t m, auto step) {
    constexpr int64_t kStep = decltype(step)::value;
    const int8_t* w = weights + m * k;
    auto* out = dst + ((m / kBlock) * steps_ * kBlock + m % kBlock) * kStep;
    int64_t i = 0;
    for (; i + kStep <= k; i += kStep, out += kBlock * kStep)
      for (int64_t j = 0; j < kStep; ++j) out[j] = w[i + j];
    for (int64_t j = 0; i + j < k; ++j) out[j] = w[i + j];
  };
  for (int64_t m = 0; m < n; ++m) {
    int32_t sum = 0;
    for (int64_t i = 0; i < k; ++i) sum += weights[m * k + i];
    if (unsigned_rows_) scatter(packed_u8_.data(), m, std::integral_constant<int64_t, 4>{});
    else scatter(packed_.data(), m, std::integral_constant<int64_t, 2>{});
    bias_[m] = (bias ? bias[m] : 0) - x_offset * sum;
    scale_[m] = x_scale * w_scales[m] / y_scale;  // as XNNPACK computes its requantization scale
  }
  y_zero_point_ = y_zero_point;
  y_lo_ = static_cast<float>(static_cast<int32_t>(y_min) - y_zero_point);
  y_hi_ = static_cast<float>(static_cast<int32_t>(y_max) - y_zero_point);
}

size_t PointwiseConvInt8::scratch_bytes(int64_t rows) const {
  return static_cast<size_t>(rows * row_stride()) * (unsigned_rows_ ? 1 : sizeof(int16_t)) + 64;
}

void PointwiseConvInt8::prepare_chunk(const int8_t* x, void* rows_out, int64_t rows, int64_t chunk) const {
#ifdef EDGERUN_POINTWISE_AVX2
  const int64_t r0 = chunk * kChunkRows, count = std::min(kChunkRows, rows - r0);
  if (unsigned_rows_)
    flip_rows(x + r0 * k_, static_cast<uint8_t*>(rows_out) + r0 * row_stride(), count, k_, row_stride());
  else
    widen_rows(x + r0 * k_, static_cast<int16_t*>(rows_out) + r0 * row_stride(), count, k_, row_stride());
#endif
}

void PointwiseConvInt8::gemm_unit(const void* rows_in, int8_t* y, int64_t rows, int64_t chunk, int64_t group,
                                  int64_t groups) const {
#ifdef EDGERUN_POINTWISE_AVX2
  const int64_t r0 = chunk * kChunkRows, count = std::min(kChunkRows, rows - r0);
  const int64_t b0 = group * blocks_ / groups, b1 = (group + 1) * blocks_ / groups;
  if (vnni_)
    gemm_vnni(static_cast<const uint8_t*>(rows_in) + r0 * row_stride(), y + r0 * n_, count, steps_, row_stride(), n_, b0,
              b1, packed_u8_.data(), bias_.data(), scale_.data(), y_zero_point_, y_lo_, y_hi_);
  else if (octets_)
    gemm_avx2<uint8_t, int8_t, true>(static_cast<const uint8_t*>(rows_in) + r0 * row_stride(), y + r0 * n_, count,
                                     steps_, row_stride(), n_, b0, b1, packed_u8_.data(), bias_.data(), scale_.data(),
                                     y_zero_point_, y_lo_, y_hi_);
  else if (unsigned_rows_)
    gemm_avx2(static_cast<const uint8_t*>(rows_in) + r0 * row_stride(), y + r0 * n_, count, steps_, row_stride(), n_, b0,
              b1, packed_u8_.data(), bias_.data(), scale_.data(), y_zero_point_, y_lo_, y_hi_);
  else
    gemm_avx2(static_cast<const int16_t*>(rows_in) + r0 * row_stride(), y + r0 * n_, count, steps_, row_stride(), n_,
              b0, b1, packed_.data(), bias_.data(), scale_.data(), y_zero_point_, y_lo_, y_hi_);
#endif
}

void PointwiseConvInt8::widen(const int8_t* src, int16_t* dst, int64_t n) {
#ifdef EDGERUN_POINTWISE_AVX2
  widen_avx2(src, dst, n);
#else
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
#endif
}

void PointwiseConvInt8::to_unsigned_long(const int8_t* src, uint8_t* dst, int64_t n) {
#ifdef EDGERUN_POINTWISE_AVX2
  to_unsigned_avx2(src, dst, n);
#else
  to_unsigned_words(src, dst, n);
#endif
}

namespace {

struct PointwiseJob {
  const PointwiseConvInt8* self;
  const int8_t* x;
  int8_t* y;
  int64_t rows, chunks, groups;
  void* prepared;
};

// Enough work items for the threads even when the rows are few (the last layers of a CNN), split over
// output columns as well; items run group by group, so each thread's contiguous share of them covers
// every row chunk alike.
int64_t column_groups(int64_t chunks, int64_t blocks, ThreadPool* threads) {
  const int64_t parallel = threads ? threads->num_threads() : 1;
  return std::min(blocks, std::max<int64_t>(1, (4 * parallel + chunks - 1) / chunks));
}

// A thread's share of the items (ThreadPool: the same share every layer) is a range of rows with all
// their columns, the rows it prepared (and wrote in the layer before); where the weights outweigh the
// rows (the last layers of a CNN), a range of column groups over all rows, so that each thread streams
// only its part of the weights.
void run_gemm(const PointwiseJob& job, ThreadPool* threads) {
  const bool by_rows = job.self->weight_bytes() <= job.rows * job.self->row_stride();
  auto gemm = [&job, by_rows](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      if (by_rows) job.self->gemm_unit(job.prepared, job.y, job.rows, u / job.groups, u % job.groups, job.groups);
      else job.self->gemm_unit(job.prepared, job.y, job.rows, u % job.chunks, u / job.chunks, job.groups);
    }
  };
  if (threads && threads->num_threads() > 1) threads->parallel_for(job.chunks * job.groups, 1, gemm);
  else gemm(0, job.chunks * job.groups);
}

}  // namespace

void PointwiseConvInt8::run(const int8_t* x, int8_t* y, int64_t rows, void* scratch, ThreadPool* threads) const {
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  const PointwiseJob job{this, x, y, rows, chunks, column_groups(chunks, blocks_, threads), scratch};
  auto prepare = [&job](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) job.self->prepare_chunk(job.x, job.prepared, job.rows, c);
  };
  if (threads && threads->num_threads() > 1) threads->parallel_for(chunks, 1, prepare);
  else prepare(0, chunks);
  run_gemm(job, threads);
}

void PointwiseConvInt8::run_prepared(const void* rows_in, int8_t* y, int64_t rows, ThreadPool* threads) const {
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  run_gemm({this, nullptr, y, rows, chunks, column_groups(chunks, blocks_, threads), const_cast<void*>(rows_in)},
           threads);
}

}  // namespace edgerun
