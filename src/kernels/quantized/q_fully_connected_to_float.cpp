// edgerun.QFullyConnectedToFloat: Y[..., N] = (A[..., K] - a_zero_point) x W * (a_scale * w_scale[n]) +
// C[n], int8 A and constant int8 W, float32 Y: a quantized model's last fully connected layer (a
// classifier), whose output stays float. Inputs: A, a_scale, a_zero_point, W, w_scale (1 or N values),
// w_zero_point (absent or zero), C (optional constant float32, 1 or N values). W is [N, K], or [K, N]
// when transpose_weights = 1. The products are summed exactly in int32 and scaled once, so the result is
// the float computation's up to its rounding.
//
// With batch 1 this is a matrix-vector product whose time is reading W: kept as int8 it is a quarter
// of the float weights it replaces (mobilenet_v2: 1.3 MB against 5.1 MB), and each thread reads its own
// share of the output columns. AVX2: W packed as int8 k-pairs for 16 columns, widened by vpmovsxbw as
// it is loaded, A rows (minus the zero point) as int16 k-pairs, vpmaddwd into column sums; 4 rows share
// each weight load.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/large_buffer.h"
#include "kernels/fully_connected_shape.h"
#include "kernels/x86/cpu_features.h"
#include "kernels/xnnpack/int8_params.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGERUN_FC_TO_FLOAT_AVX2 1
#endif

namespace edgerun {
namespace {

constexpr int64_t kBlock = 16;  // output columns per packed block
constexpr int64_t kTileRows = 4;
// Int32 sums of K products of (a - zero point) (|.| <= 255) and w (|.| <= 128) cannot overflow below this.
constexpr int64_t kMaxInnerSize = 65536;

#ifdef EDGERUN_FC_TO_FLOAT_AVX2
#define EDGERUN_FC_AVX2 __attribute__((target("avx2")))

// Columns of blocks [b0, b1) for Rows rows: a is [Rows][pairs * 2] int16, `a_stride` apart, w the
// packed [blocks][pairs][16][2] int8.
template <int Rows>
EDGERUN_FC_AVX2 void tile_avx2(const int16_t* a, int64_t a_stride, const int8_t* w, int64_t pairs, int64_t b0,
                               int64_t b1, const float* scale, const float* bias, float* y, int64_t n) {
  for (int64_t b = b0; b < b1; ++b) {
    const int8_t* wb = w + b * pairs * 32;
    __m256i acc[Rows][2];
    for (int r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int64_t p = 0; p < pairs; ++p) {
      const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + p * 32)));
      const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + p * 32 + 16)));
      for (int r = 0; r < Rows; ++r) {
        int32_t pair;
        std::memcpy(&pair, a + r * a_stride + 2 * p, sizeof(pair));
        const __m256i x = _mm256_set1_epi32(pair);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, w0));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, w1));
      }
    }
    const int64_t col = b * kBlock, cols = std::min(kBlock, n - col);
    for (int r = 0; r < Rows; ++r) {
      alignas(32) float out[kBlock];
      for (int h = 0; h < 2; ++h)
        _mm256_store_ps(out + 8 * h, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][h]), _mm256_loadu_ps(scale + col + 8 * h)),
                                                   _mm256_loadu_ps(bias + col + 8 * h)));
      std::memcpy(y + r * n + col, out, static_cast<size_t>(cols) * sizeof(float));
    }
  }
}
#endif

class QFullyConnectedToFloat final : public Kernel {
 public:
  QFullyConnectedToFloat(const Node& node, int64_t) : transpose_weights_(node.attr_int("transpose_weights", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kInt8 || ctx.input_dtype(3) != DType::kInt8) ctx.fail("expects int8 A and W");
    const FullyConnectedShape shape = fully_connected_shape(ctx, 3, transpose_weights_);
    if (shape.k > kMaxInnerSize) ctx.unsupported("an inner dimension over " + std::to_string(kMaxInnerSize));
    ctx.set_output(0, DType::kFloat32, shape.y);
    rows_ = shape.rows;
    ctx.request_scratch(static_cast<size_t>(rows_ * a_stride(shape.k)) * sizeof(int16_t));
    if (packed_) return;  // the packed weights do not depend on the number of rows
    k_ = shape.k;
    n_ = shape.n;
    pack(ctx);
    packed_ = true;
  }

