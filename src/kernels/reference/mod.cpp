// Mod with numpy broadcasting. fmod=0 (integers only): the result takes the divisor's sign, like
// Python's %. fmod=1: the result takes the dividend's sign, like C's fmod.
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

class Mod final : public Kernel {
 public:
  Mod(const Node& node, int64_t) {
    const int64_t fmod = node.attr_int("fmod", 0);
    if (fmod != 0 && fmod != 1)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": fmod must be 0 or 1, got " + std::to_string(fmod));
    fmod_ = fmod == 1;
  }

  void prepare(PrepareContext& ctx) override {
    const DType t = common_input_dtype(ctx, 0, 2);
    if (!is_float_dtype(t) && !is_int_dtype(t))
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected a numeric dtype");
    if (is_float_dtype(t) && !fmod_) ctx.fail("floating-point inputs require fmod=1");
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
        broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return std::fmod(x, y); });
      } else {
        if (plan_.numel > 0)
          for (int64_t i = 0, n = b.numel(); i < n; ++i)
            if (pb[i] == 0) ctx.fail("integer modulo by zero (divisor element " + std::to_string(i) + ")");
        if (fmod_) {
          broadcast_binary(plan_, pa, pb, po, [](T x, T y) -> T {
            if constexpr (std::is_signed_v<T>)
              if (y == -1) return 0;  // MIN % -1 overflows
            return static_cast<T>(x % y);
          });
        } else {
          broadcast_binary(plan_, pa, pb, po, [](T x, T y) -> T {
            if constexpr (std::is_signed_v<T>) {
              if (y == -1) return 0;
              T r = static_cast<T>(x % y);
              if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
              return r;
            } else {
              return static_cast<T>(x % y);
            }
          });
        }
      }
    });
  }

 private:
  bool fmod_ = false;
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Mod", Mod);

}  // namespace edgerun
