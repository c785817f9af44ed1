// edgerun.QLinearGlobalAveragePool: GlobalAveragePool on int8 data with per-tensor quantization, through
// XNNPACK. Inputs: X, x_scale, x_zero_point, y_scale, y_zero_point (constants). With channels_last = 1,
// X is 4-D NHWC and Y is [N, 1, 1, C]; otherwise X is [N, C, spatial...] and Y is [N, C, 1, ...], each
// plane averaged as a one-channel row.
#include "kernels/xnnpack/int8_params.h"

namespace edgerun {
namespace {

class QLinearGlobalAveragePool final : public Kernel {
 public:
  QLinearGlobalAveragePool(const Node& node, int64_t) : channels_last_(node.attr_int("channels_last", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kInt8) ctx.fail("expects int8 X");
    if (channels_last_ ? x.size() != 4 : x.size() < 3)
      ctx.fail("expects " + std::string(channels_last_ ? "a 4-D NHWC" : "an [N, C, spatial...]") + " input, got " + shape_str(x));
    Shape y(x.size(), 1);
    size_t channels;
    if (channels_last_) {
      y[0] = x[0];
      y[3] = x[3];
      channels = static_cast<size_t>(x[3]);
      batch_ = static_cast<size_t>(x[0]);
    } else {
      y[0] = x[0];
      y[1] = x[1];
      channels = 1;
      batch_ = static_cast<size_t>(x[0] * x[1]);
    }
    pixels_ = static_cast<size_t>(channels ? shape_numel(x) / static_cast<int64_t>(batch_ ? batch_ * channels : 1) : 0);
    ctx.set_output(0, DType::kInt8, y);
    empty_ = shape_numel(y) == 0;
    if (!empty_ && pixels_ == 0) ctx.unsupported("empty spatial dimensions");
    if ((op_ && channels == channels_) || empty_) return;
    channels_ = channels;
    const Int8Scalar xq = read_int8_quant(ctx, 1, 2), yq = read_int8_quant(ctx, 3, 4);
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_global_average_pooling_nwc_qs8(channels_, channels_, channels_, xq.zero_point, xq.scale,
                                                        yq.zero_point, yq.scale, -128, 127, 0, &op),
              ctx.node(), "xnn_create_global_average_pooling_nwc_qs8");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_global_average_pooling_nwc_qs8(op_.get(), batch_, pixels_, ctx.input(0).data<int8_t>(),
                                                       ctx.output(0).data<int8_t>(), threads),
              ctx.node(), "xnn_setup_global_average_pooling_nwc_qs8");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  bool channels_last_;
  XnnOperator op_;
  size_t channels_ = 0, batch_ = 0, pixels_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QLinearGlobalAveragePool", QLinearGlobalAveragePool);

}  // namespace edgerun
