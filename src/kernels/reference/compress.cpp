// Compress: keeps the slices along `axis` (or elements of the flattened input when axis is absent)
// whose condition entry is true. A short condition leaves the remaining slices out; a long one may
// only hold false past the end (as numpy.compress).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Compress final : public Kernel {
 public:
  Compress(const Node& node, int64_t opset) : has_axis_(node.has_attr("axis")), axis_(node.attr_int("axis", 0)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (ctx.input_dtype(1) != DType::kBool) ctx.fail(std::string("condition must be bool, got ") + dtype_name(ctx.input_dtype(1)));
    if (ctx.input_shape(1).size() != 1) ctx.fail("condition must be 1-D, got shape " + shape_str(ctx.input_shape(1)));
    const int64_t rank = static_cast<int64_t>(in.size());
    if (has_axis_) {
      if (rank == 0) ctx.fail("axis is given but the input is a scalar");
      if (axis_ < -rank || axis_ >= rank)
        ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
      const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
      out_shape_ = in;
      outer_ = inner_ = 1;
      for (int64_t d = 0; d < rank; ++d) {
        if (d < axis) outer_ *= in[d];
        if (d > axis) inner_ *= in[d];
      }
      dim_ = in[axis];
      axis_index_ = static_cast<size_t>(axis);
    } else {
      dim_ = shape_numel(in);
      out_shape_ = {dim_};
      outer_ = inner_ = 1;
      axis_index_ = 0;
    }
    ctx.set_output_dynamic(0, ctx.input_dtype(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const Tensor& condition = ctx.input(1);
    const bool* keep = condition.data<bool>();
    const int64_t len = condition.numel();
    int64_t kept = 0;
    for (int64_t i = 0; i < len; ++i) {
      if (!keep[i]) continue;
      if (i >= dim_)
        ctx.fail("condition entry " + std::to_string(i) + " is true but the axis has size " + std::to_string(dim_));
      ++kept;
    }
    out_shape_[axis_index_] = kept;
    Tensor& out = ctx.allocate_output(0, in.dtype(), out_shape_);
    const DType dtype = in.dtype();
    const int64_t usable = std::min(len, dim_);
    int64_t row = 0;
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < usable; ++i)
        if (keep[i])
          copy_elements(dtype, element_at(out.raw(), dtype, (row++) * inner_),
                        element_at(in.raw(), dtype, (o * dim_ + i) * inner_), inner_);
  }

 private:
  bool has_axis_;
  int64_t axis_;
  size_t axis_index_ = 0;
  Shape out_shape_;
  int64_t outer_ = 1, inner_ = 1, dim_ = 0;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Compress", Compress);
}  // namespace edgerun
