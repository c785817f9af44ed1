// Slice: per-axis [start, end) with step (attributes before opset 10, inputs from 10). Out-of-range
// bounds are clamped; negative steps walk backwards.
#include <algorithm>

#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Slice final : public Kernel {
 public:
  Slice(const Node& node, int64_t opset)
      : from_inputs_(opset >= 10), attr_starts_(node.attr_ints("starts")), attr_ends_(node.attr_ints("ends")),
        has_attr_axes_(node.has_attr("axes")), attr_axes_(node.attr_ints("axes")) {
    if (!from_inputs_ && (!node.has_attr("starts") || !node.has_attr("ends")))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attributes 'starts' and 'ends' are required");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> starts = attr_starts_, ends = attr_ends_, axes, steps;
    bool has_axes = has_attr_axes_;
    if (has_axes) axes = attr_axes_;
    if (from_inputs_) {
      starts = read_index_list(ctx, ctx.require_value(1), "starts");
      ends = read_index_list(ctx, ctx.require_value(2), "ends");
      has_axes = ctx.has_input(3);
      if (has_axes) axes = read_index_list(ctx, ctx.require_value(3), "axes");
      if (ctx.has_input(4)) steps = read_index_list(ctx, ctx.require_value(4), "steps");
    }
    const size_t n = starts.size();
    if (ends.size() != n) ctx.fail("starts has " + std::to_string(n) + " entries but ends has " + std::to_string(ends.size()));
    if (!has_axes) {
      axes.resize(n);
      for (size_t i = 0; i < n; ++i) axes[i] = static_cast<int64_t>(i);
    }
    if (axes.size() != n) ctx.fail("axes has " + std::to_string(axes.size()) + " entries but starts has " + std::to_string(n));
    if (steps.empty()) steps.assign(n, 1);
    if (steps.size() != n) ctx.fail("steps has " + std::to_string(steps.size()) + " entries but starts has " + std::to_string(n));
    axes = normalize_axes(ctx, axes, rank, "axis");

    Shape out = in;
    const auto in_strides = strides_of(in);
    std::vector<int64_t> strides = in_strides;
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      const int64_t a = axes[i], dim = in[a], step = steps[i];
      if (step == 0) ctx.fail("step for axis " + std::to_string(a) + " is 0");
      int64_t start = starts[i], end = ends[i];
      if (start < 0) start += dim;
      if (end < 0) end += dim;
      int64_t len = 0;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        if (end > start) len = (end - start - 1) / step + 1;
      } else if (dim > 0) {
        start = std::clamp<int64_t>(start, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        if (start > end) len = (start - end - 1) / -step + 1;
      }
      out[a] = len;
      if (len > 0) offset += start * in_strides[a];
      strides[a] = in_strides[a] * step;
    }
    copy_.set(out, strides, shape_numel(out) > 0 ? offset : 0);
    rows_ = ctx.input_dtype(0) == DType::kFloat32 && copy_.copies_rows_of(out.back());
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  // A slice of the last axis copies rows, which may land any distance apart: inside a Concat's output
  // (shufflenet's split halves).
  bool writes_strided_output(size_t index) const override { return index == 0 && rows_; }

  void run(RunContext& ctx) override {
    const int64_t stride = ctx.output_row_stride(0);
    if (stride != 0) {
      if (!rows_) ctx.fail("cannot write its output with a row stride");
      return copy_.run_rows(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw(), stride);
    }
    copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw());
  }

 private:
  bool from_inputs_;
  std::vector<int64_t> attr_starts_, attr_ends_;
  bool has_attr_axes_;
  std::vector<int64_t> attr_axes_;
  StridedCopy copy_;
  bool rows_ = false;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Slice", Slice);
}  // namespace edgerun
