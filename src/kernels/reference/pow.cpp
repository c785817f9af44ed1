// Pow with numpy broadcasting. From opset 12 the exponent may have another dtype than the base;
// the output has the base's dtype.
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

// Integer power by squaring, wrapping like the other integer arithmetic.
template <typename T, typename E>
T int_pow(T base, E exp, bool& undefined) {
  if constexpr (std::is_signed_v<E>) {
    if (exp < 0) {
      // The real result truncated toward zero; 0 to a negative power has none.
      if (base == 0) { undefined = true; return 0; }
      if (base == 1) return 1;
      if constexpr (std::is_signed_v<T>)
        if (base == -1) return (exp % 2 == 0) ? T(1) : T(-1);
      return 0;
    }
  }
  T result = 1;
  uint64_t e = static_cast<uint64_t>(exp);
  while (e) {
    if (e & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    e >>= 1;
  }
  return result;
}

class Pow final : public Kernel {
 public:
  Pow(const Node&, int64_t opset) : opset_(opset) {}

  void prepare(PrepareContext& ctx) override {
    const DType base = ctx.input_dtype(0), exp = ctx.input_dtype(1);
    if (opset_ < 12) {
      if (!is_float_dtype(base) || exp != base)
        ctx.fail(std::string("base and exponent have dtypes ") + dtype_name(base) + " and " + dtype_name(exp) +
                 "; before opset 12 both must be the same floating-point dtype");
    } else {
      if (!is_float_dtype(base) && base != DType::kInt32 && base != DType::kInt64)
        ctx.fail(std::string("base has dtype ") + dtype_name(base) + ", expected a floating-point dtype, int32 or int64");
      if (!is_float_dtype(exp) && !is_int_dtype(exp))
        ctx.fail(std::string("exponent has dtype ") + dtype_name(exp) + ", expected a numeric dtype");
    }
    ctx.set_output(0, base, plan_binary(ctx, plan_));
  }

  void run(RunContext& ctx) override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor& out = ctx.output(0);
    bool undefined = false;
    dispatch_dtype<kNumeric>(a.dtype(), [&](auto base_tag) {
      using T = decltype(base_tag);
      if constexpr (is_float_v<T> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
        dispatch_dtype<kNumeric>(b.dtype(), [&](auto exp_tag) {
          using E = decltype(exp_tag);
          const T* pa = a.data<T>();
          const E* pb = b.data<E>();
          T* po = out.data<T>();
          if constexpr (is_float_v<T> && std::is_same_v<compute_t<T>, compute_t<E>>) {
            broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) { return std::pow(x, y); });
          } else if constexpr (is_float_v<T>) {
            broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) {
              return static_cast<compute_t<T>>(std::pow(static_cast<double>(x), static_cast<double>(y)));
            });
          } else if constexpr (is_float_v<E>) {
            broadcast_binary(plan_, pa, pb, po, [](auto x, auto y) {
              return saturate_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
            });
          } else {
            broadcast_binary(plan_, pa, pb, po, [&undefined](T x, E y) { return int_pow(x, y, undefined); });
          }
        });
      }
    });
    if (undefined) ctx.fail("integer 0 raised to a negative power");
  }

 private:
  int64_t opset_;
  BroadcastPlan<2> plan_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Pow", Pow);

}  // namespace edgerun
