// edgerun.ChannelShuffle: Reshape(view) -> Transpose(perm 0,2,1,3,4) -> Reshape(shape) as one op, written
// by the FuseChannelShuffle pass. view and shape are the two Reshapes' targets (ONNX rules: 0 copies a
// dimension, -1 is inferred). With channels_last = 0 the data is as ONNX has it and any target shapes
// work: the result is a reordering of runs of view[3] * view[4] elements. With channels_last = 1 (the
// NHWC pass) the input and the 4-D output are NHWC; where the op is the channel shuffle exporters
// write (view = [N, g, C/g, H, W] of an [N, C, H, W] value, output [N, C, H, W]) it permutes each
// pixel's channels, otherwise it goes through NCHW copies in scratch and gives the same result.
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/layout/transpose_2d.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define EDGERUN_SHUFFLE_AVX2 1
#endif

namespace edgerun {
namespace {

// Each pixel's channels [g][c] become [c][g].
template <typename T>
void shuffle_pixels(const T* x, T* y, int64_t pixels, int64_t groups, int64_t per_group) {
  const int64_t channels = groups * per_group;
  for (int64_t p = 0; p < pixels; ++p, x += channels, y += channels)
    for (int64_t i = 0; i < groups; ++i)
      for (int64_t j = 0; j < per_group; ++j) y[j * groups + i] = x[i * per_group + j];
}

#ifdef EDGERUN_SHUFFLE_AVX2
// Two groups of float32 (ShuffleNet): each pixel's halves interleaved, 8 pairs per step.
__attribute__((target("avx2"))) void shuffle_pixels_2_avx2(const float* x, float* y, int64_t pixels,
                                                          int64_t per_group) {
  const int64_t channels = 2 * per_group;
  for (int64_t p = 0; p < pixels; ++p, x += channels, y += channels) {
    int64_t j = 0;
    for (; j + 8 <= per_group; j += 8) {
      const __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + per_group + j);
      const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5 ...
      _mm256_storeu_ps(y + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(y + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    for (; j < per_group; ++j) {
      y[2 * j] = x[j];
      y[2 * j + 1] = x[per_group + j];
    }
  }
}
#endif

// An ONNX Reshape target (allowzero 0) resolved against the input dims and element count.
Shape resolve(PrepareContext& ctx, const std::vector<int64_t>& target, const Shape& in, int64_t numel,
              const char* what) {
  Shape out(target.size());
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0) ctx.fail(std::string(what) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (target[i] == 0 && i >= in.size()) ctx.fail(std::string(what) + ": 0 at a position past the input's rank");
    if (target[i] < 0) ctx.fail(std::string(what) + " has a negative dimension");
    out[i] = target[i] == 0 ? in[i] : target[i];
    known *= out[i];
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) ctx.fail(std::string(what) + " does not divide " + std::to_string(numel) + " elements");
    out[static_cast<size_t>(infer)] = numel / known;
  } else if (known != numel) {
    ctx.fail(std::string(what) + " " + shape_str(out) + " does not hold " + std::to_string(numel) + " elements");
  }
  return out;
}

class ChannelShuffle final : public Kernel {
 public:
  ChannelShuffle(const Node& node, int64_t)
      : view_(node.attr_ints("view")), shape_(node.attr_ints("shape")), channels_last_(node.attr_int("channels_last", 0) != 0) {
    if (view_.size() != 5) throw Error(ErrorCode::kInvalidModel, node.describe() + ": view must have 5 dimensions");
    if (channels_last_ && shape_.size() != 4)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": an NHWC shuffle needs a 4-D output shape");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    dtype_ = ctx.input_dtype(0);
    if (dtype_ == DType::kString || (channels_last_ && !layout_convertible(dtype_)))
      ctx.fail(std::string("does not move ") + dtype_name(dtype_) + " data");
    if (channels_last_ && x.size() != 4) ctx.fail("expects a 4-D NHWC input, got " + shape_str(x));
    // The shapes the ONNX ops see (NCHW where the data is NHWC).
    const Shape logical = channels_last_ ? Shape{x[0], x[3], x[1], x[2]} : x;
    const int64_t numel = shape_numel(x);
    const Shape v = resolve(ctx, view_, logical, numel, "view");
    const Shape transposed = {v[0], v[2], v[1], v[3], v[4]};
    out_ = resolve(ctx, shape_, transposed, numel, "shape");
    outer_ = v[0], first_ = v[1], second_ = v[2], run_ = v[3] * v[4];
    element_ = dtype_size(dtype_);
    if (!channels_last_) {
      ctx.set_output(0, dtype_, out_);
      return;
    }
    ctx.set_output(0, dtype_, {out_[0], out_[2], out_[3], out_[1]});
    pixels_ = x[0] * x[1] * x[2];
    in_ = logical;
    per_pixel_ = v[0] == x[0] && v[1] * v[2] == x[3] && v[3] == x[1] && v[4] == x[2] && out_ == logical;
    if (!per_pixel_) ctx.request_scratch(2 * static_cast<size_t>(numel) * element_ + 64);
  }

