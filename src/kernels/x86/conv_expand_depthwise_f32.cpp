#include "kernels/x86/conv_expand_depthwise_f32.h"

#include <algorithm>
#include <thread>

#include "kernels/x86/band_rows.h"
#include "runtime/thread_pool.h"

namespace edgerun {
namespace {

// Expanded rows a band aims to hold: with the band's input and output rows this stays within a 1 MB L2.
constexpr int64_t kBandBytes = 384 << 10;
// Below this many bytes of expanded image the two layers' traffic stays in the caches anyway, and the
// bands only add work (rows computed twice where slices meet): the layers run whole, one after the other.
constexpr int64_t kBandedMinBytes = 2 << 20;

}  // namespace

void ConvExpandDepthwiseF32::pack(const float* expand_weights, const float* expand_bias, int64_t channels,
                                  int64_t expanded, const OutputActivation& expand_activation,
                                  const float* depthwise_weights, const float* depthwise_bias, int64_t kernel_h,
                                  int64_t kernel_w, const OutputActivation& depthwise_activation) {
  channels_ = channels;
  expanded_ = expanded;
  kernel_h_ = kernel_h;
  expand_.pack(expand_weights, expand_bias, expanded, channels, 1, 1, expand_activation);
  depthwise_.pack(depthwise_weights, depthwise_bias, expanded, kernel_h, kernel_w, depthwise_activation);
}

void ConvExpandDepthwiseF32::set_geometry(const ConvNhwcGeometry& geometry) {
  const ConvNhwcGeometry& g = geometry_ = geometry;
  expand_.set_geometry({g.batch, g.in_h, g.in_w, g.in_h, g.in_w, 1, 1, 1, 1, 0, 0});
  depthwise_.set_geometry(g);
  const int64_t row_bytes = std::max<int64_t>(1, g.in_w * expanded_ * static_cast<int64_t>(sizeof(float)));
  const int64_t budget_rows = std::max(kernel_h_, kBandBytes / row_bytes);
  band_rows_ = std::clamp<int64_t>((budget_rows - kernel_h_) / std::max<int64_t>(g.stride_h, 1) + 1, 1,
                                   std::max<int64_t>(g.out_h, 1));
  // A band starts anywhere (slices split the rows evenly), so this bounds what any band reads.
  band_input_rows_ = std::min(g.in_h, (band_rows_ - 1) * g.stride_h + kernel_h_);
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  slices_ = std::min<int64_t>(2 * hw, 32);
  banded_ = g.in_h * row_bytes >= kBandedMinBytes;
}

namespace {
int64_t slice_floats(int64_t rows, int64_t row_floats) { return (rows * row_floats + 15) / 16 * 16; }
}  // namespace

size_t ConvExpandDepthwiseF32::scratch_bytes() const {
  const int64_t row_floats = geometry_.in_w * expanded_;
  const int64_t floats = banded_ ? slices_ * slice_floats(band_input_rows_, row_floats)
                                 : geometry_.batch * geometry_.in_h * row_floats;
  return static_cast<size_t>(floats) * sizeof(float);
}

void ConvExpandDepthwiseF32::run_slice(const float* x, float* y, float* rows, int64_t row_begin,
                                       int64_t row_end) const {
  const ConvNhwcGeometry& g = geometry_;
  const int64_t row_floats = g.in_w * expanded_;
  BandRows held;  // the expanded rows (over batch x in_h) now in `rows`
  for (int64_t r = row_begin; r < row_end;) {
    const int64_t n = r / g.out_h, oh0 = r % g.out_h;
    const int64_t oh1 = std::min({g.out_h, oh0 + band_rows_, oh0 + row_end - r});
    int64_t lo = g.in_h, hi = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      int64_t first = 0, count = 0;
      depthwise_.input_rows(oh, first, count);
      if (count > 0) lo = std::min(lo, first), hi = std::max(hi, first + count);
    }
    if (hi > lo)
      held.hold(rows, row_floats, n * g.in_h + lo, hi - lo, [&](int64_t begin, int64_t end, float* dst) {
        expand_.run_pixels(x, dst, begin * g.in_w, end * g.in_w);
      });
    depthwise_.run_rows(rows, held.first, y, r, r + (oh1 - oh0));
    r += oh1 - oh0;
  }
}

void ConvExpandDepthwiseF32::run(const float* x, float* y, void* scratch, ThreadPool* threads) const {
  const int64_t rows = geometry_.batch * geometry_.out_h;
  if (rows == 0 || geometry_.out_w == 0) return;
  float* base = static_cast<float*>(scratch);
  if (!banded_) {
    expand_.run(x, base, nullptr, threads);
    depthwise_.run(base, y, nullptr, threads);
    return;
  }
  const int64_t parallel = threads ? threads->num_threads() : 1;
  // Two slices a thread: each slice computes the rows where it meets the next again.
  const int64_t slices = parallel > 1 ? std::min({rows, slices_, 2 * parallel}) : 1;
  const int64_t floats = slice_floats(band_input_rows_, geometry_.in_w * expanded_);
  // Slices in row order, each with its own scratch whichever thread runs it: a thread's home share is
  // the rows the layer before wrote on it.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s)
      run_slice(x, y, base + s * floats, s * rows / slices, (s + 1) * rows / slices);
  };
  if (slices > 1) threads->parallel_for(slices, 1, work);
  else work(0, 1);
}

}  // namespace edgerun
