#include "kernels/x86/conv_winograd_f32.h"
#include "kernels/x86/cpu_features.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include "kernels/x86/fma_6x16.h"
#include "kernels/x86/fma_avx512.h"
#include "kernels/x86/float_vectors.h"
#define EDGERUN_WINOGRAD_AVX2 1
#endif

namespace edgerun {
namespace {

constexpr int64_t kRows = 6;    // tiles per micro-kernel call
constexpr int64_t kBlock = 16;  // output channels per micro-kernel call, and per packed block
// Tiles per AVX-512 micro-kernel call (of one or two blocks): 6 like the AVX2 one, since the blocks of
// tiles are multiples of 6 (8 rows left a quarter of each call unused on ResNet layers, 1.2x slower).
constexpr int64_t kRows512 = 6;
// Transformed inputs and outputs of one block of tiles stay within this many bytes, so that the GEMMs
// over the points find them in L2 (1 MiB per core here) beside the transformed weights.
constexpr size_t kBlockBytes = 384 * 1024;
constexpr int64_t kMaxBlockTiles = 96;
constexpr int64_t kSubBlocks = 4;  // 16-channel blocks multiplied before each output transform pass
// Transformed weights larger than this are streamed from L3 or memory for every block of tiles.
constexpr size_t kCachedWeightBytes = 512 * 1024;
// Winograd wins while each tile's share of that streaming stays under this. Measured on one core: F4
// runs 13x13 64->256 (147 KB per tile) 1.8x faster than the direct kernel; at 10x10 128->256 F4
// (524 KB) is no faster than F2 (84 KB); at 14x14 256->256 F2 (233 KB) beats F4 (1.5 MB), 1.5x against
// 1.3x; at 7x7 512->512 both (1+ MB) are slower than direct.
constexpr size_t kMaxWeightBytesPerTile = 256 * 1024;

// Channels of a transformed input row: a multiple of the transforms' vector width (16 lanes with
// AVX-512, else 8), the values past `channels` zero.
int64_t padded_channels(int64_t channels) {
  const int64_t lanes = cpu_has_avx512() ? 16 : 8;
  return (channels + lanes - 1) / lanes * lanes;
}

int64_t block_tiles_for(int64_t points, int64_t channels, int64_t out_channels, int64_t tiles) {
  const int64_t padded = padded_channels(channels), blocks = (out_channels + kBlock - 1) / kBlock;
  const int64_t row_floats = points * (padded + std::min(blocks, kSubBlocks) * kBlock);
  const int64_t fit = static_cast<int64_t>(kBlockBytes / sizeof(float)) / row_floats / kRows * kRows;
  return std::min(std::clamp<int64_t>(fit, kRows, kMaxBlockTiles), std::max<int64_t>(tiles, 1));
}

#ifdef EDGERUN_WINOGRAD_AVX2
// out[r][0..15] = sum over c < depth of a[r * a_stride + c] * w[c][0..15], r < rows.
__attribute__((target("avx2,fma"))) void gemm_6x16(const float* a, int64_t a_stride, int64_t rows, const float* w,
                                                   int64_t depth, float* out, int64_t out_stride) {
  // Rows past `rows` read the last one again (computed, not stored).
  const float* rows_a[kRows];
  for (int64_t r = 0; r < kRows; ++r) rows_a[r] = a + std::min(r, rows - 1) * a_stride;
  __m256 acc[kRows][2] = {};
  fma_6x16(rows_a, 1, w, depth, acc);
  for (int64_t r = 0; r < rows; ++r, out += out_stride) {
    _mm256_storeu_ps(out, acc[r][0]);
    _mm256_storeu_ps(out + 8, acc[r][1]);
  }
}

// out[r][0..N * 16 - 1] = sum over c < depth of a[r * a_stride + c] * w[n * w_next + c * 16 + 0..15] (block
// n of N), r < rows.
template <int N>
__attribute__((target(EDGERUN_AVX512_TARGET))) void gemm_avx512(const float* a, int64_t a_stride, int64_t rows,
                                                               const float* w, int64_t w_next, int64_t depth,
                                                               float* out, int64_t out_stride) {
  const float* rows_a[kRows512];
  for (int64_t r = 0; r < kRows512; ++r) rows_a[r] = a + std::min(r, rows - 1) * a_stride;
  __m512 acc[kRows512][N];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  fma_rows_x16n<kRows512, N>(rows_a, 1, w, w_next, depth, acc);
  __mmask16 all[N];
  for (auto& m : all) m = 0xffff;
  store_rows_x16n<kRows512, N, RowFinish::kNone>(acc, rows, out, out_stride, all, nullptr, OutputActivation{});
}

// The transforms, once per vector width.
namespace ymm {
using Vec = Ymm;
#define EDGERUN_WG_TARGET "avx2,fma"
#include "kernels/x86/conv_winograd_f32_transforms.inc"
#undef EDGERUN_WG_TARGET
}  // namespace ymm

namespace zmm {
using Vec = Zmm;
#define EDGERUN_WG_TARGET EDGERUN_AVX512_TARGET
// GCC 12's false uninitialized warnings from the AVX-512 intrinsics (see float_vectors.h).
#pragma GCC diagnostic push
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/x86/conv_winograd_f32_transforms.inc"
#pragma GCC diagnostic pop
#undef EDGERUN_WG_TARGET
}  // namespace zmm

#endif  // EDGERUN_WINOGRAD_AVX2

}  // namespace

bool ConvWinogradF32::supported() { return cpu_has_avx2_fma(); }

int ConvWinogradF32::choose_tile(int64_t channels, int64_t out_channels, int64_t batch, int64_t out_h,
                                 int64_t out_w) {
  for (int tile : {4, 2}) {
    const int64_t points = (tile + 2) * (tile + 2);
    const int64_t tiles_h = (out_h + tile - 1) / tile, tiles_w = (out_w + tile - 1) / tile;
    const int64_t tiles = batch * tiles_h * tiles_w;
    // On AVX-512 the direct kernel does twice the work per cycle and Winograd's transforms do not keep
    // up: tiles that overhang the image by more than a fifth lose there (per layer, 1 and 2 threads:
    // 14x14 256->256 ran faster with 2x2 tiles than with 4x4, which cover 16x16; 13x13 64->256 with 4x4
    // ran slower than the direct kernel, 2x2 about as fast).
    if (cpu_has_avx512() && tiles_h * tiles_w * tile * tile * 5 > out_h * out_w * 6) continue;
    const size_t weight_bytes = static_cast<size_t>(points * channels * out_channels) * sizeof(float);
    const int64_t reuse = weight_bytes > kCachedWeightBytes ? block_tiles_for(points, channels, out_channels, tiles)
                                                            : std::max<int64_t>(tiles, 1);
    if (weight_bytes / static_cast<size_t>(reuse) <= kMaxWeightBytesPerTile) return tile;
  }
  return 0;
}

ConvWinogradF32::ConvWinogradF32(int tile) : tile_(tile == 2 ? 2 : 4), alpha_(tile_ + 2), points_(alpha_ * alpha_) {}

void ConvWinogradF32::pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels,
                           const OutputActivation& activation) {
  out_channels_ = out_channels;
  channels_ = channels;
  avx512_ = cpu_has_avx512();
  channels_padded_ = padded_channels(channels);
  blocks_ = (out_channels + kBlock - 1) / kBlock;
  // U = G g G^T, in double so that the transformed weights are rounded once.
  static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double g4[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  const double(*G)[3] = tile_ == 2 ? g2 : g4;
  const int a = alpha_;
  packed_.resize(static_cast<size_t>(points_ * blocks_ * channels * kBlock));  // every value written below
  // Block by block and channel by channel, the 16 columns of a block side by side: each point's
  // columns fill one cache line (per output channel, the 36 points land megabytes apart), and the
  // arithmetic runs across columns in vector registers.
  const int64_t point_stride = blocks_ * channels * kBlock;
  for (int64_t b = 0; b < blocks_; ++b) {
    const int64_t cols = std::min<int64_t>(kBlock, out_channels - b * kBlock);
    for (int64_t c = 0; c < channels; ++c) {
      double g[9][kBlock] = {};
      for (int64_t col = 0; col < cols; ++col) {
        const float* w = weights + ((b * kBlock + col) * channels + c) * 9;
        for (int k = 0; k < 9; ++k) g[k][col] = w[k];
      }
      double t[6][3][kBlock];  // G g
      for (int i = 0; i < a; ++i)
        for (int k = 0; k < 3; ++k)
          for (int col = 0; col < kBlock; ++col)
            t[i][k][col] = G[i][0] * g[k][col] + G[i][1] * g[3 + k][col] + G[i][2] * g[6 + k][col];
      float* dst = packed_.data() + (b * channels + c) * kBlock;
      for (int i = 0; i < a; ++i)
        for (int j = 0; j < a; ++j) {
          float* out = dst + (i * a + j) * point_stride;
          for (int col = 0; col < kBlock; ++col)
            out[col] = static_cast<float>(t[i][0][col] * G[j][0] + t[i][1][col] * G[j][1] + t[i][2][col] * G[j][2]);
        }
    }
  }
  bias_.assign(static_cast<size_t>(blocks_ * kBlock), 0.f);
  if (bias) std::copy(bias, bias + out_channels, bias_.begin());
  activation_ = activation;
}

void ConvWinogradF32::set_geometry(const ConvNhwcGeometry& geometry) {
  geometry_ = geometry;
  tiles_h_ = (geometry.out_h + tile_ - 1) / tile_;
  tiles_w_ = (geometry.out_w + tile_ - 1) / tile_;
  tiles_ = geometry.batch * tiles_h_ * tiles_w_;
  const int64_t row_floats = points_ * (channels_padded_ + std::min(blocks_, kSubBlocks) * kBlock);
  block_tiles_ = block_tiles_for(points_, channels_, out_channels_, tiles_);
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  // Enough blocks of tiles for run()'s work items where the tiles allow (blocks of at least two GEMM
  // calls): otherwise it splits the output channels, and every channel group transforms the same
  // inputs again (squeezenet's 16->64 layers at 55x55 took longer on two threads than on one).
  const int64_t wanted = std::max<int64_t>(2 * kRows, (tiles_ + 4 * hw - 1) / (4 * hw) / kRows * kRows);
  if (block_tiles_ > wanted) block_tiles_ = wanted;
  tile_blocks_ = (tiles_ + block_tiles_ - 1) / block_tiles_;
  slice_floats_ = static_cast<size_t>((block_tiles_ * row_floats + 15) / 16 * 16);
  // One slice per concurrent work item: run() uses at most 4 per thread.
  slices_ = std::min<int64_t>(4 * hw, 32);
}

size_t ConvWinogradF32::scratch_bytes() const {
  return static_cast<size_t>(slices_) * slice_floats_ * sizeof(float);
}

void ConvWinogradF32::run_unit(const float* x, float* y, int64_t y_stride, const float* residual,
                               const OutputActivation& activation,
                               float* scratch, int64_t block, int64_t group, int64_t groups) const {
#ifdef EDGERUN_WINOGRAD_AVX2
  const int64_t tile_begin = block * block_tiles_, count = std::min(block_tiles_, tiles_ - tile_begin);
  const int64_t block_begin = group * blocks_ / groups, block_end = (group + 1) * blocks_ / groups;
  // v: [point][tile][channels_padded_]; m: [point][tile][up to kSubBlocks * 16].
  float* v = scratch;
  float* m = scratch + points_ * block_tiles_ * channels_padded_;
  const int64_t v_point = block_tiles_ * channels_padded_;
  const auto transform_inputs = avx512_ ? (tile_ == 2 ? zmm::transform_inputs<2> : zmm::transform_inputs<4>)
                                        : (tile_ == 2 ? ymm::transform_inputs<2> : ymm::transform_inputs<4>);
  const auto transform_outputs = avx512_ ? (tile_ == 2 ? zmm::transform_outputs<2> : zmm::transform_outputs<4>)
                                         : (tile_ == 2 ? ymm::transform_outputs<2> : ymm::transform_outputs<4>);
  transform_inputs(x, geometry_, channels_, tiles_h_, tiles_w_, tile_begin, count, v, channels_padded_, v_point);
  // A few 16-channel blocks at a time, so that their products m stay small beside v.
  for (int64_t sub = block_begin; sub < block_end; sub += kSubBlocks) {
    const int64_t sub_end = std::min(block_end, sub + kSubBlocks), cols = (sub_end - sub) * kBlock;
    const int64_t m_point = block_tiles_ * cols;
    const int64_t w_next = channels_ * kBlock;  // packed floats from one block to the next
    for (int64_t p = 0; p < points_; ++p) {
      if (avx512_) {  // two blocks at a time
        for (int64_t b = sub; b < sub_end; b += 2) {
          const float* w = packed_.data() + (p * blocks_ + b) * w_next;
          for (int64_t r = 0; r < count; r += kRows512) {
            const float* a = v + p * v_point + r * channels_padded_;
            float* out = m + p * m_point + r * cols + (b - sub) * kBlock;
            const int64_t rows = std::min(kRows512, count - r);
            if (b + 1 < sub_end) gemm_avx512<2>(a, channels_padded_, rows, w, w_next, channels_, out, cols);
            else gemm_avx512<1>(a, channels_padded_, rows, w, w_next, channels_, out, cols);
          }
        }
        continue;
      }
      for (int64_t b = sub; b < sub_end; ++b) {
        const float* w = packed_.data() + (p * blocks_ + b) * w_next;
        for (int64_t r = 0; r < count; r += kRows)
          gemm_6x16(v + p * v_point + r * channels_padded_, channels_padded_, std::min(kRows, count - r), w,
                    channels_, m + p * m_point + r * cols + (b - sub) * kBlock, cols);
      }
    }
    const int64_t col_begin = sub * kBlock, col_end = std::min(out_channels_, sub_end * kBlock);
    transform_outputs(m, geometry_, y_stride, tiles_h_, tiles_w_, tile_begin, count, col_begin, col_end, cols,
                      m_point, bias_.data(), activation, residual, y);
  }
#else
  (void)x, (void)y, (void)y_stride, (void)residual, (void)activation, (void)scratch, (void)block, (void)group, (void)groups;
#endif
}

void ConvWinogradF32::run(const float* x, float* y, void* scratch, ThreadPool* threads, const float* residual,
                          bool raw, int64_t y_stride) const {
  const OutputActivation activation = raw ? OutputActivation{} : activation_;
  // The output transform reads the residual and stores the output with one pixel stride.
  if (y_stride == 0 || residual) y_stride = out_channels_;
  if (tiles_ == 0) return;
  const int64_t parallel = threads ? threads->num_threads() : 1;
  // Few tiles (the last layers of a CNN): split over output channels too; consecutive units share their
  // channel group, so a thread's contiguous share of them reuses the same transformed weights.
  const int64_t groups = std::min(blocks_, std::max<int64_t>(1, (4 * parallel + tile_blocks_ - 1) / tile_blocks_));
  const int64_t units = tile_blocks_ * groups;
  const int64_t slices = parallel > 1 ? std::min({units, slices_, 4 * parallel}) : 1;
  float* base = static_cast<float*>(scratch);
  // Each slice owns its scratch, whichever thread runs it.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      float* own = base + static_cast<size_t>(s) * slice_floats_;
      for (int64_t u = s * units / slices; u < (s + 1) * units / slices; ++u)
        run_unit(x, y, y_stride, residual, activation, own, u % tile_blocks_, u / tile_blocks_, groups);
    }
  };
  if (slices > 1) threads->parallel_for(slices, 1, work);
  else work(0, 1);
}

}  // namespace edgerun
