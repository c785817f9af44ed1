// Resize (opsets 10-18) and Upsample (7-9). Interpolation is separable: prepare() builds, for every resized
// axis, a table of source indices and weights per output coordinate (1 tap for nearest, 2 for linear, 4 for
// cubic). Nearest runs as one gather; linear and cubic resize one axis per pass through double-precision
// scratch buffers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coordinates { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
enum class Rounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct AxisTaps {
  int64_t axis = 0, in_len = 0, out_len = 0;
  int taps = 1;
  std::vector<int64_t> index;   // out_len * taps source indices
  std::vector<double> weight;   // out_len * taps
  std::vector<uint8_t> outside; // out_len: coordinate outside the input (tf_crop_and_resize extrapolates)
};

class Resize {
 public:
  Resize(const Node& node, int64_t opset, bool upsample) : opset_(opset), upsample_(upsample) {
    const std::string desc = node.describe();
    const std::string mode = node.attr_string("mode", "nearest");
    if (mode == "nearest") mode_ = Mode::kNearest;
    else if (mode == "linear" || (upsample && mode == "bilinear")) mode_ = Mode::kLinear;
    else if (mode == "cubic" && !upsample && opset >= 11) mode_ = Mode::kCubic;
    else throw Error(ErrorCode::kInvalidModel, desc + ": unknown mode '" + mode + "'");
    legacy_ = upsample || opset < 11;
    if (legacy_) {
      coordinates_ = Coordinates::kAsymmetric;
      rounding_ = Rounding::kLegacy;
    } else {
      const std::string ct = node.attr_string("coordinate_transformation_mode", "half_pixel");
      if (ct == "half_pixel") coordinates_ = Coordinates::kHalfPixel;
      else if (ct == "pytorch_half_pixel") coordinates_ = Coordinates::kPytorchHalfPixel;
      else if (ct == "align_corners") coordinates_ = Coordinates::kAlignCorners;
      else if (ct == "asymmetric") coordinates_ = Coordinates::kAsymmetric;
      else if (ct == "tf_half_pixel_for_nn" && opset < 13) coordinates_ = Coordinates::kTfHalfPixelForNn;
      else if (ct == "tf_crop_and_resize") coordinates_ = Coordinates::kTfCropAndResize;
      else if (ct == "half_pixel_symmetric") throw Error(ErrorCode::kUnsupported, desc + ": half_pixel_symmetric coordinates");
      else throw Error(ErrorCode::kInvalidModel, desc + ": unknown coordinate_transformation_mode '" + ct + "'");
      const std::string nm = node.attr_string("nearest_mode", "round_prefer_floor");
      if (nm == "round_prefer_floor") rounding_ = Rounding::kRoundPreferFloor;
      else if (nm == "round_prefer_ceil") rounding_ = Rounding::kRoundPreferCeil;
      else if (nm == "floor") rounding_ = Rounding::kFloor;
      else if (nm == "ceil") rounding_ = Rounding::kCeil;
      else throw Error(ErrorCode::kInvalidModel, desc + ": unknown nearest_mode '" + nm + "'");
      cubic_a_ = node.attr_float("cubic_coeff_a", -0.75f);
      exclude_outside_ = node.attr_int("exclude_outside", 0) != 0;
      extrapolation_ = node.attr_float("extrapolation_value", 0.f);
      if (node.attr_int("antialias", 0) != 0) throw Error(ErrorCode::kUnsupported, desc + ": antialias");
      axes_ = node.attr_ints("axes");
      const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
      if (policy == "stretch") policy_ = AspectPolicy::kStretch;
      else if (policy == "not_larger") policy_ = AspectPolicy::kNotLarger;
      else if (policy == "not_smaller") policy_ = AspectPolicy::kNotSmaller;
      else throw Error(ErrorCode::kInvalidModel, desc + ": unknown keep_aspect_ratio_policy '" + policy + "'");
    }
    if (upsample && opset < 9) {
      if (!node.has_attr("scales")) throw Error(ErrorCode::kInvalidModel, desc + ": scales attribute is required");
      for (float s : node.attr_floats("scales")) scale_attr_.push_back(s);
    }
  }

