#include "kernels/x86/conv_igemm_f32.h"
#include "kernels/x86/cpu_features.h"

#include <algorithm>
#include <cstring>

#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include "kernels/x86/fma_6x16.h"
#define EDGERUN_IGEMM_AVX2 1
#include "kernels/x86/activation_avx2.h"
#include "kernels/x86/fma_avx512.h"
#endif

namespace edgerun {
namespace {

constexpr int64_t kRows = 6;       // output pixels per AVX2 tile
constexpr int64_t kBlock = 16;     // output channels per AVX2 tile (two ymm registers), and per packed block
constexpr int64_t kRows512 = 8;    // output pixels per AVX-512 tile
constexpr int64_t kRows512Narrow = 7;  // or 7, where that covers the pixels with fewer empty rows
constexpr int64_t kBlocks512 = 2;  // packed blocks per AVX-512 tile (32 channels, two zmm registers per row)
// Below this many multiply-adds a convolution runs on the calling thread (about a microsecond of work).
constexpr int64_t kMinParallelFmas = int64_t{1} << 17;
constexpr int64_t kChunkRows = 96;  // most output pixels per parallel work item (a multiple of 6 and 8)

#ifdef EDGERUN_IGEMM_AVX2

// out[r][0..15] = act(bias + sum over taps t and channels c of a[t][r][c] * w[t][c][0..15] + res[r][0..15]),
// r < rows; res (laid out like out) may be null.
__attribute__((target("avx2,fma"))) void tile_6x16(const float* const* a, int64_t taps, int64_t channels,
                                                    const float* w, const float* bias, const OutputActivation& act,
                                                    const float* res, float* out, int64_t out_stride, int64_t rows,
                                                    int64_t cols) {
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  __m256 acc[kRows][2] = {{b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}, {b0, b1}};
  fma_6x16(a, taps, w, channels, acc);
  for (int64_t r = 0; r < rows; ++r, out += out_stride) {
    if (res) {
      if (cols == kBlock) {
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(res));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(res + 8));
      } else {
        alignas(32) float tail[kBlock] = {};
        std::memcpy(tail, res, sizeof(float) * static_cast<size_t>(cols));
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_load_ps(tail));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_load_ps(tail + 8));
      }
      res += out_stride;
    }
    const __m256 v0 = apply_activation(act, acc[r][0]);
    const __m256 v1 = apply_activation(act, acc[r][1]);
    if (cols == kBlock) {
      _mm256_storeu_ps(out, v0);
      _mm256_storeu_ps(out + 8, v1);
    } else {
      alignas(32) float tail[kBlock];
      _mm256_store_ps(tail, v0);
      _mm256_store_ps(tail + 8, v1);
      std::memcpy(out, tail, sizeof(float) * static_cast<size_t>(cols));
    }
  }
}

// GCC 12's false uninitialized warnings from the AVX-512 intrinsics inlined here (see float_vectors.h).
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The AVX-512 tile: R rows x N blocks of 16 columns (the block after `w` at w + w_next), cols of them
// stored (at most N * 16), as tile_6x16 otherwise.
template <int R, int N>
__attribute__((target(EDGERUN_AVX512_TARGET))) void tile_avx512(const float* const* a, int64_t taps, int64_t channels,
                                                               const float* w, int64_t w_next, const float* bias,
                                                               const OutputActivation& act, const float* res,
                                                               float* out, int64_t out_stride, int64_t rows,
                                                               int64_t cols) {
  __m512 acc[R][N];
  for (int n = 0; n < N; ++n) {
    const __m512 b = _mm512_loadu_ps(bias + n * kBlock);
    for (int r = 0; r < R; ++r) acc[r][n] = b;
  }
  fma_rows_x16n<R, N>(a, taps, w, w_next, channels, acc);
  __mmask16 mask[N];
  for (int n = 0; n < N; ++n) mask[n] = lanes_mask16(cols - n * kBlock);
  if (act.function == OutputActivation::Function::kNone)  // a clamp at most
    store_rows_x16n<R, N, RowFinish::kClamp>(acc, rows, out, out_stride, mask, res, act);
  else
    store_rows_x16n<R, N, RowFinish::kActivation>(acc, rows, out, out_stride, mask, res, act);
}
#pragma GCC diagnostic pop

