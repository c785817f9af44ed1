// edgerun.QLinearAdd: Y = A + B on int8 data with per-tensor quantization, numpy broadcasting (up to 6
// dimensions) and an optional fused int8 output clamp, through XNNPACK. Inputs: A, a_scale,
// a_zero_point, B, b_scale, b_zero_point, y_scale, y_zero_point (constants). Elementwise, so it runs on
// NCHW or NHWC data alike.
#include "kernels/common.h"
#include "kernels/xnnpack/int8_params.h"

namespace edgerun {
namespace {

class QLinearAdd final : public Kernel {
 public:
  QLinearAdd(const Node& node, int64_t) : range_(Int8Range::from_node(node)) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kInt8 || ctx.input_dtype(3) != DType::kInt8) ctx.fail("expects int8 A and B");
    a_ = to_sizes(ctx.input_shape(0));
    b_ = to_sizes(ctx.input_shape(3));
    if (a_.size() > XNN_MAX_TENSOR_DIMS || b_.size() > XNN_MAX_TENSOR_DIMS)
      ctx.unsupported("inputs of rank above " + std::to_string(XNN_MAX_TENSOR_DIMS));
    const Shape y = broadcast_shapes(ctx.input_shape(0), ctx.input_shape(3));
    ctx.set_output(0, DType::kInt8, y);
    empty_ = shape_numel(y) == 0;
    if (op_) return;
    const Int8Scalar aq = read_int8_quant(ctx, 1, 2), bq = read_int8_quant(ctx, 4, 5), yq = read_int8_quant(ctx, 6, 7);
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_add_nd_qs8(aq.zero_point, aq.scale, bq.zero_point, bq.scale, yq.zero_point, yq.scale,
                                    range_.min, range_.max, 0, &op),
              ctx.node(), "xnn_create_add_nd_qs8");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_add_nd_qs8(op_.get(), a_.size(), a_.data(), b_.size(), b_.data(), ctx.input(0).data<int8_t>(),
                                   ctx.input(3).data<int8_t>(), ctx.output(0).data<int8_t>(), threads),
              ctx.node(), "xnn_setup_add_nd_qs8");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  Int8Range range_;
  XnnOperator op_;
  std::vector<size_t> a_, b_;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "QLinearAdd", QLinearAdd);

}  // namespace edgerun