  void run(RunContext& ctx) override {
    const int8_t* a = ctx.input(0).data<int8_t>();
    float* y = ctx.output(0).data<float>();
    if (rows_ == 0 || n_ == 0) return;
    if (k_ == 0) {  // empty sums: the bias alone
      for (int64_t r = 0; r < rows_; ++r) std::memcpy(y + r * n_, bias_.data(), static_cast<size_t>(n_) * sizeof(float));
      return;
    }
    // Rows minus the zero point as int16, K padded to whole pairs with zeros.
    int16_t* a16 = static_cast<int16_t*>(ctx.scratch());
    const int64_t stride = a_stride(k_);
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t i = 0; i < k_; ++i) a16[r * stride + i] = static_cast<int16_t>(a[r * k_ + i] - a_zero_point_);
      for (int64_t i = k_; i < stride; ++i) a16[r * stride + i] = 0;
    }
    const int64_t blocks = (n_ + kBlock - 1) / kBlock;
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t r0 = 0; r0 < rows_; r0 += kTileRows) compute(a16 + r0 * stride, std::min(kTileRows, rows_ - r0), begin, end, y + r0 * n_);
    };
    ThreadPool* threads = ctx.threads();
    if (threads && threads->num_threads() > 1 && blocks > 1) threads->parallel_for(blocks, 1, work);
    else work(0, blocks);
  }

 private:
  static int64_t a_stride(int64_t k) { return (k + 1) / 2 * 2; }

  void pack(PrepareContext& ctx) {
    const int8_t* weights = ctx.require_value(3).data<int8_t>();
    const Int8Scalar aq = read_int8_quant(ctx, 1, 2);
    a_zero_point_ = aq.zero_point;
    const std::vector<float> w_scales = read_weight_scales(ctx, 4, 5, n_);
    const int64_t blocks = (n_ + kBlock - 1) / kBlock, pairs = a_stride(k_) / 2;
    scale_.assign(static_cast<size_t>(blocks * kBlock), 0.f);
    bias_.assign(static_cast<size_t>(blocks * kBlock), 0.f);
    if (ctx.has_input(6)) {
      const Tensor& c = ctx.require_value(6);
      if (c.dtype() != DType::kFloat32 || (c.numel() != 1 && c.numel() != n_))
        ctx.fail("C must be float32 with 1 or " + std::to_string(n_) + " values");
      for (int64_t m = 0; m < n_; ++m) bias_[m] = c.data<float>()[c.numel() == 1 ? 0 : m];
    }
    for (int64_t m = 0; m < n_; ++m) scale_[m] = aq.scale * w_scales[m];
    weights_.assign(static_cast<size_t>(n_ * k_), 0);  // [N][K] for the portable loop
    for (int64_t m = 0; m < n_; ++m)
      for (int64_t i = 0; i < k_; ++i) weights_[m * k_ + i] = transpose_weights_ ? weights[i * n_ + m] : weights[m * k_ + i];
#ifdef EDGERUN_FC_TO_FLOAT_AVX2
    avx2_ = cpu_has_avx2();
    if (avx2_) {  // [blocks][pairs][16 columns][2]; the [N][K] copy is not kept
      packed_weights_.assign(static_cast<size_t>(blocks * pairs * 32), 0);
      for (int64_t m = 0; m < n_; ++m)
        for (int64_t i = 0; i < k_; ++i)
          packed_weights_[((m / kBlock * pairs + i / 2) * kBlock + m % kBlock) * 2 + i % 2] = weights_[m * k_ + i];
      weights_.clear();
      weights_.shrink_to_fit();
    }
#endif
  }

  // Columns of blocks [b0, b1) for `rows` rows of prepared A from a16 on.
  void compute(const int16_t* a16, int64_t rows, int64_t b0, int64_t b1, float* y) const {
    const int64_t stride = a_stride(k_);
#ifdef EDGERUN_FC_TO_FLOAT_AVX2
    if (avx2_) {
      const int8_t* w = packed_weights_.data();
      switch (rows) {
        case 1: tile_avx2<1>(a16, stride, w, stride / 2, b0, b1, scale_.data(), bias_.data(), y, n_); break;
        case 2: tile_avx2<2>(a16, stride, w, stride / 2, b0, b1, scale_.data(), bias_.data(), y, n_); break;
        case 3: tile_avx2<3>(a16, stride, w, stride / 2, b0, b1, scale_.data(), bias_.data(), y, n_); break;
        default: tile_avx2<4>(a16, stride, w, stride / 2, b0, b1, scale_.data(), bias_.data(), y, n_); break;
      }
      return;
    }
#endif
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t m = b0 * kBlock; m < std::min(n_, b1 * kBlock); ++m) {
        int32_t acc = 0;
        for (int64_t i = 0; i < k_; ++i) acc += a16[r * stride + i] * weights_[m * k_ + i];
        y[r * n_ + m] = static_cast<float>(acc) * scale_[m] + bias_[m];
      }
  }

  bool transpose_weights_;
  bool packed_ = false, avx2_ = false;
  int64_t rows_ = 0, k_ = 0, n_ = 0;
  int8_t a_zero_point_ = 0;
  std::vector<int8_t, LargeBufferAllocator<int8_t>> packed_weights_;  // AVX2 layout (see pack)
  std::vector<int8_t> weights_;                                       // [N][K], the portable loop's
  std::vector<float> scale_, bias_;                                   // [blocks * 16]
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QFullyConnectedToFloat", QFullyConnectedToFloat);

}  // namespace edgerun