#endif  // EDGERUN_IGEMM_AVX2

}  // namespace

bool ConvIgemmF32::supported() { return cpu_has_avx2_fma(); }

// The column tiles of run_unit: 16-channel blocks, or pairs of them on the AVX-512 path (the last
// one alone where the blocks are odd).
int64_t ConvIgemmF32::column_tiles() const { return avx512_ ? (blocks_ + kBlocks512 - 1) / kBlocks512 : blocks_; }

void ConvIgemmF32::pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels,
                        int64_t kernel_h, int64_t kernel_w, const OutputActivation& activation) {
  out_channels_ = out_channels;
  channels_ = channels;
  kernel_h_ = kernel_h;
  kernel_w_ = kernel_w;
  blocks_ = (out_channels + kBlock - 1) / kBlock;
  const int64_t taps = kernel_h * kernel_w;
  packed_.resize(static_cast<size_t>(blocks_ * taps * channels * kBlock));
  bias_.assign(static_cast<size_t>(blocks_ * kBlock), 0.f);
  float* dst = packed_.data();  // written in order: this runs for every convolution at load
  for (int64_t b = 0; b < blocks_; ++b)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t col = 0; col < kBlock; ++col) {
          const int64_t m = b * kBlock + col;
          *dst++ = m < out_channels ? weights[(m * channels + c) * taps + t] : 0.f;
        }
  if (bias) std::copy(bias, bias + out_channels, bias_.begin());
  zeros_.assign(static_cast<size_t>(channels * kernel_w), 0.f);
  activation_ = activation;
  avx512_ = cpu_has_avx512();
  tile_rows_ = avx512_ ? kRows512 : kRows;
}

void ConvIgemmF32::set_geometry(const ConvNhwcGeometry& geometry) {
  geometry_ = geometry;
  // Below 8 channels a tap is fewer FMA steps than the row pointers it needs; copying the input once
  // (small, since the channels are few) makes a kernel row one tap.
  padded_rows_ = channels_ < 8 && kernel_w_ > 1 && geometry.dilation_w == 1;
  padded_w_ = padded_rows_ ? (geometry.out_w - 1) * geometry.stride_w + kernel_w_ : 0;
  if (avx512_) {
    // 7-pixel tiles where 8-pixel ones would leave much of the last tile empty: a 7x7 image is 7 of them
    // instead of 7 tiles of 8 with one pixel in the last (ResNet's last layers: 0.88-0.93x the time).
    // They do a little less per weight loaded, so 14x14 (25 tiles of 8, the last half full) stays on 8.
    const int64_t pixels = geometry.batch * geometry.out_h * geometry.out_w;
    const int64_t covered8 = (pixels + 7) / 8 * 8, covered7 = (pixels + 6) / 7 * 7;
    tile_rows_ = (covered8 - covered7) * 20 > pixels ? kRows512Narrow : kRows512;
  }
}

size_t ConvIgemmF32::scratch_bytes() const {
  if (!padded_rows_) return 0;
  return static_cast<size_t>(geometry_.batch * geometry_.in_h * padded_w_ * channels_) * sizeof(float);
}

void ConvIgemmF32::copy_padded(const float* x, float* padded, int64_t row_begin, int64_t row_end) const {
  const ConvNhwcGeometry& g = geometry_;
  // Padded column j holds input column j - pad_left; columns outside the input are zeros.
  const int64_t first = std::min(std::max<int64_t>(g.pad_left, 0), padded_w_);
  const int64_t last = std::max(first, std::min(padded_w_, g.pad_left + g.in_w));
  const int64_t c = channels_;
  for (int64_t row = row_begin; row < row_end; ++row) {
    float* dst = padded + row * padded_w_ * c;
    const float* src = x + row * g.in_w * c + (first - g.pad_left) * c;
    std::fill(dst, dst + first * c, 0.f);
    std::memcpy(dst + first * c, src, sizeof(float) * static_cast<size_t>((last - first) * c));
    std::fill(dst + last * c, dst + padded_w_ * c, 0.f);
  }
}

