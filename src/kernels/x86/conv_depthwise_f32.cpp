#include "kernels/x86/conv_depthwise_f32.h"
#include "kernels/x86/cpu_features.h"

#include <algorithm>

#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define EDGERUN_DEPTHWISE_AVX2 1
#include "kernels/x86/float_vectors.h"
#endif

namespace edgerun {
namespace {

constexpr int kPixels = 8;     // output pixels per step (8 accumulators; the kernel row's weights fit beside them)
// Below this many multiply-adds a convolution runs on the calling thread: waking the pool costs more.
constexpr int64_t kMinParallelFmas = int64_t{1} << 15;

// The compiled kernels: kernel width and stride known at compile time, or neither (any width and stride).
enum Variant { kAny = 0, kK3S1, kK3S2, kK5S1, kK5S2 };

// Output pixels of one row, channel groups [0, groups) from each pointer.
struct Run {
  const float* in;    // input at the first kernel row read, column 0
  int64_t first_col;  // input column the first pixel's kernel starts at (negative in the left padding)
  int64_t in_cols;    // input columns (width)
  int64_t in_pixel;   // input floats from one column to the next (all channels)
  int64_t in_row;     // input floats from one row to the next
  const float* w;    // packed weights at the first kernel row and column read
  int64_t w_group;   // packed floats per channel group (taps x lanes)
  int64_t w_row;     // packed floats per kernel row (kernel_w x lanes)
  const float* bias;
  const float* res;  // residual (laid out like out) at the first pixel, or null
  float* out;
  int64_t out_pixel;  // output (and residual) floats per pixel
  int64_t pixels, groups;
  int64_t tail;         // channels in the last group (1 to lanes)
  int64_t kernel_rows;  // kernel rows read
  int64_t kernel_cols;  // kernel columns read (the kAny kernel)
  int64_t stride;       // input columns from one output pixel to the next (the kAny kernel)
};

#ifdef EDGERUN_DEPTHWISE_AVX2
namespace avx2 {
using Vec = Ymm;
#define EDGERUN_DW_TARGET "avx2,fma"
#include "kernels/x86/conv_depthwise_f32_steps.inc"
#undef EDGERUN_DW_TARGET
}  // namespace avx2

namespace avx512 {
using Vec = Zmm;
#define EDGERUN_DW_TARGET EDGERUN_AVX512_TARGET
#include "kernels/x86/conv_depthwise_f32_steps.inc"
#undef EDGERUN_DW_TARGET
}  // namespace avx512

// The steps of one vector width: 16 channels (AVX-512) or 8.
void run_pixels(int64_t lanes, int variant, const Run& r, const OutputActivation& activation) {
  if (lanes == Zmm::kLanes) avx512::run_pixels(variant, r, activation);
  else avx2::run_pixels(variant, r, activation);
}
#endif  // EDGERUN_DEPTHWISE_AVX2

// [begin, end) of kernel positions k < kernel with in_begin + k inside [0, size); empty ranges start at 0.
void inside_range(int64_t in_begin, int64_t kernel, int64_t size, int64_t& begin, int64_t& end) {
  begin = std::clamp<int64_t>(-in_begin, 0, kernel);
  end = std::clamp<int64_t>(size - in_begin, 0, kernel);
  if (end <= begin) begin = end = 0;
}

}  // namespace

bool ConvDepthwiseF32::supported() { return cpu_has_avx2_fma(); }

void ConvDepthwiseF32::pack(const float* weights, const float* bias, int64_t channels, int64_t kernel_h,
                            int64_t kernel_w, const OutputActivation& activation) {
  channels_ = channels;
  lanes_ = cpu_has_avx512() ? 16 : 8;
  kernel_h_ = kernel_h;
  kernel_w_ = kernel_w;
  groups_ = (channels + lanes_ - 1) / lanes_;
  const int64_t taps = kernel_h * kernel_w;
  packed_.resize(static_cast<size_t>(groups_ * taps * lanes_));
  float* dst = packed_.data();
  for (int64_t g = 0; g < groups_; ++g)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t lane = 0; lane < lanes_; ++lane) {
        const int64_t c = g * lanes_ + lane;
        *dst++ = c < channels ? weights[c * taps + t] : 0.f;
      }
  bias_.assign(static_cast<size_t>(groups_ * lanes_), 0.f);
  if (bias) std::copy(bias, bias + channels, bias_.begin());
  activation_ = activation;
}

