// Unary math functions: Abs, Neg, Sign, Sqrt, Exp, Log, Reciprocal, Ceil, Floor, Round, Erf, Tanh and
// the trigonometric and hyperbolic functions. Output has the input's dtype and shape.
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Fn {
  kAbs, kNeg, kSign, kSqrt, kExp, kLog, kReciprocal, kCeil, kFloor, kRound, kErf, kTanh,
  kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
};

// Which dtypes each function accepts, following the ONNX type constraints.
enum class Domain { kFloats, kSignedAndFloats, kNumeric };

constexpr Domain domain_of(Fn f) {
  switch (f) {
    case Fn::kAbs: case Fn::kSign: case Fn::kErf: return Domain::kNumeric;
    case Fn::kNeg: return Domain::kSignedAndFloats;
    default: return Domain::kFloats;
  }
}

// Rounds halves to the nearest even integer, independent of the floating-point environment.
template <typename C> C round_half_even(C x) {
  const C r = std::round(x);  // halves away from zero
  if (std::fabs(x - std::trunc(x)) == C(0.5)) return C(2) * std::round(x / C(2));
  return r;
}

template <Fn F, typename C> C eval_float(C x) {
  if constexpr (F == Fn::kAbs) return std::fabs(x);
  else if constexpr (F == Fn::kNeg) return -x;
  else if constexpr (F == Fn::kSign) return x > C(0) ? C(1) : x < C(0) ? C(-1) : x;  // keeps 0 and NaN
  else if constexpr (F == Fn::kSqrt) return std::sqrt(x);
  else if constexpr (F == Fn::kExp) return std::exp(x);
  else if constexpr (F == Fn::kLog) return std::log(x);
  else if constexpr (F == Fn::kReciprocal) return C(1) / x;
  else if constexpr (F == Fn::kCeil) return std::ceil(x);
  else if constexpr (F == Fn::kFloor) return std::floor(x);
  else if constexpr (F == Fn::kRound) return round_half_even(x);
  else if constexpr (F == Fn::kErf) return std::erf(x);
  else if constexpr (F == Fn::kTanh) return std::tanh(x);
  else if constexpr (F == Fn::kSin) return std::sin(x);
  else if constexpr (F == Fn::kCos) return std::cos(x);
  else if constexpr (F == Fn::kTan) return std::tan(x);
  else if constexpr (F == Fn::kAsin) return std::asin(x);
  else if constexpr (F == Fn::kAcos) return std::acos(x);
  else if constexpr (F == Fn::kAtan) return std::atan(x);
  else if constexpr (F == Fn::kSinh) return std::sinh(x);
  else if constexpr (F == Fn::kCosh) return std::cosh(x);
  else if constexpr (F == Fn::kAsinh) return std::asinh(x);
  else if constexpr (F == Fn::kAcosh) return std::acosh(x);
  else return std::atanh(x);
}

template <Fn F, typename T> T eval_int(T x) {
  if constexpr (F == Fn::kAbs) {
    if constexpr (std::is_signed_v<T>) return x < 0 ? wrap_neg(x) : x;  // |INT_MIN| wraps like two's complement
    else return x;
  } else if constexpr (F == Fn::kNeg) {
    return wrap_neg(x);
  } else if constexpr (F == Fn::kSign) {
    return static_cast<T>(x > 0 ? 1 : (std::is_signed_v<T> && x < 0) ? -1 : 0);
  } else {
    static_assert(F == Fn::kErf);
    return saturate_cast<T>(std::erf(static_cast<double>(x)));
  }
}

template <Fn F>
class UnaryMath final : public Kernel {
 public:
  UnaryMath(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = ctx.input_dtype(0);
    bool ok = is_float_dtype(t);
    if constexpr (domain_of(F) == Domain::kNumeric) ok = ok || is_int_dtype(t);
    if constexpr (domain_of(F) == Domain::kSignedAndFloats) ok = ok || is_signed_int_dtype(t);
    if (!ok) {
      const char* expected = domain_of(F) == Domain::kFloats ? "a floating-point dtype"
                             : domain_of(F) == Domain::kNumeric ? "a numeric dtype"
                                                                 : "a floating-point or signed integer dtype";
      ctx.fail(std::string("input has dtype ") + dtype_name(t) + ", expected " + expected);
    }
    ctx.set_output(0, t, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (is_float_v<T>) {
        unary_loop(in.data<T>(), out.data<T>(), in.numel(), [](auto x) { return eval_float<F>(x); });
      } else if constexpr (domain_of(F) != Domain::kFloats) {
        const T* src = in.data<T>();
        T* dst = out.data<T>();
        for (int64_t i = 0, n = in.numel(); i < n; ++i) dst[i] = eval_int<F>(src[i]);
      }
    });
  }
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Abs", UnaryMath<Fn::kAbs>);
EDGERUN_REGISTER_KERNEL("Neg", UnaryMath<Fn::kNeg>);
EDGERUN_REGISTER_KERNEL("Sign", UnaryMath<Fn::kSign>);
EDGERUN_REGISTER_KERNEL("Sqrt", UnaryMath<Fn::kSqrt>);
EDGERUN_REGISTER_KERNEL("Exp", UnaryMath<Fn::kExp>);
EDGERUN_REGISTER_KERNEL("Log", UnaryMath<Fn::kLog>);
EDGERUN_REGISTER_KERNEL("Reciprocal", UnaryMath<Fn::kReciprocal>);
EDGERUN_REGISTER_KERNEL("Ceil", UnaryMath<Fn::kCeil>);
EDGERUN_REGISTER_KERNEL("Floor", UnaryMath<Fn::kFloor>);
EDGERUN_REGISTER_KERNEL("Round", UnaryMath<Fn::kRound>);
EDGERUN_REGISTER_KERNEL("Erf", UnaryMath<Fn::kErf>);
EDGERUN_REGISTER_KERNEL("Tanh", UnaryMath<Fn::kTanh>);
EDGERUN_REGISTER_KERNEL("Sin", UnaryMath<Fn::kSin>);
EDGERUN_REGISTER_KERNEL("Cos", UnaryMath<Fn::kCos>);
EDGERUN_REGISTER_KERNEL("Tan", UnaryMath<Fn::kTan>);
EDGERUN_REGISTER_KERNEL("Asin", UnaryMath<Fn::kAsin>);
EDGERUN_REGISTER_KERNEL("Acos", UnaryMath<Fn::kAcos>);
EDGERUN_REGISTER_KERNEL("Atan", UnaryMath<Fn::kAtan>);
EDGERUN_REGISTER_KERNEL("Sinh", UnaryMath<Fn::kSinh>);
EDGERUN_REGISTER_KERNEL("Cosh", UnaryMath<Fn::kCosh>);
EDGERUN_REGISTER_KERNEL("Asinh", UnaryMath<Fn::kAsinh>);
EDGERUN_REGISTER_KERNEL("Acosh", UnaryMath<Fn::kAcosh>);
EDGERUN_REGISTER_KERNEL("Atanh", UnaryMath<Fn::kAtanh>);

}  // namespace edgerun
