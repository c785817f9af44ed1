// edgerun.NchwToNhwc: a 4-D float32 tensor from [N, C, H, W] to [N, H, W, C]. The NHWC pass puts it
// where a value enters the NHWC part of a graph.
#include "kernels/kernel.h"
#include "kernels/layout/transpose_2d.h"

namespace edgerun {
namespace {

class NchwToNhwc final : public Kernel {
 public:
  NchwToNhwc(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kFloat32 || x.size() != 4) ctx.fail("expects a 4-D float32 input, got " + shape_str(x));
    ctx.set_output(0, DType::kFloat32, {x[0], x[2], x[3], x[1]});
    batch_ = x[0];
    channels_ = x[1];
    pixels_ = x[2] * x[3];
  }

  void run(RunContext& ctx) override {
    transpose_2d(ctx.input(0).data<float>(), ctx.output(0).data<float>(), batch_, channels_, pixels_, ctx.threads());
  }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "NchwToNhwc", NchwToNhwc);

}  // namespace edgerun
