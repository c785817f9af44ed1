// edgerun.GlobalAveragePoolNhwc: float32 GlobalAveragePool on a 4-D NHWC tensor ([N, 1, 1, C] out),
// through XNNPACK.
#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {
namespace {

class GlobalAveragePoolNhwc final : public Kernel {
 public:
  GlobalAveragePoolNhwc(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kFloat32 || x.size() != 4) ctx.fail("expects a 4-D float32 NHWC input, got " + shape_str(x));
    ctx.set_output(0, DType::kFloat32, {x[0], 1, 1, x[3]});
    batch_ = x[0];
    pixels_ = x[1] * x[2];
    empty_ = shape_numel(x) == 0;
    if (op_ && channels_ == x[3]) return;
    channels_ = x[3];
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_global_average_pooling_nwc_f32(channels_, channels_, channels_,
                                                        -std::numeric_limits<float>::infinity(),
                                                        std::numeric_limits<float>::infinity(), 0, &op),
              ctx.node(), "xnn_create_global_average_pooling_nwc_f32");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_global_average_pooling_nwc_f32(op_.get(), batch_, pixels_, ctx.input(0).data<float>(),
                                                       ctx.output(0).data<float>(), threads),
              ctx.node(), "xnn_setup_global_average_pooling_nwc_f32");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  XnnOperator op_;
  size_t channels_ = 0, batch_ = 0, pixels_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "GlobalAveragePoolNhwc", GlobalAveragePoolNhwc);

}  // namespace edgerun
