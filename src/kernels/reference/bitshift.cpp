// BitShift on unsigned integers with numpy broadcasting; shifting by the bit width or more gives 0.
#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

class BitShift final : public Kernel {
 public:
  BitShift(const Node& node, int64_t) {
    const std::string direction = node.attr_string("direction", "");
    if (direction != "LEFT" && direction != "RIGHT")
      throw Error(ErrorCode::kInvalidModel,
                  node.describe() + ": direction must be \"LEFT\" or \"RIGHT\", got \"" + direction + "\"");
    left_ = direction == "LEFT";
  }

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    if (!is_unsigned_int_dtype(t))
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected an unsigned integer dtype");
    ctx.set_output(0, t, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kInts>(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_unsigned_v<T>) {
        constexpr T bits = sizeof(T) * 8;
        const T* pa = a.data<T>();
        const T* pb = b.data<T>();
        T* po = out.data<T>();
        if (left_) broadcast_binary(plan_, pa, pb, po, [](T x, T s) { return s >= bits ? T(0) : T(x << s); });
        else broadcast_binary(plan_, pa, pb, po, [](T x, T s) { return s >= bits ? T(0) : T(x >> s); });
      }
    });
  }

 private:
  bool left_ = true;
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("BitShift", BitShift);

}  // namespace edgerun
