// Max, Min, Sum, Mean over one or more inputs with numpy broadcasting. The output starts as the
// first input broadcast to the result shape and folds in the others one by one.
#include <cmath>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

enum class Fold { kMax, kMin, kSum, kMean };

template <Fold F>
class Variadic final : public Kernel {
 public:
  Variadic(const Node&, int64_t opset) : opset_(opset) {}

  void prepare(PrepareContext& ctx) override {
    const size_t n = ctx.num_inputs();
    if (n == 0) ctx.fail("needs at least one input");
    for (size_t i = 0; i < n; ++i)
      if (!ctx.has_input(i)) ctx.fail("input " + std::to_string(i) + " is missing");
    const DType t = common_input_dtype(ctx, 0, n);
    const bool ints_allowed = (F == Fold::kMax || F == Fold::kMin) && opset_ >= 12;
    if (!is_float_dtype(t) && !(ints_allowed && is_int_dtype(t)))
      ctx.fail(std::string("inputs have dtype ") + dtype_name(t) + ", expected " +
               (ints_allowed ? "a numeric dtype" : "a floating-point dtype"));
    std::vector<Shape> shapes;
    for (size_t i = 0; i < n; ++i) shapes.push_back(ctx.input_shape(i));
    const Shape out = broadcast_or_fail(ctx, shapes);
    first_.init(out, {&shapes[0]});
    rest_.resize(n - 1);
    for (size_t i = 1; i < n; ++i) rest_[i - 1].init(out, {&out, &ctx.input_shape(i)});
    ctx.set_output(0, t, out);
  }

  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    dispatch_dtype<kNumeric>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* po = out.data<T>();
      broadcast_copy(first_, ctx.input(0).data<T>(), po);
      for (size_t i = 0; i < rest_.size(); ++i) {
        const T* pi = ctx.input(i + 1).data<T>();
        if constexpr (F == Fold::kMax) {
          // NaN wins, as in numpy.maximum.
          broadcast_binary(rest_[i], po, pi, po, [](auto x, auto y) { return (x != x || x > y) ? x : y; });
        } else if constexpr (F == Fold::kMin) {
          broadcast_binary(rest_[i], po, pi, po, [](auto x, auto y) { return (x != x || x < y) ? x : y; });
        } else if constexpr (is_float_v<T>) {
          broadcast_binary(rest_[i], po, pi, po, [](auto x, auto y) { return x + y; });
        }
      }
      if constexpr (F == Fold::kMean && is_float_v<T>) {
        const compute_t<T> count = static_cast<compute_t<T>>(ctx.num_inputs());
        unary_loop(po, po, out.numel(), [count](auto x) { return x / count; });
      }
    });
  }

 private:
  int64_t opset_;
  BroadcastPlan<1> first_;
  std::vector<BroadcastPlan<2>> rest_;
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Max", Variadic<Fold::kMax>);
EDGERUN_REGISTER_KERNEL("Min", Variadic<Fold::kMin>);
EDGERUN_REGISTER_KERNEL("Sum", Variadic<Fold::kSum>);
EDGERUN_REGISTER_KERNEL("Mean", Variadic<Fold::kMean>);

}  // namespace edgerun
