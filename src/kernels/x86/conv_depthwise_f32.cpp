#include "kernels/x86/conv_depthwise_f32.h"
#include "kernels/x86/cpu_features.h"

#include <algorithm>

#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define EDGERUN_DEPTHWISE_AVX2 1
#include <immintrin.h>
#endif

namespace edgerun {
namespace {

constexpr int64_t kGroup = 8;  // channels per vector
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
  int64_t w_group;   // packed floats per channel group (taps x 8)
  int64_t w_row;     // packed floats per kernel row (kernel_w x 8)
  const float* bias;
  const float* res;  // residual (laid out like out) at the first pixel, or null
  float* out;
  int64_t out_pixel;  // output (and residual) floats per pixel
  int64_t pixels, groups;
  int64_t tail;         // channels in the last group (1 to 8)
  int64_t kernel_rows;  // kernel rows read
  int64_t kernel_cols;  // kernel columns read (the kAny kernel)
  int64_t stride;       // input columns from one output pixel to the next (the kAny kernel)
};

#ifdef EDGERUN_DEPTHWISE_AVX2
#define EDGERUN_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

// -1 then 0: the 8 lanes at kLaneMask + 8 - n set the first n of them.
alignas(64) constexpr int32_t kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// In a group cut short by the last channel, loads and stores are masked: reading the next pixel's
// channels would be harmless times a zero weight, except past the end of the tensor or where a value
// is infinite.
template <bool Tail>
EDGERUN_AVX2_INLINE __m256 load(const float* p, __m256i mask) {
  return Tail ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

// acc[j] += v * w[I - j * S] for every pixel j whose kernel reads input column I.
template <int P, int KW, int S, int I, int J = 0>
EDGERUN_AVX2_INLINE void add_column(__m256 (&acc)[P], __m256 v, const __m256 (&w)[KW]) {
  if constexpr (J < P) {
    constexpr int kw = I - J * S;
    if constexpr (kw >= 0 && kw < KW) acc[J] = _mm256_fmadd_ps(v, w[kw], acc[J]);
    add_column<P, KW, S, I, J + 1>(acc, v, w);
  }
}

// One kernel row for P pixels: each of the (P - 1) * S + KW input columns is loaded once, from `in` on.
// With Edge only columns [lo, hi) are inside the image (`in` is column lo); the others are padding and
// add nothing.
template <int P, int KW, int S, bool Tail, bool Edge, int I = 0>
EDGERUN_AVX2_INLINE void add_row(__m256 (&acc)[P], const float* in, int64_t in_pixel, const __m256 (&w)[KW],
                                 __m256i mask, int lo, int hi) {
  if constexpr (I < (P - 1) * S + KW) {
    if (!Edge) add_column<P, KW, S, I>(acc, load<Tail>(in + I * in_pixel, mask), w);
    else if (I >= lo && I < hi) add_column<P, KW, S, I>(acc, load<Tail>(in + (I - lo) * in_pixel, mask), w);
    add_row<P, KW, S, Tail, Edge, I + 1>(acc, in, in_pixel, w, mask, lo, hi);
  }
}

// acc[j] += one kernel row of pixel j: in[j * stride + kw * in_pixel] * w[kw * 8] over the kernel
// columns read. KW, S: kernel width and stride, or 0 for r.kernel_cols and r.stride.
template <int P, int KW, int S, bool Tail, bool Edge>
EDGERUN_AVX2_INLINE void add_kernel_row(__m256 (&acc)[P], const Run& r, const float* in, const float* w,
                                        __m256i mask, int lo, int hi) {
  if constexpr (KW > 0) {
    __m256 wk[KW];
    for (int kw = 0; kw < KW; ++kw) wk[kw] = _mm256_loadu_ps(w + kw * kGroup);
    add_row<P, KW, S, Tail, Edge>(acc, in, r.in_pixel, wk, mask, lo, hi);
  } else {
    const int64_t in_pixel = r.in_pixel, step = r.stride * in_pixel;
    for (int64_t kw = 0; kw < r.kernel_cols; ++kw) {
      const __m256 wk = _mm256_loadu_ps(w + kw * kGroup);
      const float* p = in + kw * in_pixel;
      for (int j = 0; j < P; ++j) acc[j] = _mm256_fmadd_ps(load<Tail>(p + j * step, mask), wk, acc[j]);
    }
  }
}

template <OutputActivation::Function F, bool Tail>
EDGERUN_AVX2_INLINE void finish_pixels(const __m256* sums, int count, const float* res, float* out,
                                       int64_t out_pixel, const OutputActivation& act, __m256i mask) {
  const __m256 lo = _mm256_set1_ps(act.min), hi = _mm256_set1_ps(act.max);
  for (int j = 0; j < count; ++j, out += out_pixel) {
    __m256 v = sums[j];
    if (res) v = _mm256_add_ps(v, load<Tail>(res + j * out_pixel, mask));
    if (F == OutputActivation::Function::kSilu) v = silu_avx2(v);
    if (F == OutputActivation::Function::kHardSwish) v = hard_swish_avx2(v);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    if (Tail) _mm256_maskstore_ps(out, mask, v);
    else _mm256_storeu_ps(out, v);
  }
}

// out[j] = act(sums[j] + res[j]) for j < count pixels (out_pixel floats apart), the first `lanes` channels,
// for SiLU and HardSwish: out of line, since their code is long and their arithmetic outweighs a call.
__attribute__((target("avx2,fma"), noinline)) void finish_function(const __m256* sums, int count, const float* res,
                                                                   float* out, int64_t out_pixel,
                                                                   const OutputActivation& act, int64_t lanes) {
  using F = OutputActivation::Function;
  const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + kGroup - lanes));
  const bool tail = lanes < kGroup;
  if (act.function == F::kSilu) {
    if (tail) finish_pixels<F::kSilu, true>(sums, count, res, out, out_pixel, act, mask);
    else finish_pixels<F::kSilu, false>(sums, count, res, out, out_pixel, act, mask);
  } else {
    if (tail) finish_pixels<F::kHardSwish, true>(sums, count, res, out, out_pixel, act, mask);
    else finish_pixels<F::kHardSwish, false>(sums, count, res, out, out_pixel, act, mask);
  }
}

