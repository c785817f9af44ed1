// Pointwise activations: Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Softplus,
// Softsign, ThresholdedRelu, Shrink, Mish, Gelu. Attributes are read once; output matches the input.
// NaN inputs give NaN outputs (except Shrink, whose definition maps them to 0).
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Act {
  kRelu, kLeakyRelu, kElu, kSelu, kCelu, kSigmoid, kHardSigmoid, kHardSwish, kSoftplus, kSoftsign,
  kThresholdedRelu, kShrink, kMish, kGelu,
};

// log(1 + exp(x)) without overflowing exp for large x.
template <typename C> C softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// exp(-|x|) keeps the intermediate finite on both sides.
template <typename C> C sigmoid(C x) {
  if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
  const C e = std::exp(x);
  return e / (C(1) + e);
}

// Clamps to [0, 1]; NaN stays NaN (std::min/max would turn it into a bound).
template <typename C> C clamp01(C v) { return v < C(0) ? C(0) : v > C(1) ? C(1) : v; }

struct Params {
  float alpha = 0, beta = 0, gamma = 0;
  bool gelu_tanh = false;
};

template <Act A, typename C> C activate(C x, const Params& p) {
  const C alpha = static_cast<C>(p.alpha);
  if constexpr (A == Act::kRelu) return x < C(0) ? C(0) : x;
  else if constexpr (A == Act::kLeakyRelu) return x < C(0) ? alpha * x : x;
  else if constexpr (A == Act::kElu) return x < C(0) ? alpha * std::expm1(x) : x;
  else if constexpr (A == Act::kSelu) return static_cast<C>(p.gamma) * (x > C(0) ? x : alpha * std::expm1(x));
  else if constexpr (A == Act::kCelu) return x > C(0) ? x : alpha * std::expm1(x / alpha);
  else if constexpr (A == Act::kSigmoid) return sigmoid(x);
  else if constexpr (A == Act::kHardSigmoid)
    return clamp01(alpha * x + static_cast<C>(p.beta));
  else if constexpr (A == Act::kHardSwish) return x * clamp01(x / C(6) + C(0.5));
  else if constexpr (A == Act::kSoftplus) return softplus(x);
  else if constexpr (A == Act::kSoftsign) return x / (C(1) + std::fabs(x));
  else if constexpr (A == Act::kThresholdedRelu) return x <= alpha ? C(0) : x;
  else if constexpr (A == Act::kMish) return x * std::tanh(softplus(x));
  else if constexpr (A == Act::kGelu) {
    if (p.gelu_tanh) {
      const C k = static_cast<C>(0.7978845608028654);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * static_cast<C>(0.7071067811865476)));
  } else {
    static_assert(A == Act::kShrink);
    const C lambd = static_cast<C>(p.alpha), bias = static_cast<C>(p.beta);
    return x < -lambd ? x + bias : x > lambd ? x - bias : C(0);
  }
}

Params read_params(Act a, const Node& node) {
  Params p;
  switch (a) {
    case Act::kLeakyRelu: p.alpha = node.attr_float("alpha", 0.01f); break;
    case Act::kElu: case Act::kCelu: case Act::kThresholdedRelu: p.alpha = node.attr_float("alpha", 1.0f); break;
    case Act::kSelu:
      p.alpha = node.attr_float("alpha", 1.67326319217681884765625f);
      p.gamma = node.attr_float("gamma", 1.05070102214813232421875f);
      break;
    case Act::kHardSigmoid:
      p.alpha = node.attr_float("alpha", 0.2f);
      p.beta = node.attr_float("beta", 0.5f);
      break;
    case Act::kShrink:
      p.alpha = node.attr_float("lambd", 0.5f);
      p.beta = node.attr_float("bias", 0.0f);
      break;
    case Act::kGelu: {
      const std::string approx = node.attr_string("approximate", "none");
      if (approx != "none" && approx != "tanh")
        throw Error(ErrorCode::kInvalidModel,
                    node.describe() + ": approximate must be \"none\" or \"tanh\", got \"" + approx + "\"");
      p.gelu_tanh = approx == "tanh";
      break;
    }
    default: break;
  }
  if (a == Act::kCelu && p.alpha == 0.0f)
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": alpha must be non-zero");
  return p;
}

template <Act A>
class Activation final : public Kernel {
 public:
  Activation(const Node& node, int64_t) : params_(read_params(A, node)) {}

  void prepare(PrepareContext& ctx) override {
    const DType t = ctx.input_dtype(0);
    bool ok = is_float_dtype(t);
    if constexpr (A == Act::kRelu) ok = ok || is_signed_int_dtype(t);
    if constexpr (A == Act::kShrink) ok = ok || is_int_dtype(t);
    if (!ok)
      ctx.fail(std::string("input has dtype ") + dtype_name(t) + ", expected " +
               (A == Act::kRelu    ? "a floating-point or signed integer dtype"
                : A == Act::kShrink ? "a numeric dtype"
                                    : "a floating-point dtype"));
    ctx.set_output(0, t, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const Params p = params_;
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (is_float_v<T>) {
        unary_loop(in.data<T>(), out.data<T>(), in.numel(), [&p](auto x) { return activate<A>(x, p); });
      } else if constexpr (A == Act::kRelu) {
        unary_loop(in.data<T>(), out.data<T>(), in.numel(), [](T x) { return x < 0 ? T(0) : x; });
      } else if constexpr (A == Act::kShrink) {
        // Integer inputs shrink in double; the float attributes would not fit an integer type.
        unary_loop(in.data<T>(), out.data<T>(), in.numel(),
                   [&p](T x) { return saturate_cast<T>(activate<A>(static_cast<double>(x), p)); });
      }
    });
  }

 private:
  Params params_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Relu", Activation<Act::kRelu>);
EDGERUN_REGISTER_KERNEL("LeakyRelu", Activation<Act::kLeakyRelu>);
EDGERUN_REGISTER_KERNEL("Elu", Activation<Act::kElu>);
EDGERUN_REGISTER_KERNEL("Selu", Activation<Act::kSelu>);
EDGERUN_REGISTER_KERNEL("Celu", Activation<Act::kCelu>);
EDGERUN_REGISTER_KERNEL("Sigmoid", Activation<Act::kSigmoid>);
EDGERUN_REGISTER_KERNEL("HardSigmoid", Activation<Act::kHardSigmoid>);
EDGERUN_REGISTER_KERNEL("HardSwish", Activation<Act::kHardSwish>);
EDGERUN_REGISTER_KERNEL("Softplus", Activation<Act::kSoftplus>);
EDGERUN_REGISTER_KERNEL("Softsign", Activation<Act::kSoftsign>);
EDGERUN_REGISTER_KERNEL("ThresholdedRelu", Activation<Act::kThresholdedRelu>);
EDGERUN_REGISTER_KERNEL("Shrink", Activation<Act::kShrink>);
EDGERUN_REGISTER_KERNEL("Mish", Activation<Act::kMish>);
EDGERUN_REGISTER_KERNEL("Gelu", Activation<Act::kGelu>);

}  // namespace edgerun
