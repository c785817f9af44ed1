// BitwiseAnd, BitwiseOr, BitwiseXor (numpy broadcasting) and BitwiseNot on integer tensors.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Bits { kAnd, kOr, kXor };

void require_int(PrepareContext& ctx, DType t) {
  if (!is_int_dtype(t)) ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected an integer dtype");
}

template <Bits B>
class BitwiseBinary final : public Kernel {
 public:
  BitwiseBinary(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    require_int(ctx, t);
    ctx.set_output(0, t, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kInts>(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = out.data<T>();
      if constexpr (B == Bits::kAnd) broadcast_binary(plan_, pa, pb, po, [](T x, T y) { return T(x & y); });
      if constexpr (B == Bits::kOr) broadcast_binary(plan_, pa, pb, po, [](T x, T y) { return T(x | y); });
      if constexpr (B == Bits::kXor) broadcast_binary(plan_, pa, pb, po, [](T x, T y) { return T(x ^ y); });
    });
  }

 private:
  BroadcastPlan<2> plan_;
};

class BitwiseNot final : public Kernel {
 public:
  BitwiseNot(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override {
    require_int(ctx, ctx.input_dtype(0));
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kInts>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      unary_loop(in.data<T>(), out.data<T>(), in.numel(), [](T x) { return T(~x); });
    });
  }
};

}  // namespace

EDGERUN_REGISTER_KERNEL("BitwiseAnd", BitwiseBinary<Bits::kAnd>);
EDGERUN_REGISTER_KERNEL("BitwiseOr", BitwiseBinary<Bits::kOr>);
EDGERUN_REGISTER_KERNEL("BitwiseXor", BitwiseBinary<Bits::kXor>);
EDGERUN_REGISTER_KERNEL("BitwiseNot", BitwiseNot);

}  // namespace edgerun