// out[j] = act(sums[j] + res[j]) for the P pixels of a tile; a clamp alone inline.
template <int P, bool Tail>
EDGERUN_AVX2_INLINE void finish(const __m256 (&sums)[P], const float* res, float* out, int64_t out_pixel,
                                const OutputActivation& act, __m256i mask, int64_t lanes) {
  if (act.function == OutputActivation::Function::kNone) {
    finish_pixels<OutputActivation::Function::kNone, Tail>(sums, P, res, out, out_pixel, act, mask);
  } else {
    __m256 copy[P];  // the call takes an address: of a copy, so that the sums themselves stay in registers
    for (int j = 0; j < P; ++j) copy[j] = sums[j];
    finish_function(copy, P, res, out, out_pixel, act, lanes);
  }
}

// P pixels x 8 channels: out[j] = act(bias + sum over the kernel rows and columns read of
// in[j * stride + kh * in_row + kw * in_pixel] * w[kh * w_row + kw * 8] + res[j]).
template <int P, int KW, int S, bool Tail, bool Edge>
EDGERUN_AVX2_INLINE void tile(const Run& r, const float* in, const float* w, const float* bias, const float* res,
                              float* out, const OutputActivation& act, __m256i mask, int lo, int hi) {
  __m256 acc[P];
  const __m256 b = _mm256_loadu_ps(bias);
  for (int j = 0; j < P; ++j) acc[j] = b;
  int64_t kh = 0;
  if constexpr (P <= 4) {
    // Few pixels are few chains of dependent multiply-adds: even and odd kernel rows go to separate
    // sums, so that twice as many are in flight.
    __m256 odd[P];
    for (int j = 0; j < P; ++j) odd[j] = _mm256_setzero_ps();
    for (; kh + 1 < r.kernel_rows; kh += 2, in += 2 * r.in_row, w += 2 * r.w_row) {
      add_kernel_row<P, KW, S, Tail, Edge>(acc, r, in, w, mask, lo, hi);
      add_kernel_row<P, KW, S, Tail, Edge>(odd, r, in + r.in_row, w + r.w_row, mask, lo, hi);
    }
    for (int j = 0; j < P; ++j) acc[j] = _mm256_add_ps(acc[j], odd[j]);
  }
  for (; kh < r.kernel_rows; ++kh, in += r.in_row, w += r.w_row)
    add_kernel_row<P, KW, S, Tail, Edge>(acc, r, in, w, mask, lo, hi);
  finish<P, Tail>(acc, res, out, r.out_pixel, act, mask, Tail ? r.tail : kGroup);
}

