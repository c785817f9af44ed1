// edgerun.QFullyConnected: Y[..., N] = A[..., K] x W + bias on int8 data with constant int8 W, through
// XNNPACK. Inputs in QLinearMatMul order plus an optional int32 bias: A, a_scale, a_zero_point, W,
// w_scale (1 or N values), w_zero_point (absent or zero), y_scale, y_zero_point, bias. W is [N, K], or
// [K, N] when transpose_weights = 1. XNNPACK's int8 fully connected operator has a single weight scale,
// so this runs as a 1x1 qc8 convolution over the rows of A (per-channel scales, same arithmetic).
#include "kernels/fully_connected_shape.h"
#include "kernels/xnnpack/int8_params.h"

namespace edgerun {
namespace {

class QFullyConnected final : public Kernel {
 public:
  QFullyConnected(const Node& node, int64_t)
      : transpose_weights_(node.attr_int("transpose_weights", 0) != 0), range_(Int8Range::from_node(node)) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kInt8 || ctx.input_dtype(3) != DType::kInt8) ctx.fail("expects int8 A and W");
    const FullyConnectedShape shape = fully_connected_shape(ctx, 3, transpose_weights_);
    const int64_t k = shape.k, n = shape.n;
    if (ctx.has_input(8) && (ctx.input_dtype(8) != DType::kInt32 || shape_numel(ctx.input_shape(8)) != n))
      ctx.fail("bias must be int32 with " + std::to_string(n) + " values");
    ctx.set_output(0, DType::kInt8, shape.y);
    rows_ = static_cast<size_t>(shape.rows);
    empty_ = shape_numel(shape.y) == 0;
    if (op_ || empty_) return;  // the packed operator does not depend on the number of rows
    if (k == 0) ctx.unsupported("an empty inner dimension");
    const Int8Scalar aq = read_int8_quant(ctx, 1, 2);
    const Int8Scalar yq = read_int8_quant(ctx, 6, 7);
    const std::vector<float> w_scales = read_weight_scales(ctx, 4, 5, n);
    const int8_t* weights = ctx.require_value(3).data<int8_t>();
    std::vector<int8_t> nk(static_cast<size_t>(n * k));  // XNNPACK wants [N][K]
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) nk[i * k + j] = transpose_weights_ ? weights[j * n + i] : weights[i * k + j];
    const int32_t* bias = ctx.has_input(8) ? ctx.require_value(8).data<int32_t>() : nullptr;
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, k, n, k, n, aq.zero_point, aq.scale,
                                                w_scales.data(), nk.data(), bias, yq.zero_point, yq.scale, range_.min,
                                                range_.max, 0, &op),
              ctx.node(), "xnn_create_convolution2d_nhwc_qc8");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_convolution2d_nhwc_qc8(op_.get(), 1, rows_, 1, ctx.input(0).data<int8_t>(),
                                               ctx.output(0).data<int8_t>(), threads),
              ctx.node(), "xnn_setup_convolution2d_nhwc_qc8");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  bool transpose_weights_;
  Int8Range range_;
  XnnOperator op_;
  size_t rows_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QFullyConnected", QFullyConnected);

}  // namespace edgerun