void ConvIgemmF32::scale_weights(const float* scale, float* out) const {
  const float* w = packed_.data();
  const int64_t rows = blocks_ * kernel_h_ * kernel_w_;  // [block][tap] rows of [channels][16]
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels_; ++c, w += kBlock, out += kBlock)
      for (int64_t col = 0; col < kBlock; ++col) out[col] = w[col] * scale[c];
}

void ConvIgemmF32::run_unit(const float* x, float* y, int64_t y_stride, const float* weights, const float* residual,
                            const OutputActivation& activation, int64_t chunk, int64_t chunk_rows, int64_t group,
                            int64_t groups) const {
  const int64_t pixels = geometry_.batch * geometry_.out_h * geometry_.out_w;
  const int64_t column_tiles = this->column_tiles();
  const int64_t p_begin = chunk * chunk_rows;
  run_range(x, y, 0, y_stride, weights, residual, activation, p_begin, std::min(pixels, p_begin + chunk_rows),
            group * column_tiles / groups, (group + 1) * column_tiles / groups);
}

void ConvIgemmF32::run_pixels(const float* x, float* y, int64_t p_begin, int64_t p_end) const {
  for (int64_t p = p_begin; p < p_end; p += kChunkRows)
    run_range(x, y, p_begin, out_channels_, packed_.data(), nullptr, activation_, p, std::min(p_end, p + kChunkRows), 0,
              column_tiles());
}

const float* ConvIgemmF32::pixels_input(const float* x, void* scratch, ThreadPool* threads) const {
  if (!padded_rows_) return x;
  float* padded = static_cast<float*>(scratch);
  const int64_t in_rows = geometry_.batch * geometry_.in_h;
  auto copy = [&](int64_t begin, int64_t end) { copy_padded(x, padded, begin, end); };
  if (threads && threads->num_threads() > 1) threads->parallel_for(in_rows, 16, copy);
  else copy(0, in_rows);
  return padded;
}

