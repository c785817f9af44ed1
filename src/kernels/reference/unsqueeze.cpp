// Unsqueeze: inserts size-1 dims at the given axes of the output (attribute before opset 13, input from 13).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Unsqueeze final : public SameOrderKernel {
 public:
  Unsqueeze(const Node& node, int64_t opset) : axes_from_input_(opset >= 13), attr_axes_(node.attr_ints("axes")) {
    if (!axes_from_input_ && !node.has_attr("axes"))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'axes' is required");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    std::vector<int64_t> axes = attr_axes_;
    if (axes_from_input_) {
      if (!ctx.has_input(1)) ctx.fail("input 'axes' is required");
      axes = read_index_list(ctx, ctx.require_value(1), "axes");
    }
    const int64_t out_rank = static_cast<int64_t>(in.size() + axes.size());
    std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
    for (int64_t a : normalize_axes(ctx, axes, out_rank, "axis")) inserted[a] = true;
    Shape out(static_cast<size_t>(out_rank));
    size_t next = 0;
    for (int64_t d = 0; d < out_rank; ++d) out[d] = inserted[d] ? 1 : in[next++];
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

 private:
  bool axes_from_input_;
  std::vector<int64_t> attr_axes_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Unsqueeze", Unsqueeze);
}  // namespace edgerun
