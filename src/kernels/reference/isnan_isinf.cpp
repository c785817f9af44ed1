// IsNaN and IsInf (with detect_positive / detect_negative): bool masks of floating-point inputs.
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

void require_float(PrepareContext& ctx) {
  if (!is_float_dtype(ctx.input_dtype(0)))
    ctx.fail(std::string("input has dtype ") + dtype_name(ctx.input_dtype(0)) + ", expected a floating-point dtype");
  ctx.set_output(0, DType::kBool, ctx.input_shape(0));
}

class IsNaN final : public Kernel {
 public:
  IsNaN(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override { require_float(ctx); }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    dispatch_dtype<kFloats>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      unary_loop(in.data<T>(), ctx.output(0).data<bool>(), in.numel(), [](auto x) { return std::isnan(x); });
    });
  }
};

class IsInf final : public Kernel {
 public:
  IsInf(const Node& node, int64_t)
      : positive_(node.attr_int("detect_positive", 1) != 0), negative_(node.attr_int("detect_negative", 1) != 0) {}
  void prepare(PrepareContext& ctx) override { require_float(ctx); }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const bool pos = positive_, neg = negative_;
    dispatch_dtype<kFloats>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      unary_loop(in.data<T>(), ctx.output(0).data<bool>(), in.numel(), [pos, neg](auto x) {
        return std::isinf(x) && (x > 0 ? pos : neg);
      });
    });
  }

 private:
  bool positive_, negative_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("IsNaN", IsNaN);
EDGERUN_REGISTER_KERNEL("IsInf", IsInf);

}  // namespace edgerun