void ConvIgemmF32::run_range(const float* x, float* y, int64_t y_first_pixel, int64_t y_stride, const float* weights,
                             const float* residual, const OutputActivation& activation, int64_t p_begin, int64_t p_end,
                             int64_t ct_begin, int64_t ct_end) const {
#ifdef EDGERUN_IGEMM_AVX2
  const ConvNhwcGeometry& g = geometry_;
  // In the padded-row mode a tap is a whole kernel row: kernel_w * channels contiguous values.
  const int64_t taps = padded_rows_ ? kernel_h_ : kernel_h_ * kernel_w_;
  const int64_t depth = padded_rows_ ? kernel_w_ * channels_ : channels_;
  const int64_t R = tile_rows_;
  const int64_t tiles = (p_end - p_begin + R - 1) / R;
  // Row pointers of every tile of the chunk, [tile][tap][row]; rows past the end repeat the last pixel
  // (computed, not stored). 7-row tiles cover up to 98 of kChunkRows pixels.
  const float* rows[(kChunkRows + kRows512Narrow - 1) / kRows512Narrow * kRows512Narrow * kMaxTaps];
  // Pixel coordinates advance one at a time and the loops walk tiles and their rows: no division per
  // pixel (with few channels, setting up the row pointers costs as much as the tile's FMAs). The input
  // rows under the kernel are found once per output row; everything the loop reads is a local, since
  // its stores of pointers could otherwise alias members such as zeros_'s data pointer.
  int64_t n = p_begin / (g.out_h * g.out_w), oh = p_begin / g.out_w % g.out_h, ow = p_begin % g.out_w;
  const int64_t c = channels_, kernel_h = kernel_h_, kernel_w = kernel_w_, in_w = g.in_w;
  const int64_t stride_w = g.stride_w, dilation_w = g.dilation_w, pad_left = g.pad_left, out_w = g.out_w;
  const int64_t in_row_floats = (padded_rows_ ? padded_w_ : in_w) * c;
  const float* const zeros = zeros_.data();
  const bool unit_1x1 = taps == 1 && !padded_rows_ && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                        g.pad_left == 0 && g.in_h == g.out_h && g.in_w == g.out_w;
  const bool padded = padded_rows_;
  const float* kernel_rows[kMaxTaps];  // input row under kernel row kh for output row oh, or null
  auto find_kernel_rows = [&] {
    const int64_t ih0 = oh * g.stride_h - g.pad_top;
    for (int64_t kh = 0; kh < kernel_h; ++kh) {
      const int64_t ih = ih0 + kh * g.dilation_h;
      kernel_rows[kh] = ih >= 0 && ih < g.in_h ? x + (n * g.in_h + ih) * in_row_floats : nullptr;
    }
  };
  if (!unit_1x1) find_kernel_rows();
  for (int64_t tile = 0, p = p_begin; tile < tiles; ++tile) {
    const float** tile_rows = rows + tile * taps * R;
    for (int64_t r = 0; r < R; ++r, ++p) {
      if (p >= p_end) {
        for (int64_t t = 0; t < taps; ++t) tile_rows[t * R + r] = tile_rows[t * R + r - 1];
        continue;
      }
      if (unit_1x1) {  // a 1x1 convolution over the whole image: pixel p is input row p
        tile_rows[r] = x + p * c;
        continue;
      }
      if (padded) {
        const int64_t col = ow * stride_w * c;
        for (int64_t kh = 0; kh < kernel_h; ++kh)
          tile_rows[kh * R + r] = kernel_rows[kh] ? kernel_rows[kh] + col : zeros;
      } else {
        const int64_t iw0 = ow * stride_w - pad_left;
        const bool columns_inside = iw0 >= 0 && iw0 + (kernel_w - 1) * dilation_w < in_w;
        for (int64_t kh = 0; kh < kernel_h; ++kh) {
          const float* in_row = kernel_rows[kh];
          const float** dst = tile_rows + kh * kernel_w * R + r;
          if (in_row && columns_inside) {
            for (int64_t kw = 0; kw < kernel_w; ++kw) dst[kw * R] = in_row + (iw0 + kw * dilation_w) * c;
          } else {
            for (int64_t kw = 0; kw < kernel_w; ++kw) {
              const int64_t iw = iw0 + kw * dilation_w;
              dst[kw * R] = in_row && iw >= 0 && iw < in_w ? in_row + iw * c : zeros;
            }
          }
        }
      }
      if (++ow == out_w) {
        ow = 0;
        if (++oh == g.out_h) oh = 0, ++n;
        find_kernel_rows();
      }
    }
  }
  const int64_t block_floats = kernel_h_ * kernel_w_ * channels_ * kBlock;  // packed floats per block
  for (int64_t ct = ct_begin; ct < ct_end; ++ct) {
    const int64_t b = avx512_ ? ct * kBlocks512 : ct;
    const float* w = weights + b * block_floats;
    const int64_t col = b * kBlock;
    const int64_t cols = std::min((avx512_ ? kBlocks512 : 1) * kBlock, out_channels_ - col);
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t p = p_begin + tile * R;
      const float* const* a = rows + tile * taps * R;
      const float* res = residual ? residual + (p - y_first_pixel) * out_channels_ + col : nullptr;
      float* out = y + (p - y_first_pixel) * y_stride + col;
      const int64_t tile_rows = std::min(R, p_end - p);
      // The next tile's residual and output lines, asked for ahead: a residual was written several layers
      // before and has left the cache (resnet50 and resnet18 0.98-1.0x the time at 1 and 2 threads).
      if (tile + 1 < tiles) {
        const int64_t next_rows = std::min(R, p_end - p - R);
        for (int64_t r = 0; r < next_rows; ++r) {
          if (res) {
            _mm_prefetch(reinterpret_cast<const char*>(res + (R + r) * out_channels_), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(res + (R + r) * out_channels_ + 16), _MM_HINT_T0);
          }
          _mm_prefetch(reinterpret_cast<const char*>(out + (R + r) * y_stride), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(out + (R + r) * y_stride + 16), _MM_HINT_T0);
        }
      }
      if (!avx512_)
        tile_6x16(a, taps, depth, w, bias_.data() + col, activation, res, out, y_stride, tile_rows, cols);
      else if (R == kRows512Narrow && cols > kBlock)
        tile_avx512<kRows512Narrow, 2>(a, taps, depth, w, block_floats, bias_.data() + col, activation, res, out,
                                       y_stride, tile_rows, cols);
      else if (R == kRows512Narrow)
        tile_avx512<kRows512Narrow, 1>(a, taps, depth, w, block_floats, bias_.data() + col, activation, res, out,
                                       y_stride, tile_rows, cols);
      else if (cols > kBlock)
        tile_avx512<kRows512, 2>(a, taps, depth, w, block_floats, bias_.data() + col, activation, res, out,
                                 y_stride, tile_rows, cols);
      else
        tile_avx512<kRows512, 1>(a, taps, depth, w, block_floats, bias_.data() + col, activation, res, out,
                                 y_stride, tile_rows, cols);
    }
  }
