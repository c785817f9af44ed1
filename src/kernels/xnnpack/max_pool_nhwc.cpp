// edgerun.MaxPoolNhwc: 2-D float32 or int8 MaxPool (no Indices output) on NHWC tensors, through XNNPACK.
// Attributes are those of ONNX MaxPool.
#include "kernels/xnnpack/pool_window.h"
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {
namespace {

class MaxPoolNhwc final : public Kernel {
 public:
  MaxPoolNhwc(const Node& node, int64_t) : attrs_(WindowAttributes::from_node(node)) {
    if (attrs_.kernel_shape.size() != 2)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": expects a 2-D kernel_shape");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    int8_ = ctx.input_dtype(0) == DType::kInt8;
    if ((!int8_ && ctx.input_dtype(0) != DType::kFloat32) || x.size() != 4)
      ctx.fail("expects a 4-D float32 or int8 NHWC input, got " + shape_str(x));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, attrs_.kernel_shape);
    ctx.set_output(0, ctx.input_dtype(0), {x[0], g.out[0], g.out[1], x[3]});
    batch_ = x[0];
    height_ = x[1];
    width_ = x[2];
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    const PoolPadding p = pool_padding(g);
    const std::vector<int64_t> key = {p.top, p.right, p.bottom, p.left, x[3], int8_};
    if (op_ && key == key_) return;
    key_ = key;
    const uint32_t kh = static_cast<uint32_t>(g.kernel[0]), kw = static_cast<uint32_t>(g.kernel[1]);
    const uint32_t sh = static_cast<uint32_t>(g.stride[0]), sw = static_cast<uint32_t>(g.stride[1]);
    const uint32_t dh = static_cast<uint32_t>(g.dilation[0]), dw = static_cast<uint32_t>(g.dilation[1]);
    xnn_operator_t op = nullptr;
    if (int8_)
      check_xnn(xnn_create_max_pooling2d_nhwc_s8(p.top, p.right, p.bottom, p.left, kh, kw, sh, sw, dh, dw, x[3], x[3],
                                                 x[3], -128, 127, 0, &op),
                ctx.node(), "xnn_create_max_pooling2d_nhwc_s8");
    else
      check_xnn(xnn_create_max_pooling2d_nhwc_f32(p.top, p.right, p.bottom, p.left, kh, kw, sh, sw, dh, dw, x[3], x[3],
                                                  x[3], -std::numeric_limits<float>::infinity(),
                                                  std::numeric_limits<float>::infinity(), 0, &op),
                ctx.node(), "xnn_create_max_pooling2d_nhwc_f32");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    if (int8_)
      check_xnn(xnn_setup_max_pooling2d_nhwc_s8(op_.get(), batch_, height_, width_, ctx.input(0).data<int8_t>(),
                                                ctx.output(0).data<int8_t>(), threads),
                ctx.node(), "xnn_setup_max_pooling2d_nhwc_s8");
    else
      check_xnn(xnn_setup_max_pooling2d_nhwc_f32(op_.get(), batch_, height_, width_, ctx.input(0).data<float>(),
                                                 ctx.output(0).data<float>(), threads),
                ctx.node(), "xnn_setup_max_pooling2d_nhwc_f32");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  WindowAttributes attrs_;
  XnnOperator op_;
  std::vector<int64_t> key_;
  size_t batch_ = 0, height_ = 0, width_ = 0;
  bool empty_ = false;
  bool int8_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "MaxPoolNhwc", MaxPoolNhwc);

}  // namespace edgerun
