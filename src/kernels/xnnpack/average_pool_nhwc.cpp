// edgerun.AveragePoolNhwc: 2-D float32 AveragePool on NHWC tensors, through XNNPACK (padding is
// excluded from the average).
// Attributes are those of ONNX AveragePool; the pass rewrites only nodes whose count_include_pad
// setting makes no difference or is 0.
#include "kernels/xnnpack/pool_window.h"
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {
namespace {

class AveragePoolNhwc final : public Kernel {
 public:
  AveragePoolNhwc(const Node& node, int64_t) : attrs_(WindowAttributes::from_node(node)) {
    if (attrs_.kernel_shape.size() != 2)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": expects a 2-D kernel_shape");
  }

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kFloat32 || x.size() != 4) ctx.fail("expects a 4-D float32 NHWC input, got " + shape_str(x));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, attrs_.kernel_shape);
    ctx.set_output(0, DType::kFloat32, {x[0], g.out[0], g.out[1], x[3]});
    batch_ = x[0];
    height_ = x[1];
    width_ = x[2];
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    const PoolPadding p = pool_padding(g);
    const std::vector<int64_t> key = {p.top, p.right, p.bottom, p.left, x[3]};
    if (op_ && key == key_) return;
    key_ = key;
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_average_pooling2d_nhwc_f32(p.top, p.right, p.bottom, p.left, static_cast<uint32_t>(g.kernel[0]),
                                                static_cast<uint32_t>(g.kernel[1]), static_cast<uint32_t>(g.stride[0]),
                                                static_cast<uint32_t>(g.stride[1]), x[3], x[3], x[3],
                                                -std::numeric_limits<float>::infinity(),
                                                std::numeric_limits<float>::infinity(), 0, &op),
              ctx.node(), "xnn_create_average_pooling2d_nhwc_f32");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_average_pooling2d_nhwc_f32(op_.get(), batch_, height_, width_, ctx.input(0).data<float>(),
                                               ctx.output(0).data<float>(), threads),
              ctx.node(), "xnn_setup_average_pooling2d_nhwc_f32");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  WindowAttributes attrs_;
  XnnOperator op_;
  std::vector<int64_t> key_;
  size_t batch_ = 0, height_ = 0, width_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "AveragePoolNhwc", AveragePoolNhwc);

}  // namespace edgerun