#else
  (void)x, (void)y, (void)y_first_pixel, (void)y_stride, (void)weights, (void)residual, (void)activation, (void)p_begin, (void)p_end,
      (void)ct_begin, (void)ct_end;
#endif
}

void ConvIgemmF32::run(const float* x, float* y, void* scratch, ThreadPool* threads, const float* weights,
                       const float* residual, bool raw, int64_t y_stride) const {
  if (!weights) weights = packed_.data();
  // The tiles store the residual and the output with one row stride.
  if (y_stride == 0 || residual) y_stride = out_channels_;
  const OutputActivation activation = raw ? OutputActivation{} : activation_;
  const int64_t parallel = threads ? threads->num_threads() : 1;
  x = pixels_input(x, scratch, threads);
  const int64_t pixels = geometry_.batch * geometry_.out_h * geometry_.out_w;
  const int64_t tiles = (pixels + tile_rows_ - 1) / tile_rows_, chunk_tiles = kChunkRows / tile_rows_;
  // Pixel chunks of at most kChunkRows pixels, all of about the same size (a 14x14 layer is three chunks
  // of 11 AVX2 tiles, not two of 16 and one of 1, which left one thread idle at two threads).
  const int64_t chunks = (tiles + chunk_tiles - 1) / chunk_tiles;
  const int64_t chunk_rows = (tiles + chunks - 1) / chunks * tile_rows_;
  // Enough work items for the threads even when the pixels are few (the last layers of a CNN): split
  // over output channels too, into a count of items the threads share evenly where the channels allow.
  // A thread's share of the items (ThreadPool: the same share every layer) is a range of pixels with
  // all their channels, the rows it wrote in the layer before; but where the weights outweigh the
  // input (ResNet's 7x7 layers, squeezenet's 1000-channel classifier) it is a range of channel groups
  // over all pixels, so that each thread streams only its part of the weights.
  const int64_t column_tiles = this->column_tiles();
  int64_t groups = std::min(column_tiles, std::max<int64_t>(1, (4 * parallel + chunks - 1) / chunks));
  while (parallel > 1 && groups < column_tiles && chunks * groups % parallel != 0) ++groups;
  const int64_t input_floats = geometry_.batch * geometry_.in_h * geometry_.in_w * channels_;
  const bool by_pixels = static_cast<int64_t>(packed_.size()) <= input_floats;
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      if (by_pixels) run_unit(x, y, y_stride, weights, residual, activation, u / groups, chunk_rows, u % groups, groups);
      else run_unit(x, y, y_stride, weights, residual, activation, u % chunks, chunk_rows, u / chunks, groups);
    }
  };
  // A convolution of a few multiply-adds (the squeeze-excitation layers on one pixel) runs on the
  // caller: waking the pool and reading back what the other thread wrote cost more than the work.
  const int64_t fmas = pixels * out_channels_ * kernel_h_ * kernel_w_ * channels_;
  if (parallel > 1 && fmas >= kMinParallelFmas) threads->parallel_for(chunks * groups, 1, work);
  else work(0, chunks * groups);
}

}  // namespace edgerun