  void prepare(PrepareContext& ctx) {
    const DType dt = ctx.input_dtype(0);
    if (dt == DType::kString) ctx.unsupported("string tensors");
    if (mode_ != Mode::kNearest && dt == DType::kBool) ctx.fail("linear and cubic modes need a numeric input");
    const Shape& x = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(x.size());

    // Which axes the scales/sizes/roi inputs describe.
    std::vector<int64_t> axes;
    if (axes_.empty()) {
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    } else {
      std::vector<bool> seen(rank, false);
      for (int64_t a : axes_) {
        const int64_t axis = normalize_axis(a, rank, ctx.node().describe() + " axes");
        if (seen[axis]) ctx.fail("axes repeats dimension " + std::to_string(axis));
        seen[axis] = true;
        axes.push_back(axis);
      }
    }
    const size_t n_axes = axes.size();

    std::vector<double> scales(rank, 1.0);
    Shape out = x;
    std::vector<double> given;  // scales or sizes as given, one per entry of `axes`
    bool from_sizes = false;
    if (upsample_ && opset_ < 9) {
      given = scale_attr_;
    } else {
      const size_t scales_input = legacy_ ? 1 : 2;
      const Tensor* sc = nullptr;
      if (ctx.has_input(scales_input) && shape_numel(ctx.input_shape(scales_input)) > 0) sc = &ctx.require_value(scales_input);
      const Tensor* sz = nullptr;
      if (!legacy_ && ctx.has_input(3) && shape_numel(ctx.input_shape(3)) > 0) sz = &ctx.require_value(3);
      if (sc && sz) ctx.fail("only one of scales and sizes may be given");
      if (!sc && !sz) ctx.fail("one of scales and sizes is required");
      if (sc) {
        if (sc->dtype() != DType::kFloat32) ctx.fail(std::string("scales must be float32, got ") + dtype_name(sc->dtype()));
        given = tensor_to_doubles(*sc);
      } else {
        if (sz->dtype() != DType::kInt64) ctx.fail(std::string("sizes must be int64, got ") + dtype_name(sz->dtype()));
        for (int64_t v : tensor_to_int64s(*sz)) given.push_back(static_cast<double>(v));
        from_sizes = true;
      }
    }
    if (given.size() != n_axes)
      ctx.fail(std::string(from_sizes ? "sizes" : "scales") + " has " + std::to_string(given.size()) + " values, expected " +
               std::to_string(n_axes));
    if (from_sizes) {
      for (double v : given)
        if (v < 0) ctx.fail("sizes must be non-negative");
      if (policy_ != AspectPolicy::kStretch) {
        // One common scale for all listed axes; sizes are recomputed from it.
        double common = policy_ == AspectPolicy::kNotLarger ? std::numeric_limits<double>::infinity() : 0.0;
        for (size_t i = 0; i < n_axes; ++i) {
          const double s = given[i] / static_cast<double>(x[axes[i]]);
          common = policy_ == AspectPolicy::kNotLarger ? std::min(common, s) : std::max(common, s);
        }
        for (size_t i = 0; i < n_axes; ++i) {
          scales[axes[i]] = common;
          out[axes[i]] = static_cast<int64_t>(std::floor(common * static_cast<double>(x[axes[i]]) + 0.5));
        }
      } else {
        for (size_t i = 0; i < n_axes; ++i) {
          const int64_t a = axes[i];
          out[a] = static_cast<int64_t>(given[i]);
          if (x[a] == 0 && out[a] != 0) ctx.fail("cannot resize an empty dimension to a non-empty one");
          scales[a] = x[a] ? given[i] / static_cast<double>(x[a]) : 1.0;
        }
      }
    } else {
      for (size_t i = 0; i < n_axes; ++i) {
        const int64_t a = axes[i];
        if (!(given[i] > 0)) ctx.fail("scales must be positive, got " + std::to_string(given[i]));
        if (upsample_ && given[i] < 1) ctx.fail("Upsample scales must be >= 1");
        scales[a] = given[i];
        out[a] = static_cast<int64_t>(std::floor(static_cast<double>(x[a]) * given[i]));
      }
    }

    std::vector<double> roi_start(rank, 0.0), roi_end(rank, 1.0);
    if (coordinates_ == Coordinates::kTfCropAndResize) {
      if (!ctx.has_input(1) || shape_numel(ctx.input_shape(1)) == 0) ctx.fail("tf_crop_and_resize needs the roi input");
      const std::vector<double> roi = tensor_to_doubles(ctx.require_value(1));
      if (roi.size() != 2 * n_axes) ctx.fail("roi has " + std::to_string(roi.size()) + " values, expected " + std::to_string(2 * n_axes));
      for (size_t i = 0; i < n_axes; ++i) {
        roi_start[axes[i]] = roi[i];
        roi_end[axes[i]] = roi[i + n_axes];
      }
    }

    ctx.set_output(0, dt, out);
    dtype_ = dt;
    in_shape_ = x;
    out_shape_ = out;
    axis_taps_.clear();
    for (int64_t a = 0; a < rank; ++a) {
      AxisTaps t = build_taps(a, x[a], out[a], scales[a], roi_start[a], roi_end[a]);
      if (!is_identity(t)) axis_taps_.push_back(std::move(t));
    }
    if (mode_ == Mode::kNearest) {
      // Per axis and output coordinate: the source offset, or -1 where tf_crop_and_resize extrapolates.
      const auto in_strides = strides_of(x);
      nearest_offsets_.assign(rank, {});
      for (int64_t a = 0; a < rank; ++a) {
        nearest_offsets_[a].resize(out[a]);
        for (int64_t o = 0; o < out[a]; ++o) nearest_offsets_[a][o] = o * in_strides[a];
      }
      for (const AxisTaps& t : axis_taps_)
        for (int64_t o = 0; o < t.out_len; ++o)
          nearest_offsets_[t.axis][o] = t.outside[o] ? -1 : t.index[o] * in_strides[t.axis];
      position_.assign(rank, 0);
    }
    // Scratch: two ping-pong buffers sized for the largest intermediate shape.
    size_t largest = 0;
    if (mode_ != Mode::kNearest && axis_taps_.size() > 1) {
      Shape cur = x;
      for (size_t p = 0; p + 1 < axis_taps_.size(); ++p) {
        cur[axis_taps_[p].axis] = axis_taps_[p].out_len;
        largest = std::max<size_t>(largest, static_cast<size_t>(shape_numel(cur)));
      }
    }
    buffer_elems_ = largest;
    ctx.request_scratch(2 * largest * sizeof(double));
  }