  void run(RunContext& ctx) override {
    const auto* x = static_cast<const uint8_t*>(ctx.input(0).raw());
    auto* y = static_cast<uint8_t*>(ctx.output(0).raw());
    if (!channels_last_) return reorder(x, y);
    if (per_pixel_) {
      const size_t channels = static_cast<size_t>(first_ * second_) * element_;
      auto work = [&](int64_t begin, int64_t end) {
        const uint8_t* src = x + static_cast<size_t>(begin) * channels;
        uint8_t* dst = y + static_cast<size_t>(begin) * channels;
        if (element_ == 1) return shuffle_pixels(src, dst, end - begin, first_, second_);
#ifdef EDGERUN_SHUFFLE_AVX2
        if (first_ == 2 && cpu_has_avx2_fma())
          return shuffle_pixels_2_avx2(reinterpret_cast<const float*>(src), reinterpret_cast<float*>(dst), end - begin,
                                       second_);
#endif
        shuffle_pixels(reinterpret_cast<const float*>(src), reinterpret_cast<float*>(dst), end - begin, first_, second_);
      };
      if (ctx.threads() && pixels_ * first_ * second_ >= (int64_t{1} << 14)) ctx.threads()->parallel_for(pixels_, 64, work);
      else work(0, pixels_);
      return;
    }
    const size_t bytes = static_cast<size_t>(shape_numel(in_)) * element_;
    auto* nchw_in = static_cast<uint8_t*>(ctx.scratch());
    uint8_t* nchw_out = nchw_in + (bytes + 63) / 64 * 64;
    transpose_2d_any(dtype_, x, nchw_in, in_[0], in_[2] * in_[3], in_[1], ctx.threads());
    reorder(nchw_in, nchw_out);
    transpose_2d_any(dtype_, nchw_out, y, out_[0], out_[1], out_[2] * out_[3], ctx.threads());
  }

 private:
  // [outer][first][second][run] -> [outer][second][first][run], on bytes.
  void reorder(const uint8_t* src, uint8_t* dst) const {
    const size_t run_bytes = static_cast<size_t>(run_) * element_;
    for (int64_t a = 0; a < outer_; ++a)
      for (int64_t c = 0; c < second_; ++c)
        for (int64_t b = 0; b < first_; ++b)
          std::memcpy(dst + (((a * second_ + c) * first_ + b) * run_bytes),
                      src + (((a * first_ + b) * second_ + c) * run_bytes), run_bytes);
  }

  std::vector<int64_t> view_, shape_;
  bool channels_last_;
  DType dtype_ = DType::kFloat32;
  Shape out_, in_;
  int64_t outer_ = 0, first_ = 0, second_ = 0, run_ = 0, pixels_ = 0;
  size_t element_ = 0;
  bool per_pixel_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "ChannelShuffle", ChannelShuffle);

}  // namespace edgerun
