#include "kernels/x86/conv_max_pool_f32.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "kernels/x86/band_rows.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define EDGERUN_MAX_POOL_AVX2 1
#include "kernels/x86/float_vectors.h"
#endif

namespace edgerun {
namespace {

// Convolution rows a band aims to hold: with the band's input rows and pooled rows this stays well
// within a 1 MB L2.
constexpr int64_t kBandBytes = 256 << 10;

#ifdef EDGERUN_MAX_POOL_AVX2
namespace avx2 {
using Vec = Ymm;
#define EDGERUN_POOL_TARGET "avx2,fma"
#include "kernels/x86/max_pool_row_f32.inc"
#undef EDGERUN_POOL_TARGET
}  // namespace avx2

namespace avx512 {
using Vec = Zmm;
#define EDGERUN_POOL_TARGET EDGERUN_AVX512_TARGET
#include "kernels/x86/max_pool_row_f32.inc"
#undef EDGERUN_POOL_TARGET
}  // namespace avx512
#endif

int64_t slice_floats(int64_t rows, int64_t row_floats) { return (rows * row_floats + 15) / 16 * 16; }

}  // namespace

void ConvMaxPoolF32::pack(const float* weights, const float* bias, int64_t out_channels, int64_t channels,
                          int64_t kernel_h, int64_t kernel_w, const OutputActivation& activation) {
  out_channels_ = out_channels;
  conv_.pack(weights, bias, out_channels, channels, kernel_h, kernel_w, activation);
}

void ConvMaxPoolF32::set_geometry(const ConvNhwcGeometry& conv, const MaxPoolGeometry& pool) {
  conv_geometry_ = conv;
  pool_ = pool;
  conv_.set_geometry(conv);
  const int64_t row_bytes = std::max<int64_t>(1, conv.out_w * out_channels_ * static_cast<int64_t>(sizeof(float)));
  const int64_t window_rows = (pool.kernel_h - 1) * pool.dilation_h + 1;
  const int64_t budget_rows = std::max(window_rows, kBandBytes / row_bytes);
  band_rows_ = std::clamp<int64_t>((budget_rows - window_rows) / std::max<int64_t>(pool.stride_h, 1) + 1, 1,
                                   std::max<int64_t>(pool.out_h, 1));
  // A band starts anywhere (slices split the rows evenly), so this bounds what any band reads.
  band_conv_rows_ = std::min(conv.out_h, (band_rows_ - 1) * pool.stride_h + window_rows);
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  slices_ = std::min<int64_t>(2 * hw, 32);
  conv_scratch_ = (conv_.scratch_bytes() + 63) / 64 * 64;
}

size_t ConvMaxPoolF32::scratch_bytes() const {
  return conv_scratch_ +
         static_cast<size_t>(slices_ * slice_floats(band_conv_rows_, conv_geometry_.out_w * out_channels_)) *
             sizeof(float);
}

void ConvMaxPoolF32::run_slice(const float* x, float* y, float* rows, int64_t row_begin, int64_t row_end) const {
#ifdef EDGERUN_MAX_POOL_AVX2
  const ConvNhwcGeometry& g = conv_geometry_;
  const MaxPoolGeometry& p = pool_;
  const int64_t row_floats = g.out_w * out_channels_;
  const auto pool_row = cpu_has_avx512() ? avx512::max_pool_row : avx2::max_pool_row;
  const float* window[64];  // the window's rows inside the image (the pool's kernel height is at most 64)
  BandRows held;  // the convolution rows (over batch x out_h) now in `rows`
  for (int64_t r = row_begin; r < row_end;) {
    const int64_t n = r / p.out_h, ph0 = r % p.out_h;
    const int64_t ph1 = std::min({p.out_h, ph0 + band_rows_, ph0 + row_end - r});
    const int64_t lo = std::max<int64_t>(0, ph0 * p.stride_h - p.pad_top);
    const int64_t hi = std::min(g.out_h, (ph1 - 1) * p.stride_h - p.pad_top + (p.kernel_h - 1) * p.dilation_h + 1);
    if (hi > lo)
      held.hold(rows, row_floats, n * g.out_h + lo, hi - lo, [&](int64_t begin, int64_t end, float* dst) {
        conv_.run_pixels(x, dst, begin * g.out_w, end * g.out_w);
      });
    for (int64_t ph = ph0; ph < ph1; ++ph) {
      int64_t count = 0;
      for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
        const int64_t h = ph * p.stride_h - p.pad_top + kh * p.dilation_h;
        if (h >= 0 && h < g.out_h) window[count++] = rows + (n * g.out_h + h - held.first) * row_floats;
      }
      pool_row(window, count, g.out_w, out_channels_, p, y + (n * p.out_h + ph) * p.out_w * out_channels_);
    }
    r += ph1 - ph0;
  }
#else
  (void)x, (void)y, (void)rows, (void)row_begin, (void)row_end;
#endif
}

void ConvMaxPoolF32::run(const float* x, float* y, void* scratch, ThreadPool* threads) const {
  const int64_t rows = conv_geometry_.batch * pool_.out_h;
  if (rows == 0 || pool_.out_w == 0) return;
  // The padded copy of a few-channel input (the stems), made over all threads first.
  const float* in = conv_.pixels_input(x, scratch, threads);
  float* base = reinterpret_cast<float*>(static_cast<char*>(scratch) + conv_scratch_);
  const int64_t parallel = threads ? threads->num_threads() : 1;
  // Two slices a thread: each slice computes the rows where it meets the next again.
  const int64_t slices = parallel > 1 ? std::min({rows, slices_, 2 * parallel}) : 1;
  const int64_t floats = slice_floats(band_conv_rows_, conv_geometry_.out_w * out_channels_);
  // Slices in row order, each with its own scratch whichever thread runs it: a thread's home share is
  // the rows whose input it wrote.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) run_slice(in, y, base + s * floats, s * rows / slices, (s + 1) * rows / slices);
  };
  if (slices > 1) threads->parallel_for(slices, 1, work);
  else work(0, 1);
}

}  // namespace edgerun
