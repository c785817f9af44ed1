// PRelu: x where x >= 0, slope * x elsewhere; slope broadcasts to X's shape (one direction only).
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

class PRelu final : public Kernel {
 public:
  PRelu(const Node&, int64_t opset) : opset_(opset) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    const bool ints_allowed = opset_ >= 16;
    if (!is_float_dtype(t) && !(ints_allowed && is_int_dtype(t)))
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected " +
               (ints_allowed ? "a numeric dtype" : "a floating-point dtype"));
    const Shape& x = ctx.input_shape(0);
    slope_shape_ = ctx.input_shape(1);
    // Before opset 7 a 1-D slope of length C applied per channel (axis 1), not to the last axis.
    if (opset_ < 7 && slope_shape_.size() == 1 && x.size() >= 2 && slope_shape_[0] == x[1] && x.size() > 2) {
      slope_shape_.assign(x.size() - 1, 1);
      slope_shape_[0] = x[1];
    }
    const Shape& slope = slope_shape_;
    if (broadcast_or_fail(ctx, {x, slope}) != x)
      ctx.fail("slope shape " + shape_str(slope) + " does not broadcast to the input shape " + shape_str(x));
    plan_.init(x, {&x, &slope});
    ctx.set_output(0, t, x);
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    dispatch_dtype<kNumeric>(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      const T* ps = ctx.input(1).data<T>();
      T* po = ctx.output(0).data<T>();
      if constexpr (is_float_v<T>)
        broadcast_binary(plan_, px, ps, po, [](auto v, auto s) { return v < 0 ? v * s : v; });
      else
        broadcast_binary(plan_, px, ps, po, [](T v, T s) { return v < 0 ? wrap_mul(v, s) : v; });
    });
  }

 private:
  int64_t opset_;
  Shape slope_shape_;
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("PRelu", PRelu);

}  // namespace edgerun