  void run(RunContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.output(0);
    if (y.numel() == 0) return;
    if (axis_taps_.empty()) {
      std::memcpy(y.raw(), x.raw(), y.nbytes());
      return;
    }
    if (mode_ == Mode::kNearest) return run_nearest(x, y);
    dispatch_dtype<kNumeric>(dtype_, [&](auto tag) { run_separable<decltype(tag)>(x, y, static_cast<double*>(ctx.scratch())); });
  }

 private:
  // length_resized is scale * length_original, not the (floored) output size: with scales given, align_corners
  // and tf_crop_and_resize stretch over the unrounded extent.
  double source_coordinate(int64_t o, double scale, int64_t in_len, double roi_start, double roi_end) const {
    const double od = static_cast<double>(o);
    const double in_last = static_cast<double>(in_len - 1);
    const double resized = scale * static_cast<double>(in_len);
    switch (coordinates_) {
      case Coordinates::kHalfPixel: return (od + 0.5) / scale - 0.5;
      case Coordinates::kPytorchHalfPixel: return resized > 1 ? (od + 0.5) / scale - 0.5 : 0.0;
      case Coordinates::kAlignCorners: return resized == 1 ? 0.0 : od * in_last / (resized - 1);
      case Coordinates::kAsymmetric: return od / scale;
      case Coordinates::kTfHalfPixelForNn: return (od + 0.5) / scale;
      case Coordinates::kTfCropAndResize:
        return resized > 1 ? roi_start * in_last + od * (roi_end - roi_start) * in_last / (resized - 1)
                           : 0.5 * (roi_start + roi_end) * in_last;
    }
    return 0.0;
  }

  int64_t nearest_index(double v, double scale) const {
    const double fl = std::floor(v);
    switch (rounding_) {
      case Rounding::kRoundPreferFloor: return static_cast<int64_t>(v == fl + 0.5 ? fl : std::round(v));
      case Rounding::kRoundPreferCeil: return static_cast<int64_t>(v == fl + 0.5 ? fl + 1 : std::round(v));
      case Rounding::kFloor: return static_cast<int64_t>(fl);
      case Rounding::kCeil: return static_cast<int64_t>(std::ceil(v));
      // Upsample and Resize-10: truncate when enlarging, round up when shrinking.
      case Rounding::kLegacy: return static_cast<int64_t>(scale < 1 ? std::ceil(v) : fl);
    }
    return 0;
  }

