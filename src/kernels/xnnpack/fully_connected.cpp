// edgerun.FullyConnected: Y[..., N] = A[..., K] x W + bias with constant float32 W, through XNNPACK.
// W is [N, K] (Gemm with transB) or [K, N] when transpose_weights = 1 (MatMul, Gemm without transB);
// bias is optional with N values. Written by the UseFullyConnected pass for Gemm and MatMul.
// Where the CPU has AVX2 and FMA it runs on FullyConnectedF32 (a batch-1 head is bound by how fast the
// weights stream in, and that kernel streams them faster than this XNNPACK build); elsewhere on XNNPACK.
#include <memory>

#include "kernels/fully_connected_shape.h"
#include "kernels/x86/fully_connected_f32.h"
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {
namespace {

class FullyConnected final : public Kernel {
 public:
  FullyConnected(const Node& node, int64_t)
      : transpose_weights_(node.attr_int("transpose_weights", 0) != 0), range_(OutputRange::from_node(node)) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32 || ctx.input_dtype(1) != DType::kFloat32)
      ctx.fail("expects float32 A and W");
    const FullyConnectedShape shape = fully_connected_shape(ctx, 1, transpose_weights_);
    const int64_t k = shape.k, n = shape.n;
    if (ctx.has_input(2) && shape_numel(ctx.input_shape(2)) != n)
      ctx.fail("bias has shape " + shape_str(ctx.input_shape(2)) + ", expected " + std::to_string(n) + " values");
    ctx.set_output(0, DType::kFloat32, shape.y);
    batch_ = static_cast<size_t>(shape.rows);
    empty_ = shape_numel(shape.y) == 0;
    if (own_ || op_ || empty_ || k == 0) return;  // the packed weights do not depend on the batch size
    const float* bias = ctx.has_input(2) ? ctx.require_value(2).data<float>() : nullptr;
    if (FullyConnectedF32::supported()) {
      own_ = std::make_unique<FullyConnectedF32>();
      own_->pack(ctx.require_value(1).data<float>(), bias, k, n, transpose_weights_, range_.min, range_.max);
      return;
    }
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_fully_connected_nc_f32(k, n, k, n, ctx.require_value(1).data<float>(), bias, range_.min,
                                                range_.max, transpose_weights_ ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0, &op),
              ctx.node(), "xnn_create_fully_connected_nc_f32");
    op_.reset(op);
  }

  bool packed_input(size_t index) const override { return (own_ || op_) && (index == 1 || index == 2); }

  void run(RunContext& ctx) override {
    if (empty_) return;
    if (own_) {
      own_->run(ctx.input(0).data<float>(), ctx.output(0).data<float>(), static_cast<int64_t>(batch_), ctx.threads());
      return;
    }
    if (!op_) ctx.fail("empty inner dimension");
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_fully_connected_nc_f32(op_.get(), batch_, ctx.input(0).data<float>(),
                                               ctx.output(0).data<float>(), threads),
              ctx.node(), "xnn_setup_fully_connected_nc_f32");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  bool transpose_weights_;
  OutputRange range_;
  XnnOperator op_;
  std::unique_ptr<FullyConnectedF32> own_;
  size_t batch_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "FullyConnected", FullyConnected);

}  // namespace edgerun
