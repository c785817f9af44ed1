// edgerun.NhwcToNchw: a 4-D float32 tensor from [N, H, W, C] back to [N, C, H, W], where a value
// leaves the NHWC part of a graph.
#include "kernels/kernel.h"
#include "kernels/layout/transpose_2d.h"

namespace edgerun {
namespace {

class NhwcToNchw final : public Kernel {
 public:
  NhwcToNchw(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kFloat32 || x.size() != 4) ctx.fail("expects a 4-D float32 input, got " + shape_str(x));
    ctx.set_output(0, DType::kFloat32, {x[0], x[3], x[1], x[2]});
    batch_ = x[0];
    channels_ = x[3];
    pixels_ = x[1] * x[2];
  }

  void run(RunContext& ctx) override {
    transpose_2d(ctx.input(0).data<float>(), ctx.output(0).data<float>(), batch_, pixels_, channels_, ctx.threads());
  }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "NhwcToNchw", NhwcToNchw);

}  // namespace edgerun