  double cubic_weight(double d) const {
    const double a = cubic_a_;
    d = std::fabs(d);
    if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
    if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
    return 0;
  }

  AxisTaps build_taps(int64_t axis, int64_t in_len, int64_t out_len, double scale, double roi_start, double roi_end) const {
    AxisTaps t;
    t.axis = axis;
    t.in_len = in_len;
    t.out_len = out_len;
    t.taps = mode_ == Mode::kNearest ? 1 : mode_ == Mode::kLinear ? 2 : 4;
    t.index.assign(out_len * t.taps, 0);
    t.weight.assign(out_len * t.taps, 0.0);
    t.outside.assign(out_len, 0);
    if (in_len == 0) return t;
    const int64_t last = in_len - 1;
    for (int64_t o = 0; o < out_len; ++o) {
      const double v = source_coordinate(o, scale, in_len, roi_start, roi_end);
      int64_t* idx = &t.index[o * t.taps];
      double* w = &t.weight[o * t.taps];
      if (coordinates_ == Coordinates::kTfCropAndResize && (v < 0 || v > static_cast<double>(last))) {
        t.outside[o] = 1;
        continue;
      }
      if (mode_ == Mode::kNearest) {
        idx[0] = std::clamp<int64_t>(nearest_index(v, scale), 0, last);
        w[0] = 1;
      } else if (mode_ == Mode::kLinear) {
        const double fl = std::floor(v);
        const int64_t i0 = static_cast<int64_t>(fl);
        const double frac = v - fl;
        idx[0] = std::clamp<int64_t>(i0, 0, last);
        idx[1] = std::clamp<int64_t>(i0 + 1, 0, last);
        w[0] = 1 - frac;
        w[1] = frac;
      } else {
        const double fl = std::floor(v);
        const int64_t i0 = static_cast<int64_t>(fl);
        const double frac = v - fl;
        double sum = 0;
        for (int k = 0; k < 4; ++k) {
          const int64_t src = i0 - 1 + k;
          double wk = cubic_weight(frac - static_cast<double>(k - 1));
          if (exclude_outside_ && (src < 0 || src > last)) wk = 0;
          idx[k] = std::clamp<int64_t>(src, 0, last);
          w[k] = wk;
          sum += wk;
        }
        if (exclude_outside_ && sum != 0)
          for (int k = 0; k < 4; ++k) w[k] /= sum;
      }
    }
    return t;
  }

  static bool is_identity(const AxisTaps& t) {
    if (t.in_len != t.out_len) return false;
    for (int64_t o = 0; o < t.out_len; ++o) {
      if (t.outside[o]) return false;
      for (int k = 0; k < t.taps; ++k) {
        const double w = t.weight[o * t.taps + k];
        if (w != 0 && !(w == 1 && t.index[o * t.taps + k] == o)) return false;
      }
    }
    return true;
  }

