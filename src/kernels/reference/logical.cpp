// Boolean And, Or, Xor (numpy broadcasting) and Not.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Logic { kAnd, kOr, kXor };

template <Logic L>
class LogicalBinary final : public Kernel {
 public:
  LogicalBinary(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    for (size_t i = 0; i < 2; ++i)
      if (ctx.input_dtype(i) != DType::kBool)
        ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected bool");
    ctx.set_output(0, DType::kBool, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const bool* pa = ctx.input(0).data<bool>();
    const bool* pb = ctx.input(1).data<bool>();
    bool* po = ctx.output(0).data<bool>();
    if constexpr (L == Logic::kAnd) broadcast_binary(plan_, pa, pb, po, [](bool x, bool y) { return x && y; });
    if constexpr (L == Logic::kOr) broadcast_binary(plan_, pa, pb, po, [](bool x, bool y) { return x || y; });
    if constexpr (L == Logic::kXor) broadcast_binary(plan_, pa, pb, po, [](bool x, bool y) { return x != y; });
  }

 private:
  BroadcastPlan<2> plan_;
};

class Not final : public Kernel {
 public:
  Not(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kBool)
      ctx.fail(std::string("input has dtype ") + dtype_name(ctx.input_dtype(0)) + ", expected bool");
    ctx.set_output(0, DType::kBool, ctx.input_shape(0));
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    unary_loop(in.data<bool>(), ctx.output(0).data<bool>(), in.numel(), [](bool x) { return !x; });
  }
};

}  // namespace

EDGERUN_REGISTER_KERNEL("And", LogicalBinary<Logic::kAnd>);
EDGERUN_REGISTER_KERNEL("Or", LogicalBinary<Logic::kOr>);
EDGERUN_REGISTER_KERNEL("Xor", LogicalBinary<Logic::kXor>);
EDGERUN_REGISTER_KERNEL("Not", Not);

}  // namespace edgerun
