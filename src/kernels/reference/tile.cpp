// Tile: repeats the input repeats[d] times along each axis d.
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Tile final : public Kernel {
 public:
  Tile(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const Tensor& repeats_t = ctx.require_value(1);
    if (repeats_t.dtype() != DType::kInt64)
      ctx.fail(std::string("repeats must be int64, got ") + dtype_name(repeats_t.dtype()));
    const auto repeats = read_index_list(ctx, repeats_t, "repeats");
    if (repeats.size() != in.size())
      ctx.fail("repeats has " + std::to_string(repeats.size()) + " entries for an input of rank " + std::to_string(in.size()));
    // As a view of rank 2*r: dims (repeats[d], in[d]) with the repeat dim reading stride 0.
    const auto strides = strides_of(in);
    Shape out(in.size()), view;
    std::vector<int64_t> view_strides;
    for (size_t d = 0; d < in.size(); ++d) {
      if (repeats[d] < 0) ctx.fail("repeats " + shape_str(repeats) + " has a negative entry");
      out[d] = checked_mul(ctx, in[d], repeats[d], "the output size of axis " + std::to_string(d));
      view.push_back(repeats[d]);
      view.push_back(in[d]);
      view_strides.push_back(0);
      view_strides.push_back(strides[d]);
    }
    shape_numel(view);
    copy_.set(view, view_strides, 0);
    ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  }

  void run(RunContext& ctx) override { copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw()); }

 private:
  StridedCopy copy_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Tile", Tile);
}  // namespace edgerun