  // Gather: every output element copies one input element (or the extrapolation value).
  void run_nearest(const Tensor& x, Tensor& y) {
    const size_t rank = out_shape_.size();
    dispatch_dtype<kAllNoString>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const T fill = static_cast<T>(extrapolation_);
      const int64_t* inner_off = nearest_offsets_[rank - 1].data();
      const int64_t inner = out_shape_[rank - 1];
      std::fill(position_.begin(), position_.end(), 0);
      for (int64_t i = 0; i < y.numel(); i += inner) {
        int64_t outer_off = 0;
        bool outside = false;
        for (size_t d = 0; d + 1 < rank; ++d) {
          const int64_t off = nearest_offsets_[d][position_[d]];
          outside = outside || off < 0;
          outer_off += off;
        }
        T* dst = py + i;
        if (outside) {
          std::fill(dst, dst + inner, fill);
        } else {
          for (int64_t o = 0; o < inner; ++o) dst[o] = inner_off[o] < 0 ? fill : px[outer_off + inner_off[o]];
        }
        for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
          if (++position_[d] < out_shape_[d]) break;
          position_[d] = 0;
        }
      }
    });
  }

  // One pass resizes `t.axis`: src viewed as [outer, in_len, inner] -> dst [outer, out_len, inner].
  template <typename Src, typename Dst>
  void resize_axis(const AxisTaps& t, const Src* src, Dst* dst, int64_t outer, int64_t inner) const {
    for (int64_t a = 0; a < outer; ++a) {
      const Src* s = src + a * t.in_len * inner;
      Dst* d = dst + a * t.out_len * inner;
      for (int64_t o = 0; o < t.out_len; ++o) {
        Dst* row = d + o * inner;
        if (t.outside[o]) {
          for (int64_t i = 0; i < inner; ++i) row[i] = convert<Dst>(extrapolation_);
          continue;
        }
        const int64_t* idx = &t.index[o * t.taps];
        const double* w = &t.weight[o * t.taps];
        for (int64_t i = 0; i < inner; ++i) {
          double acc = 0;
          for (int k = 0; k < t.taps; ++k) acc += w[k] * static_cast<double>(s[idx[k] * inner + i]);
          row[i] = convert<Dst>(acc);
        }
      }
    }
  }

  template <typename Dst>
  static Dst convert(double v) {
    if constexpr (std::is_same_v<Dst, double> || is_float_v<Dst>) {
      return static_cast<Dst>(v);
    } else {
      // Integer outputs round to nearest and saturate.
      const double r = std::nearbyint(v);
      if (!(r >= static_cast<double>(std::numeric_limits<Dst>::lowest()))) return std::numeric_limits<Dst>::lowest();
      if (r >= static_cast<double>(std::numeric_limits<Dst>::max())) return std::numeric_limits<Dst>::max();
      return static_cast<Dst>(r);
    }
  }

  template <typename T>
  void run_separable(const Tensor& x, Tensor& y, double* scratch) const {
    Shape cur = in_shape_;
    const size_t passes = axis_taps_.size();
    double* buffers[2] = {scratch, scratch + buffer_elems_};
    const double* prev = nullptr;  // output of the previous pass (a scratch buffer)
    for (size_t p = 0; p < passes; ++p) {
      const AxisTaps& t = axis_taps_[p];
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < t.axis; ++d) outer *= cur[d];
      for (size_t d = t.axis + 1; d < cur.size(); ++d) inner *= cur[d];
      const bool first = p == 0, last = p + 1 == passes;
      double* next = buffers[p % 2];
      if (first && last) resize_axis(t, x.data<T>(), y.data<T>(), outer, inner);
      else if (first) resize_axis(t, x.data<T>(), next, outer, inner);
      else if (last) resize_axis(t, prev, y.data<T>(), outer, inner);
      else resize_axis(t, prev, next, outer, inner);
      prev = next;
      cur[t.axis] = t.out_len;
    }
  }

  int64_t opset_;
  bool upsample_;
  bool legacy_ = false;
  Mode mode_ = Mode::kNearest;
  Coordinates coordinates_ = Coordinates::kHalfPixel;
  Rounding rounding_ = Rounding::kRoundPreferFloor;
  AspectPolicy policy_ = AspectPolicy::kStretch;
  double cubic_a_ = -0.75;
  bool exclude_outside_ = false;
  double extrapolation_ = 0;
  std::vector<int64_t> axes_;
  std::vector<double> scale_attr_;
  DType dtype_ = DType::kFloat32;
  Shape in_shape_, out_shape_;
  std::vector<AxisTaps> axis_taps_;
  std::vector<std::vector<int64_t>> nearest_offsets_;
  std::vector<int64_t> position_;
  size_t buffer_elems_ = 0;
};

class ResizeOp final : public Kernel {
 public:
  ResizeOp(const Node& node, int64_t opset) : impl_(node, opset, false) {}
  void prepare(PrepareContext& ctx) override { impl_.prepare(ctx); }
  void run(RunContext& ctx) override { impl_.run(ctx); }

 private:
  Resize impl_;
};

class UpsampleOp final : public Kernel {
 public:
  UpsampleOp(const Node& node, int64_t opset) : impl_(node, opset, true) {}
  void prepare(PrepareContext& ctx) override { impl_.prepare(ctx); }
  void run(RunContext& ctx) override { impl_.run(ctx); }

 private:
  Resize impl_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Resize", ResizeOp);
EDGERUN_REGISTER_KERNEL("Upsample", UpsampleOp);
}  // namespace edgerun
