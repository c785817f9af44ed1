// GridSample (opset 16, 4-D): samples X at the normalized (x, y) locations of `grid` with bilinear, nearest or
// bicubic interpolation and zeros, border or reflection padding, following torch.nn.functional.grid_sample.
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

enum class Interp { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

class GridSample final : public Kernel {
 public:
  GridSample(const Node& node, int64_t opset) : align_corners_(node.attr_int("align_corners", 0) != 0) {
    const std::string mode = node.attr_string("mode", "bilinear");
    if (mode == "bilinear" || mode == "linear") interp_ = Interp::kBilinear;
    else if (mode == "nearest") interp_ = Interp::kNearest;
    else if (mode == "bicubic" || mode == "cubic") interp_ = Interp::kBicubic;
    else throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown mode '" + mode + "'");
    const std::string pad = node.attr_string("padding_mode", "zeros");
    if (pad == "zeros") padding_ = Padding::kZeros;
    else if (pad == "border") padding_ = Padding::kBorder;
    else if (pad == "reflection") padding_ = Padding::kReflection;
    else throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown padding_mode '" + pad + "'");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    if (ctx.input_dtype(1) != dt) ctx.fail(std::string("grid must have the dtype of X, got ") + dtype_name(ctx.input_dtype(1)));
    const Shape& x = ctx.input_shape(0);
    const Shape& g = ctx.input_shape(1);
    if (x.size() != 4) ctx.unsupported("only 4-D inputs (N, C, H, W) are supported, got " + shape_str(x));
    if (g.size() != 4 || g[0] != x[0] || g[3] != 2)
      ctx.fail("grid has shape " + shape_str(g) + ", expected [" + std::to_string(x[0]) + ", H_out, W_out, 2]");
    n_ = x[0];
    c_ = x[1];
    h_ = x[2];
    w_ = x[3];
    out_h_ = g[1];
    out_w_ = g[2];
    dtype_ = dt;
    ctx.set_output(0, dt, {n_, c_, out_h_, out_w_});
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      const T* grid = ctx.input(1).data<T>();
      T* y = ctx.output(0).data<T>();
      const int64_t out_plane = out_h_ * out_w_;
      for (int64_t n = 0; n < n_; ++n)
        for (int64_t p = 0; p < out_plane; ++p) {
          const T* gp = grid + (n * out_plane + p) * 2;
          const double sx = unnormalize(static_cast<double>(gp[0]), w_);
          const double sy = unnormalize(static_cast<double>(gp[1]), h_);
          for (int64_t c = 0; c < c_; ++c) {
            const T* plane = x + (n * c_ + c) * h_ * w_;
            y[(n * c_ + c) * out_plane + p] = static_cast<T>(sample(plane, sx, sy));
          }
        }
    });
  }

 private:
  double unnormalize(double v, int64_t size) const {
    return align_corners_ ? (v + 1) / 2 * static_cast<double>(size - 1) : ((v + 1) * static_cast<double>(size) - 1) / 2;
  }

  // Mirrors v into [low, high] (given doubled, so half-pixel bounds stay integral).
  static double reflect(double v, int64_t twice_low, int64_t twice_high) {
    if (twice_low == twice_high) return 0;
    const double low = static_cast<double>(twice_low) / 2;
    const double span = static_cast<double>(twice_high - twice_low) / 2;
    v = std::fabs(v - low);
    const double extra = std::fmod(v, span);
    const int64_t flips = static_cast<int64_t>(std::floor(v / span));
    return flips % 2 == 0 ? extra + low : span - extra + low;
  }

  // Applies border/reflection padding to a source coordinate.
  double pad_coordinate(double v, int64_t size) const {
    if (padding_ == Padding::kBorder) return std::clamp(v, 0.0, static_cast<double>(size - 1));
    if (padding_ == Padding::kReflection) {
      v = align_corners_ ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
      return std::clamp(v, 0.0, static_cast<double>(size - 1));
    }
    return v;
  }

  // Integral coordinate to index; far-away values become an out-of-range index instead of overflowing.
  static int64_t to_index(double v, int64_t size) {
    if (v < -2 || v > static_cast<double>(size) + 1) return -2;
    return static_cast<int64_t>(v);
  }

  template <typename T>
  double pixel(const T* plane, int64_t ix, int64_t iy) const {
    if (ix < 0 || ix >= w_ || iy < 0 || iy >= h_) return 0;
    return static_cast<double>(plane[iy * w_ + ix]);
  }

  static double cubic(double d) {
    constexpr double a = -0.75;
    d = std::fabs(d);
    if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
    if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
    return 0;
  }

  template <typename T>
  double sample(const T* plane, double sx, double sy) const {
    if (!std::isfinite(sx) || !std::isfinite(sy)) return 0;
    if (interp_ == Interp::kBicubic) {
      // Padding applies to each of the 4x4 taps rather than to the sampling point.
      const double fx = std::floor(sx), fy = std::floor(sy);
      const double tx = sx - fx, ty = sy - fy;
      double acc = 0;
      for (int j = 0; j < 4; ++j) {
        const double wy = cubic(ty - (j - 1));
        double row = 0;
        for (int i = 0; i < 4; ++i) {
          const double wx = cubic(tx - (i - 1));
          row += wx * padded_pixel(plane, fx - 1 + i, fy - 1 + j);
        }
        acc += wy * row;
      }
      return acc;
    }
    const double px = pad_coordinate(sx, w_), py = pad_coordinate(sy, h_);
    if (interp_ == Interp::kNearest)
      return pixel(plane, to_index(std::nearbyint(px), w_), to_index(std::nearbyint(py), h_));
    const double x0 = std::floor(px), y0 = std::floor(py);
    const double lx = px - x0, ly = py - y0;
    const int64_t ix = to_index(x0, w_), iy = to_index(y0, h_);
    return (1 - ly) * ((1 - lx) * pixel(plane, ix, iy) + lx * pixel(plane, ix + 1, iy)) +
           ly * ((1 - lx) * pixel(plane, ix, iy + 1) + lx * pixel(plane, ix + 1, iy + 1));
  }

  template <typename T>
  double padded_pixel(const T* plane, double x, double y) const {
    if (padding_ != Padding::kZeros) {
      x = pad_coordinate(x, w_);
      y = pad_coordinate(y, h_);
    }
    return pixel(plane, to_index(x, w_), to_index(y, h_));
  }

  bool align_corners_;
  Interp interp_ = Interp::kBilinear;
  Padding padding_ = Padding::kZeros;
  DType dtype_ = DType::kFloat32;
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0, out_h_ = 0, out_w_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("GridSample", GridSample);
}  // namespace edgerun
