// Flatten: a 2-D view [prod(dims before axis), prod(dims from axis)].
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Flatten final : public SameOrderKernel {
 public:
  Flatten(const Node& node, int64_t opset) : axis_(node.attr_int("axis", 1)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(in.size());
    // The axis may equal the rank: the output is then [numel, 1].
    if (axis_ < -rank || axis_ > rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= in[d];
    ctx.set_output(0, ctx.input_dtype(0), {outer, inner});
  }

 private:
  int64_t axis_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Flatten", Flatten);
}  // namespace edgerun
