// edgerun.QConvNhwc: 2-D int8 convolution on NHWC tensors with constant int8 weights, through
// XNNPACK's qc8 operator (per-channel weight scales; a per-tensor scale is the one-value case).
// Inputs and attributes are those of ONNX QLinearConv (W in ONNX layout [M, C/group, kH, kW], zero
// weight zero points, optional int32 bias), plus an optional fused int8 output clamp.
#include "kernels/reference/window_geometry.h"
#include "kernels/xnnpack/int8_params.h"

namespace edgerun {
namespace {

class QConvNhwc final : public Kernel {
 public:
  QConvNhwc(const Node& node, int64_t)
      : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)), range_(Int8Range::from_node(node)) {
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": group must be positive");
  }

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kInt8 || ctx.input_dtype(3) != DType::kInt8) ctx.fail("expects int8 X and W");
    const Shape& x = ctx.input_shape(0);  // N, H, W, C
    const Shape& w = ctx.input_shape(3);  // M, C/group, kH, kW
    if (x.size() != 4 || w.size() != 4)
      ctx.fail("expects 4-D X (NHWC) and W, got " + shape_str(x) + " and " + shape_str(w));
    const int64_t channels = x[3], out_channels = w[0];
    if (channels % group_ != 0 || out_channels % group_ != 0 || w[1] * group_ != channels)
      ctx.fail("W shape " + shape_str(w) + " does not match " + std::to_string(channels) + " input channels in " +
               std::to_string(group_) + " groups");
    if (ctx.has_input(8) && (ctx.input_dtype(8) != DType::kInt32 || ctx.input_shape(8) != Shape{out_channels}))
      ctx.fail("B must be int32 with shape [" + std::to_string(out_channels) + "]");
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != std::vector<int64_t>{w[2], w[3]})
      ctx.fail("kernel_shape attribute does not match W shape " + shape_str(w));
    const WindowGeometry g = resolve_window(ctx, attrs_, {x[1], x[2]}, {w[2], w[3]});
    ctx.set_output(0, DType::kInt8, {x[0], g.out[0], g.out[1], out_channels});
    batch_ = x[0];
    height_ = x[1];
    width_ = x[2];
    empty_ = shape_numel(x) == 0 || g.out[0] * g.out[1] == 0;
    const std::vector<int64_t> pads = {g.pad_begin[0], g.pad_begin[1], g.pad_end[0], g.pad_end[1]};
    if (op_ && pads == pads_) return;  // same operator (and packed weights) for new input sizes
    pads_ = pads;
    create_operator(ctx, g, channels, out_channels, w);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_convolution2d_nhwc_qc8(op_.get(), batch_, height_, width_, ctx.input(0).data<int8_t>(),
                                               ctx.output(0).data<int8_t>(), threads),
              ctx.node(), "xnn_setup_convolution2d_nhwc_qc8");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  void create_operator(PrepareContext& ctx, const WindowGeometry& g, int64_t channels, int64_t out_channels,
                       const Shape& w) {
    const Int8Scalar xq = read_int8_quant(ctx, 1, 2);
    const Int8Scalar yq = read_int8_quant(ctx, 6, 7);
    const std::vector<float> w_scales = read_weight_scales(ctx, 4, 5, out_channels);
    const int8_t* weights = ctx.require_value(3).data<int8_t>();
    const int32_t* bias = ctx.has_input(8) ? ctx.require_value(8).data<int32_t>() : nullptr;
    // XNNPACK reads [group][M/group][kH][kW][C/group]: move the input channel innermost.
    const int64_t group_in = w[1], taps = w[2] * w[3];
    std::vector<int8_t> ohwi(static_cast<size_t>(shape_numel(w)));
    for (int64_t m = 0; m < out_channels; ++m)
      for (int64_t c = 0; c < group_in; ++c)
        for (int64_t t = 0; t < taps; ++t) ohwi[(m * taps + t) * group_in + c] = weights[(m * group_in + c) * taps + t];
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_convolution2d_nhwc_qc8(
                  static_cast<uint32_t>(g.pad_begin[0]), static_cast<uint32_t>(g.pad_end[1]),
                  static_cast<uint32_t>(g.pad_end[0]), static_cast<uint32_t>(g.pad_begin[1]),
                  static_cast<uint32_t>(w[2]), static_cast<uint32_t>(w[3]), static_cast<uint32_t>(g.stride[0]),
                  static_cast<uint32_t>(g.stride[1]), static_cast<uint32_t>(g.dilation[0]),
                  static_cast<uint32_t>(g.dilation[1]), static_cast<uint32_t>(group_), group_in, out_channels / group_,
                  channels, out_channels, xq.zero_point, xq.scale, w_scales.data(), ohwi.data(), bias, yq.zero_point,
                  yq.scale, range_.min, range_.max, 0, &op),
              ctx.node(), "xnn_create_convolution2d_nhwc_qc8");
    op_.reset(op);
  }

  WindowAttributes attrs_;
  int64_t group_;
  Int8Range range_;
  XnnOperator op_;
  std::vector<int64_t> pads_;
  size_t batch_ = 0, height_ = 0, width_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QConvNhwc", QConvNhwc);

}  // namespace edgerun
