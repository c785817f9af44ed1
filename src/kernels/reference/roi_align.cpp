// RoiAlign: average (or max) of bilinearly interpolated samples on a regular grid inside each bin of each
// region of interest. Opset 16 adds coordinate_transformation_mode (half_pixel by default); opset 10 behaves
// as output_half_pixel.
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class RoiAlign final : public Kernel {
 public:
  RoiAlign(const Node& node, int64_t opset)
      : out_h_(node.attr_int("output_height", 1)), out_w_(node.attr_int("output_width", 1)),
        sampling_ratio_(node.attr_int("sampling_ratio", 0)), spatial_scale_(node.attr_float("spatial_scale", 1.f)) {
    const std::string desc = node.describe();
    const std::string mode = node.attr_string("mode", "avg");
    if (mode == "avg") max_mode_ = false;
    else if (mode == "max") max_mode_ = true;
    else throw Error(ErrorCode::kInvalidModel, desc + ": unknown mode '" + mode + "'");
    const std::string ct = node.attr_string("coordinate_transformation_mode", opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (ct == "half_pixel") half_pixel_ = true;
    else if (ct == "output_half_pixel") half_pixel_ = false;
    else throw Error(ErrorCode::kInvalidModel, desc + ": unknown coordinate_transformation_mode '" + ct + "'");
    if (out_h_ < 1 || out_w_ < 1) throw Error(ErrorCode::kInvalidModel, desc + ": output_height/output_width must be positive");
    if (sampling_ratio_ < 0) throw Error(ErrorCode::kInvalidModel, desc + ": sampling_ratio must be non-negative");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    if (ctx.input_dtype(1) != dt) ctx.fail(std::string("rois must have the dtype of X, got ") + dtype_name(ctx.input_dtype(1)));
    if (ctx.input_dtype(2) != DType::kInt64) ctx.fail(std::string("batch_indices must be int64, got ") + dtype_name(ctx.input_dtype(2)));
    const Shape& x = ctx.input_shape(0);
    const Shape& rois = ctx.input_shape(1);
    if (x.size() != 4) ctx.fail("X must be 4-D (N, C, H, W), got " + shape_str(x));
    if (rois.size() != 2 || rois[1] != 4) ctx.fail("rois has shape " + shape_str(rois) + ", expected [num_rois, 4]");
    if (ctx.input_shape(2) != Shape{rois[0]})
      ctx.fail("batch_indices has shape " + shape_str(ctx.input_shape(2)) + ", expected [" + std::to_string(rois[0]) + "]");
    n_ = x[0];
    c_ = x[1];
    h_ = x[2];
    w_ = x[3];
    num_rois_ = rois[0];
    dtype_ = dt;
    ctx.set_output(0, dt, {num_rois_, c_, out_h_, out_w_});
  }

  void run(RunContext& ctx) override {
    const int64_t* batch = ctx.input(2).data<int64_t>();
    for (int64_t r = 0; r < num_rois_; ++r)
      if (batch[r] < 0 || batch[r] >= n_)
        ctx.fail("batch_indices[" + std::to_string(r) + "] = " + std::to_string(batch[r]) + " is outside [0, " + std::to_string(n_) + ")");
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      const T* rois = ctx.input(1).data<T>();
      T* y = ctx.output(0).data<T>();
      const double offset = half_pixel_ ? 0.5 : 0.0;
      for (int64_t r = 0; r < num_rois_; ++r) {
        const T* roi = rois + r * 4;
        const double x1 = static_cast<double>(roi[0]) * spatial_scale_ - offset;
        const double y1 = static_cast<double>(roi[1]) * spatial_scale_ - offset;
        const double x2 = static_cast<double>(roi[2]) * spatial_scale_ - offset;
        const double y2 = static_cast<double>(roi[3]) * spatial_scale_ - offset;
        double roi_w = x2 - x1, roi_h = y2 - y1;
        if (!half_pixel_) {
          // Legacy behaviour: regions are at least one pixel.
          roi_w = std::max(roi_w, 1.0);
          roi_h = std::max(roi_h, 1.0);
        }
        const double bin_h = roi_h / static_cast<double>(out_h_), bin_w = roi_w / static_cast<double>(out_w_);
        const int64_t grid_h = sampling_ratio_ > 0 ? sampling_ratio_ : grid_count(roi_h / static_cast<double>(out_h_));
        const int64_t grid_w = sampling_ratio_ > 0 ? sampling_ratio_ : grid_count(roi_w / static_cast<double>(out_w_));
        const double count = static_cast<double>(std::max<int64_t>(grid_h * grid_w, 1));
        for (int64_t c = 0; c < c_; ++c) {
          const T* plane = x + (batch[r] * c_ + c) * h_ * w_;
          T* out = y + ((r * c_ + c) * out_h_) * out_w_;
          for (int64_t ph = 0; ph < out_h_; ++ph)
            for (int64_t pw = 0; pw < out_w_; ++pw) {
              double acc = 0;
              bool first = true;
              for (int64_t iy = 0; iy < grid_h; ++iy) {
                const double sy = y1 + static_cast<double>(ph) * bin_h + (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(grid_h);
                for (int64_t ix = 0; ix < grid_w; ++ix) {
                  const double sx = x1 + static_cast<double>(pw) * bin_w + (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(grid_w);
                  double terms[4];
                  bilinear_terms(plane, sy, sx, terms);
                  if (max_mode_) {
                    // Max mode takes the largest weighted corner term, as the reference implementations do.
                    const double m = std::max(std::max(terms[0], terms[1]), std::max(terms[2], terms[3]));
                    acc = first ? m : std::max(acc, m);
                    first = false;
                  } else {
                    acc += terms[0] + terms[1] + terms[2] + terms[3];
                  }
                }
              }
              out[ph * out_w_ + pw] = static_cast<T>(max_mode_ ? acc : acc / count);
            }
        }
      }
    });
  }

 private:
  static int64_t grid_count(double extent) {
    const double v = std::ceil(extent);
    if (!(v >= 1)) return 1;
    return static_cast<int64_t>(std::min(v, 1e6));
  }

  // The four weighted corner values of the bilinear sample at (y, x); all zero outside [-1, size].
  template <typename T>
  void bilinear_terms(const T* plane, double y, double x, double terms[4]) const {
    terms[0] = terms[1] = terms[2] = terms[3] = 0;
    if (!(y >= -1.0 && y <= static_cast<double>(h_) && x >= -1.0 && x <= static_cast<double>(w_)) || h_ == 0 || w_ == 0) return;
    y = std::max(y, 0.0);
    x = std::max(x, 0.0);
    int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
    if (y_low >= h_ - 1) {
      y_low = y_high = h_ - 1;
      y = static_cast<double>(y_low);
    } else {
      y_high = y_low + 1;
    }
    if (x_low >= w_ - 1) {
      x_low = x_high = w_ - 1;
      x = static_cast<double>(x_low);
    } else {
      x_high = x_low + 1;
    }
    const double ly = y - static_cast<double>(y_low), lx = x - static_cast<double>(x_low);
    const double hy = 1 - ly, hx = 1 - lx;
    terms[0] = hy * hx * static_cast<double>(plane[y_low * w_ + x_low]);
    terms[1] = hy * lx * static_cast<double>(plane[y_low * w_ + x_high]);
    terms[2] = ly * hx * static_cast<double>(plane[y_high * w_ + x_low]);
    terms[3] = ly * lx * static_cast<double>(plane[y_high * w_ + x_high]);
  }

  int64_t out_h_, out_w_, sampling_ratio_;
  double spatial_scale_;
  bool max_mode_ = false, half_pixel_ = true;
  DType dtype_ = DType::kFloat32;
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0, num_rois_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("RoiAlign", RoiAlign);
}  // namespace edgerun