void ConvDepthwiseF32::set_geometry(const ConvNhwcGeometry& geometry) {
  const ConvNhwcGeometry& g = geometry_ = geometry;
  variant_ = kAny;
  if (kernel_w_ == 3 && g.stride_w == 1) variant_ = kK3S1;
  if (kernel_w_ == 3 && g.stride_w == 2) variant_ = kK3S2;
  if (kernel_w_ == 5 && g.stride_w == 1) variant_ = kK5S1;
  if (kernel_w_ == 5 && g.stride_w == 2) variant_ = kK5S2;

  // Columns with the whole kernel inside the image are contiguous (both bounds move one way).
  edge_columns_.clear();
  inner_begin_ = inner_end_ = 0;
  bool inner_seen = false;
  for (int64_t ow = 0; ow < g.out_w; ++ow) {
    const int64_t iw = ow * g.stride_w - g.pad_left;
    int64_t kw_begin, kw_end;
    inside_range(iw, kernel_w_, g.in_w, kw_begin, kw_end);
    if (kw_begin == 0 && kw_end == kernel_w_) {
      if (!inner_seen) inner_begin_ = ow;
      inner_seen = true;
      inner_end_ = ow + 1;
    } else {
      edge_columns_.push_back({ow, kw_end > kw_begin ? iw + kw_begin : 0, kw_begin, kw_end});
    }
  }
  row_kh_begin_.resize(static_cast<size_t>(g.out_h));
  row_kh_end_.resize(static_cast<size_t>(g.out_h));
  for (int64_t oh = 0; oh < g.out_h; ++oh)
    inside_range(oh * g.stride_h - g.pad_top, kernel_h_, g.in_h, row_kh_begin_[oh], row_kh_end_[oh]);
  serial_ = g.batch * g.out_h * g.out_w * groups_ * lanes_ * kernel_h_ * kernel_w_ < kMinParallelFmas;
}

void ConvDepthwiseF32::run_rows(const float* x, int64_t x_first_row, float* y, int64_t row_begin,
                                int64_t row_end) const {
  for (int64_t row = row_begin; row < row_end; ++row) run_row(x, x_first_row, y, nullptr, activation_, row, 0, groups_);
}

void ConvDepthwiseF32::run_row(const float* x, int64_t x_first_row, float* y, const float* residual,
                               const OutputActivation& activation, int64_t row, int64_t group_begin,
                               int64_t group_end) const {
#ifdef EDGERUN_DEPTHWISE_AVX2
  const ConvNhwcGeometry& g = geometry_;
  const int64_t c = channels_, n = row / g.out_h, oh = row % g.out_h;
  const int64_t kh_begin = row_kh_begin_[oh];
  int64_t ih = 0, rows = 0;
  input_rows(oh, ih, rows);
  const int64_t first = group_begin * lanes_;  // first channel
  const int64_t out_row = row * g.out_w * c + first;
  Run r;
  // A row whose kernel rows all fall in the padding reads nothing (its outputs are the bias).
  r.in = rows > 0 ? x + (n * g.in_h + ih - x_first_row) * g.in_w * c + first : x;
  r.in_cols = g.in_w;
  r.in_pixel = c;
  r.in_row = g.in_w * c;
  r.w_group = kernel_h_ * kernel_w_ * lanes_;
  r.w_row = kernel_w_ * lanes_;
  r.w = packed_.data() + group_begin * r.w_group + kh_begin * r.w_row;
  r.bias = bias_.data() + first;
  r.out_pixel = c;
  r.groups = group_end - group_begin;
  r.tail = group_end == groups_ ? c - (groups_ - 1) * lanes_ : lanes_;
  r.kernel_rows = rows;
  r.kernel_cols = kernel_w_;
  r.stride = g.stride_w;
  auto at_column = [&](int64_t ow) {
    r.res = residual ? residual + out_row + ow * c : nullptr;
    r.out = y + out_row + ow * c;
  };
  if (variant_ != kAny) {  // the whole row: its steps skip the columns in the padding
    r.first_col = -g.pad_left;
    r.pixels = g.out_w;
    at_column(0);
    run_pixels(lanes_, variant_, r, activation);
    return;
  }
  if (inner_end_ > inner_begin_) {
    r.first_col = inner_begin_ * g.stride_w - g.pad_left;
    r.pixels = inner_end_ - inner_begin_;
    at_column(inner_begin_);
    run_pixels(lanes_, variant_, r, activation);
  }
  // Edge columns one at a time, reading only the kernel columns inside the image.
  for (const EdgeColumn& e : edge_columns_) {
    Run p = r;
    p.first_col = e.in_col;
    p.w = r.w + e.kw_begin * lanes_;
    p.kernel_cols = e.kw_end - e.kw_begin;
    p.pixels = 1;
    at_column(e.out_col);
    p.res = r.res;
    p.out = r.out;
    run_pixels(lanes_, kAny, p, activation);
  }
#else
  (void)x, (void)x_first_row, (void)y, (void)residual, (void)activation, (void)row, (void)group_begin,
      (void)group_end;
#endif
}

void ConvDepthwiseF32::run(const float* x, float* y, void*, ThreadPool* threads, const float* residual,
                           bool raw) const {
  const OutputActivation activation = raw ? OutputActivation{} : activation_;
  const int64_t rows = geometry_.batch * geometry_.out_h;
  const int64_t parallel = threads && !serial_ ? threads->num_threads() : 1;
  // Few rows (the small late layers) are split over channel groups too, so that every thread has work;
  // consecutive work items are the channel groups of one row, then the next row (its input rows mostly
  // shared).
  const int64_t splits = parallel > 1 ? std::min(groups_, std::max<int64_t>(1, (4 * parallel + rows - 1) / rows)) : 1;
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t split = u % splits;
      run_row(x, 0, y, residual, activation, u / splits, split * groups_ / splits, (split + 1) * groups_ / splits);
    }
  };
  if (parallel > 1) threads->parallel_for(rows * splits, 1, work);
  else work(0, rows * splits);
}

}  // namespace edgerun
