// Squeeze: removes size-1 dims, the listed axes (attribute before opset 13, optional input from 13)
// or all of them.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Squeeze final : public SameOrderKernel {
 public:
  Squeeze(const Node& node, int64_t opset)
      : axes_from_input_(opset >= 13), has_attr_axes_(node.has_attr("axes")), attr_axes_(node.attr_ints("axes")) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<bool> drop(in.size(), false);
    bool listed = false;
    std::vector<int64_t> axes;
    if (axes_from_input_) {
      if (ctx.has_input(1)) {
        axes = read_index_list(ctx, ctx.require_value(1), "axes");
        listed = true;
      }
    } else if (has_attr_axes_) {
      axes = attr_axes_;
      listed = true;
    }
    if (listed) {
      for (int64_t a : normalize_axes(ctx, axes, rank, "axis")) {
        if (in[a] != 1)
          ctx.fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_str(in) + ": its size is not 1");
        drop[a] = true;
      }
    } else {
      for (int64_t d = 0; d < rank; ++d) drop[d] = in[d] == 1;
    }
    Shape out;
    for (int64_t d = 0; d < rank; ++d)
      if (!drop[d]) out.push_back(in[d]);
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

 private:
  bool axes_from_input_;
  bool has_attr_axes_;
  std::vector<int64_t> attr_axes_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Squeeze", Squeeze);
}  // namespace edgerun