// One pixel x G whole channel groups (the edge columns of the kAny kernel): G independent chains of
// multiply-adds.
template <int G>
EDGERUN_AVX2_INLINE void pixel_groups(const Run& r, const float* in, const float* w, const float* bias,
                                      const float* res, float* out, const OutputActivation& act) {
  __m256 acc[G];
  for (int g = 0; g < G; ++g) acc[g] = _mm256_loadu_ps(bias + g * kGroup);
  for (int64_t kh = 0; kh < r.kernel_rows; ++kh, in += r.in_row, w += r.w_row)
    for (int64_t kw = 0; kw < r.kernel_cols; ++kw)
      for (int g = 0; g < G; ++g)
        acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(in + kw * r.in_pixel + g * kGroup),
                                 _mm256_loadu_ps(w + kw * kGroup + g * r.w_group), acc[g]);
  // Channel groups are 8 floats apart: G groups of one pixel are G "pixels" 8 floats apart.
  finish<G, false>(acc, res, out, kGroup, act, _mm256_setzero_si256(), kGroup);
}

// P pixels from `in` (the first input column read), every channel group (the input of the step stays in
// L1 for all of them).
template <int P, int KW, int S, bool Edge>
EDGERUN_AVX2_INLINE void step_groups(const Run& r, const float* in, int64_t first, const OutputActivation& act,
                                     __m256i mask, int lo, int hi) {
  const float* res = r.res ? r.res + first * r.out_pixel : nullptr;
  float* out = r.out + first * r.out_pixel;
  const int64_t last = r.groups - 1;
  int64_t g = 0;
  if constexpr (P == 1 && KW == 0) {
    constexpr int kGroups = 4;
    for (; g + kGroups <= last; g += kGroups)
      pixel_groups<kGroups>(r, in + g * kGroup, r.w + g * r.w_group, r.bias + g * kGroup,
                            res ? res + g * kGroup : nullptr, out + g * kGroup, act);
  }
  for (; g < last; ++g)
    tile<P, KW, S, false, Edge>(r, in + g * kGroup, r.w + g * r.w_group, r.bias + g * kGroup,
                                res ? res + g * kGroup : nullptr, out + g * kGroup, act, mask, lo, hi);
  const float* last_res = res ? res + last * kGroup : nullptr;
  if (r.tail == kGroup)
    tile<P, KW, S, false, Edge>(r, in + last * kGroup, r.w + last * r.w_group, r.bias + last * kGroup, last_res,
                                out + last * kGroup, act, mask, lo, hi);
  else
    tile<P, KW, S, true, Edge>(r, in + last * kGroup, r.w + last * r.w_group, r.bias + last * kGroup, last_res,
                               out + last * kGroup, act, mask, lo, hi);
}

// P pixels from pixel `first`. For the compiled widths, a step that reaches into the left or right
// padding reads only its input columns inside the image.
// Out of line: one function per pixel count keeps each one small enough to compile quickly (inlined
// into run_pixels they made one function of every variant, slow to build under the sanitizers).
template <int P, int KW, int S>
__attribute__((target("avx2,fma"), noinline)) void step(const Run& r, int64_t first, const OutputActivation& act,
                                                        __m256i mask) {
  const int64_t column = r.first_col + first * (S > 0 ? S : r.stride);  // input column of the first pixel
  if constexpr (KW > 0) {
    constexpr int kColumns = (P - 1) * S + KW;
    const int lo = static_cast<int>(std::clamp<int64_t>(-column, 0, kColumns));
    const int hi = static_cast<int>(std::clamp<int64_t>(r.in_cols - column, lo, kColumns));
    if (lo > 0 || hi < kColumns) {
      const float* in = lo < hi ? r.in + (column + lo) * r.in_pixel : r.in;  // nothing read when empty
      step_groups<P, KW, S, true>(r, in, first, act, mask, lo, hi);
      return;
    }
  }
  step_groups<P, KW, S, false>(r, r.in + column * r.in_pixel, first, act, mask, 0, 0);
}

