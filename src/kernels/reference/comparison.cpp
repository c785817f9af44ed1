// Equal, Greater, Less, GreaterOrEqual, LessOrEqual with numpy broadcasting; output is bool.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Cmp { kEqual, kGreater, kLess, kGreaterOrEqual, kLessOrEqual };

template <Cmp C>
class Comparison final : public Kernel {
 public:
  Comparison(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    const bool ok = is_float_dtype(t) || is_int_dtype(t) || (C == Cmp::kEqual && t == DType::kBool);
    if (!ok)
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected a numeric" +
               (C == Cmp::kEqual ? " or bool" : "") + " dtype");
    ctx.set_output(0, DType::kBool, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    bool* po = ctx.output(0).data<bool>();
    dispatch_dtype<kAllNoString>(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      if constexpr (C == Cmp::kEqual) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x == y; });
      if constexpr (!std::is_same_v<T, bool>) {
        if constexpr (C == Cmp::kGreater) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x > y; });
        if constexpr (C == Cmp::kLess) broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x < y; });
        if constexpr (C == Cmp::kGreaterOrEqual)
          broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x >= y; });
        if constexpr (C == Cmp::kLessOrEqual)
          broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return x <= y; });
      }
    });
  }

 private:
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Equal", Comparison<Cmp::kEqual>);
EDGERUN_REGISTER_KERNEL("Greater", Comparison<Cmp::kGreater>);
EDGERUN_REGISTER_KERNEL("Less", Comparison<Cmp::kLess>);
EDGERUN_REGISTER_KERNEL("GreaterOrEqual", Comparison<Cmp::kGreaterOrEqual>);
EDGERUN_REGISTER_KERNEL("LessOrEqual", Comparison<Cmp::kLessOrEqual>);

}  // namespace edgerun
