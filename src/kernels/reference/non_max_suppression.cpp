// NonMaxSuppression: per batch and class, greedily keeps the highest-scoring boxes whose IoU with every
// box kept before is at most iou_threshold. Output [K, 3] rows are (batch, class, box), in selection order.
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class NonMaxSuppression final : public Kernel {
 public:
  NonMaxSuppression(const Node& node, int64_t opset) : center_point_box_(node.attr_int("center_point_box", 0)) {
    if (center_point_box_ != 0 && center_point_box_ != 1)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": center_point_box must be 0 or 1");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& boxes = ctx.input_shape(0);
    const Shape& scores = ctx.input_shape(1);
    if (ctx.input_dtype(0) != DType::kFloat32 || ctx.input_dtype(1) != DType::kFloat32)
      ctx.fail(std::string("boxes and scores must be float32, got ") + dtype_name(ctx.input_dtype(0)) + " and " +
               dtype_name(ctx.input_dtype(1)));
    if (boxes.size() != 3 || boxes[2] != 4)
      ctx.fail("boxes must have shape [num_batches, spatial_dimension, 4], got " + shape_str(boxes));
    if (scores.size() != 3 || scores[0] != boxes[0] || scores[2] != boxes[1])
      ctx.fail("scores must have shape [" + std::to_string(boxes[0]) + ", num_classes, " + std::to_string(boxes[1]) +
               "], got " + shape_str(scores));
    auto check_scalar = [&](size_t i, DType dtype, const char* name) {
      if (!ctx.has_input(i)) return;
      if (ctx.input_dtype(i) != dtype)
        ctx.fail(std::string(name) + " must be " + dtype_name(dtype) + ", got " + dtype_name(ctx.input_dtype(i)));
      if (shape_numel(ctx.input_shape(i)) != 1)
        ctx.fail(std::string(name) + " must hold one value, got shape " + shape_str(ctx.input_shape(i)));
    };
    check_scalar(2, DType::kInt64, "max_output_boxes_per_class");
    check_scalar(3, DType::kFloat32, "iou_threshold");
    check_scalar(4, DType::kFloat32, "score_threshold");
    batches_ = boxes[0];
    boxes_ = boxes[1];
    classes_ = scores[1];
    order_.reserve(static_cast<size_t>(boxes_));
    kept_.reserve(static_cast<size_t>(boxes_));
    // Worst case is every box of every class; past a bound let run() grow the list instead.
    selected_.reserve(static_cast<size_t>(std::min<int64_t>(batches_ * classes_ * boxes_ * 3, int64_t{1} << 20)));
    ctx.set_output_dynamic(0, DType::kInt64);
  }

  void run(RunContext& ctx) override {
    const float* boxes = ctx.input(0).data<float>();
    const float* scores = ctx.input(1).data<float>();
    const int64_t max_per_class = ctx.has_input(2) ? ctx.input(2).data<int64_t>()[0] : 0;
    const float iou_threshold = ctx.has_input(3) ? ctx.input(3).data<float>()[0] : 0.0f;
    const bool has_score_threshold = ctx.has_input(4);
    const float score_threshold = has_score_threshold ? ctx.input(4).data<float>()[0] : 0.0f;
    if (!(iou_threshold >= 0.0f && iou_threshold <= 1.0f))
      ctx.fail("iou_threshold must be within [0, 1], got " + std::to_string(iou_threshold));

    selected_.clear();
    for (int64_t b = 0; b < batches_ && max_per_class > 0; ++b) {
      const float* batch_boxes = boxes + b * boxes_ * 4;
      for (int64_t c = 0; c < classes_; ++c) {
        const float* s = scores + (b * classes_ + c) * boxes_;
        order_.clear();
        for (int64_t i = 0; i < boxes_; ++i)
          if (!std::isnan(s[i]) && (!has_score_threshold || s[i] > score_threshold)) order_.push_back(i);
        std::sort(order_.begin(), order_.end(), [s](int64_t x, int64_t y) { return s[x] > s[y] || (s[x] == s[y] && x < y); });
        kept_.clear();
        for (int64_t candidate : order_) {
          if (static_cast<int64_t>(kept_.size()) >= max_per_class) break;
          bool suppressed = false;
          for (int64_t k : kept_)
            if (iou(batch_boxes + candidate * 4, batch_boxes + k * 4) > iou_threshold) { suppressed = true; break; }
          if (suppressed) continue;
          kept_.push_back(candidate);
          selected_.insert(selected_.end(), {b, c, candidate});
        }
      }
    }
    Tensor& out = ctx.allocate_output(0, DType::kInt64, {static_cast<int64_t>(selected_.size() / 3), 3});
    std::copy(selected_.begin(), selected_.end(), out.data<int64_t>());
  }

 private:
  // Boxes are [y1, x1, y2, x2] with either diagonal, or [x_center, y_center, width, height].
  void corners(const float* box, float& y_min, float& x_min, float& y_max, float& x_max) const {
    if (center_point_box_) {
      x_min = box[0] - box[2] / 2;
      x_max = box[0] + box[2] / 2;
      y_min = box[1] - box[3] / 2;
      y_max = box[1] + box[3] / 2;
    } else {
      y_min = std::min(box[0], box[2]);
      y_max = std::max(box[0], box[2]);
      x_min = std::min(box[1], box[3]);
      x_max = std::max(box[1], box[3]);
    }
  }

  float iou(const float* a, const float* b) const {
    float ay0, ax0, ay1, ax1, by0, bx0, by1, bx1;
    corners(a, ay0, ax0, ay1, ax1);
    corners(b, by0, bx0, by1, bx1);
    const float area_a = (ay1 - ay0) * (ax1 - ax0);
    const float area_b = (by1 - by0) * (bx1 - bx0);
    if (!(area_a > 0) || !(area_b > 0)) return 0.0f;
    const float ih = std::max(0.0f, std::min(ay1, by1) - std::max(ay0, by0));
    const float iw = std::max(0.0f, std::min(ax1, bx1) - std::max(ax0, bx0));
    const float inter = ih * iw;
    return inter / (area_a + area_b - inter);
  }

  int64_t center_point_box_;
  int64_t batches_ = 0, boxes_ = 0, classes_ = 0;
  std::vector<int64_t> order_, kept_, selected_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("NonMaxSuppression", NonMaxSuppression);
}  // namespace edgerun
