// edgerun.NchwToNhwc: a 4-D float32 or 8-bit tensor from [N, C, H, W] to [N, H, W, C]. The NHWC pass puts it
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
    dtype_ = ctx.input_dtype(0);
    if (!layout_convertible(dtype_) || x.size() != 4)
      ctx.fail("expects a 4-D float32, int8 or uint8 input, got " + std::string(dtype_name(dtype_)) + " " + shape_str(x));
    ctx.set_output(0, dtype_, {x[0], x[2], x[3], x[1]});
    batch_ = x[0];
    channels_ = x[1];
    pixels_ = x[2] * x[3];
  }

  void run(RunContext& ctx) override {
    transpose_2d_any(dtype_, ctx.input(0).raw(), ctx.output(0).raw(), batch_, channels_, pixels_, ctx.threads());
  }

 private:
  DType dtype_ = DType::kFloat32;
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "NchwToNhwc", NchwToNhwc);

}  // namespace edgerun
