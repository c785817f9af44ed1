// DepthToSpace and SpaceToDepth: move blocksize x blocksize groups between the channel dim and the
// spatial dims of an NCHW tensor. DepthToSpace orders channels depth-column-row (DCR, default) or
// column-row-depth (CRD, opset 11).
#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class DepthToSpace final : public Kernel {
 public:
  DepthToSpace(const Node& node, int64_t opset) : block_(node.attr_int("blocksize", 0)) {
    if (block_ <= 0) throw Error(ErrorCode::kInvalidModel, node.describe() + ": blocksize must be positive");
    const std::string mode = node.attr_string("mode", "DCR");
    if (mode != "DCR" && mode != "CRD")
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": mode must be DCR or CRD, got '" + mode + "'");
    crd_ = mode == "CRD";
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (in.size() != 4) ctx.fail("input must be 4-D (NCHW), got shape " + shape_str(in));
    const int64_t n = in[0], c = in[1], h = in[2], w = in[3], b = block_;
    const int64_t bb = checked_mul(ctx, b, b, "blocksize^2");
    if (c % bb != 0)
      ctx.fail("channels " + std::to_string(c) + " are not divisible by blocksize^2 = " + std::to_string(bb));
    const int64_t oc = c / bb;
    const auto s = strides_of(in);
    // View dims [N, C', H, b_row, W, b_col]; the input channel is (row*b + col)*C' + c' in DCR
    // and c'*b*b + row*b + col in CRD.
    const Shape view{n, oc, h, b, w, b};
    std::vector<int64_t> strides(6, 0);  // an empty tensor reads nothing
    if (shape_numel(in) > 0)
      strides = crd_ ? std::vector<int64_t>{s[0], b * b * s[1], s[2], b * s[1], s[3], s[1]}
                     : std::vector<int64_t>{s[0], s[1], s[2], b * oc * s[1], s[3], oc * s[1]};
    copy_.set(view, strides, 0);
    ctx.set_output(0, ctx.input_dtype(0), {n, oc, checked_mul(ctx, h, b, "the output height"), checked_mul(ctx, w, b, "the output width")});
  }

  void run(RunContext& ctx) override { copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw()); }

 private:
  int64_t block_;
  bool crd_ = false;
  StridedCopy copy_;
};

class SpaceToDepth final : public Kernel {
 public:
  SpaceToDepth(const Node& node, int64_t opset) : block_(node.attr_int("blocksize", 0)) {
    if (block_ <= 0) throw Error(ErrorCode::kInvalidModel, node.describe() + ": blocksize must be positive");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (in.size() != 4) ctx.fail("input must be 4-D (NCHW), got shape " + shape_str(in));
    const int64_t n = in[0], c = in[1], h = in[2], w = in[3], b = block_;
    if (h % b != 0 || w % b != 0)
      ctx.fail("spatial dims " + std::to_string(h) + "x" + std::to_string(w) + " are not divisible by blocksize " +
               std::to_string(b));
    const auto s = strides_of(in);
    // View dims [N, b_row, b_col, C, H/b, W/b]: output channel (row*b + col)*C + c.
    const Shape view{n, b, b, c, h / b, w / b};
    std::vector<int64_t> strides(6, 0);  // an empty tensor reads nothing
    if (shape_numel(in) > 0) strides = {s[0], s[2], s[3], s[1], b * s[2], b * s[3]};
    copy_.set(view, strides, 0);
    const int64_t channels = checked_mul(ctx, c, checked_mul(ctx, b, b, "blocksize^2"), "the output channels");
    ctx.set_output(0, ctx.input_dtype(0), {n, channels, h / b, w / b});
  }

  void run(RunContext& ctx) override { copy_.run(ctx.input(0).dtype(), ctx.input(0).raw(), ctx.output(0).raw()); }

 private:
  int64_t block_;
  StridedCopy copy_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("DepthToSpace", DepthToSpace);
EDGERUN_REGISTER_KERNEL("SpaceToDepth", SpaceToDepth);
}  // namespace edgerun
