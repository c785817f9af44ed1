// Clip: bounds are float attributes before opset 11 and optional scalar inputs from opset 11.
// When min > max every element becomes max; NaN stays NaN.
#include <limits>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

class Clip final : public Kernel {
 public:
  Clip(const Node& node, int64_t opset) : opset_(opset) {
    if (opset < 11) {
      min_attr_ = node.attr_float("min", std::numeric_limits<float>::lowest());
      max_attr_ = node.attr_float("max", std::numeric_limits<float>::max());
    }
  }

  void prepare(PrepareContext& ctx) override {
    const DType t = ctx.input_dtype(0);
    if (!is_float_dtype(t) && !(opset_ >= 12 && is_int_dtype(t)))
      ctx.fail(std::string("input has dtype ") + dtype_name(t) + ", expected " +
               (opset_ >= 12 ? "a numeric dtype" : "a floating-point dtype"));
    has_min_ = opset_ >= 11 && ctx.has_input(1);
    has_max_ = opset_ >= 11 && ctx.has_input(2);
    for (size_t i = 1; i <= 2; ++i) {
      if (opset_ < 11 || !ctx.has_input(i)) continue;
      const char* what = i == 1 ? "min" : "max";
      if (ctx.input_dtype(i) != t)
        ctx.fail(std::string(what) + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected the input's " +
                 dtype_name(t));
      const Shape& s = ctx.input_shape(i);
      if (s.size() > 1 || shape_numel(s) != 1) ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_str(s));
    }
    ctx.set_output(0, t, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if (opset_ < 11) {
        if constexpr (is_float_v<T>) {
          lo = static_cast<C>(min_attr_);
          hi = static_cast<C>(max_attr_);
        }
      } else {
        if (has_min_) lo = widen(*ctx.input(1).data<T>());
        if (has_max_) hi = widen(*ctx.input(2).data<T>());
      }
      unary_loop(in.data<T>(), out.data<T>(), in.numel(), [lo, hi](C x) {
        const C y = x < lo ? lo : x;
        return y > hi ? hi : y;
      });
    });
  }

 private:
  int64_t opset_;
  float min_attr_ = 0, max_attr_ = 0;
  bool has_min_ = false, has_max_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Clip", Clip);

}  // namespace edgerun