template <int KW, int S>
__attribute__((target("avx2,fma"))) void run_pixels(const Run& r, const OutputActivation& act) {
  const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + kGroup - r.tail));
  int64_t j = 0;
  for (; j + kPixels <= r.pixels; j += kPixels) step<kPixels, KW, S>(r, j, act, mask);
  // The rest in one step (a few narrower steps would reload the weights and the shared columns).
  switch (r.pixels - j) {
    case 7: step<7, KW, S>(r, j, act, mask); break;
    case 6: step<6, KW, S>(r, j, act, mask); break;
    case 5: step<5, KW, S>(r, j, act, mask); break;
    case 4: step<4, KW, S>(r, j, act, mask); break;
    case 3: step<3, KW, S>(r, j, act, mask); break;
    case 2: step<2, KW, S>(r, j, act, mask); break;
    case 1: step<1, KW, S>(r, j, act, mask); break;
    default: break;
  }
}

void run_pixels(int variant, const Run& r, const OutputActivation& activation) {
  switch (variant) {
    case kK3S1: run_pixels<3, 1>(r, activation); break;
    case kK3S2: run_pixels<3, 2>(r, activation); break;
    case kK5S1: run_pixels<5, 1>(r, activation); break;
    case kK5S2: run_pixels<5, 2>(r, activation); break;
    default: run_pixels<0, 0>(r, activation); break;
  }
}

#undef EDGERUN_AVX2_INLINE
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
  kernel_h_ = kernel_h;
  kernel_w_ = kernel_w;
  groups_ = (channels + kGroup - 1) / kGroup;
  const int64_t taps = kernel_h * kernel_w;
  packed_.resize(static_cast<size_t>(groups_ * taps * kGroup));
  float* dst = packed_.data();
  for (int64_t g = 0; g < groups_; ++g)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t lane = 0; lane < kGroup; ++lane) {
        const int64_t c = g * kGroup + lane;
        *dst++ = c < channels ? weights[c * taps + t] : 0.f;
      }
  bias_.assign(static_cast<size_t>(groups_ * kGroup), 0.f);
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
  serial_ = g.batch * g.out_h * g.out_w * groups_ * kGroup * kernel_h_ * kernel_w_ < kMinParallelFmas;
}

void ConvDepthwiseF32::run_row(const float* x, float* y, const float* residual, const OutputActivation& activation,
                               int64_t row, int64_t group_begin, int64_t group_end) const {
#ifdef EDGERUN_DEPTHWISE_AVX2
  const ConvNhwcGeometry& g = geometry_;
  const int64_t c = channels_, n = row / g.out_h, oh = row % g.out_h;
  const int64_t kh_begin = row_kh_begin_[oh], rows = row_kh_end_[oh] - kh_begin;
  const int64_t ih = rows > 0 ? oh * g.stride_h - g.pad_top + kh_begin : 0;
  const int64_t first = group_begin * kGroup;  // first channel
  const int64_t out_row = row * g.out_w * c + first;
  Run r;
  r.in = x + (n * g.in_h + ih) * g.in_w * c + first;
  r.in_cols = g.in_w;
  r.in_pixel = c;
  r.in_row = g.in_w * c;
  r.w_group = kernel_h_ * kernel_w_ * kGroup;
  r.w_row = kernel_w_ * kGroup;
  r.w = packed_.data() + group_begin * r.w_group + kh_begin * r.w_row;
  r.bias = bias_.data() + first;
  r.out_pixel = c;
  r.groups = group_end - group_begin;
  r.tail = group_end == groups_ ? c - (groups_ - 1) * kGroup : kGroup;
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
    run_pixels(variant_, r, activation);
    return;
  }
  if (inner_end_ > inner_begin_) {
    r.first_col = inner_begin_ * g.stride_w - g.pad_left;
    r.pixels = inner_end_ - inner_begin_;
    at_column(inner_begin_);
    run_pixels(variant_, r, activation);
  }
  // Edge columns one at a time, reading only the kernel columns inside the image.
  for (const EdgeColumn& e : edge_columns_) {
    Run p = r;
    p.first_col = e.in_col;
    p.w = r.w + e.kw_begin * kGroup;
    p.kernel_cols = e.kw_end - e.kw_begin;
    p.pixels = 1;
    at_column(e.out_col);
    p.res = r.res;
    p.out = r.out;
    run_pixels(kAny, p, activation);
  }
#else
  (void)x, (void)y, (void)residual, (void)activation, (void)row, (void)group_begin, (void)group_end;
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
      run_row(x, y, residual, activation, u / splits, split * groups_ / splits, (split + 1) * groups_ / splits);
    }
  };
  if (parallel > 1) threads->parallel_for(rows * splits, 1, work);
  else work(0, rows * splits);
}

}  // namespace edgerun
