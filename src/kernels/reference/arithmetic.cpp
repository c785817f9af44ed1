// Add, Sub, Mul, Div with numpy broadcasting. Integer results wrap on overflow; integer division
// truncates toward zero and rejects a zero divisor.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Op { kAdd, kSub, kMul, kDiv };

template <Op O>
class Arithmetic final : public Kernel {
 public:
  Arithmetic(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    if (!is_float_dtype(t) && !is_int_dtype(t))
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected a numeric dtype");
    ctx.set_output(0, t, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kNumeric>(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* po = out.data<T>();
      if constexpr (is_float_v<T>) {
        if constexpr (O == Op::kAdd) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x + y; });
        if constexpr (O == Op::kSub) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x - y; });
        if constexpr (O == Op::kMul) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x * y; });
        if constexpr (O == Op::kDiv) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x / y; });
      } else {
        if constexpr (O == Op::kAdd) broadcast_binary(plan_, pa, pb, po, wrap_add<T>);
        if constexpr (O == Op::kSub) broadcast_binary(plan_, pa, pb, po, wrap_sub<T>);
        if constexpr (O == Op::kMul) broadcast_binary(plan_, pa, pb, po, wrap_mul<T>);
        if constexpr (O == Op::kDiv) {
          if (plan_.numel > 0)
            for (int64_t i = 0, n = b.numel(); i < n; ++i)
              if (pb[i] == 0) ctx.fail("integer division by zero (divisor element " + std::to_string(i) + ")");
          broadcast_binary(plan_, pa, pb, po, [](T x, T y) -> T {
            if constexpr (std::is_signed_v<T>)
              if (y == -1) return wrap_neg(x);  // MIN / -1 overflows
            return static_cast<T>(x / y);
          });
        }
      }
    });
  }

 private:
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Add", Arithmetic<Op::kAdd>);
EDGERUN_REGISTER_KERNEL("Sub", Arithmetic<Op::kSub>);
EDGERUN_REGISTER_KERNEL("Mul", Arithmetic<Op::kMul>);
EDGERUN_REGISTER_KERNEL("Div", Arithmetic<Op::kDiv>);

}  // namespace edgerun
