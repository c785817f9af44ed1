// CumSum: running sums along the axis given by the second input; `exclusive` leaves out the
// current element, `reverse` sums from the end.
#include "kernels/reference/data_movement.h"
#include "kernels/reference/wrapping_arith.h"

namespace edgerun {
namespace {

class CumSum final : public Kernel {
 public:
  CumSum(const Node& node, int64_t opset)
      : exclusive_(node.attr_int("exclusive", 0) != 0), reverse_(node.attr_int("reverse", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kNumeric>(dtype, [](auto) {})) ctx.fail(std::string("x must be numeric, got ") + dtype_name(dtype));
    if (in.empty()) ctx.fail("x must have rank >= 1");
    const DType axis_type = ctx.input_dtype(1);
    if ((axis_type != DType::kInt32 && axis_type != DType::kInt64) || shape_numel(ctx.input_shape(1)) != 1 ||
        ctx.input_shape(1).size() > 1)
      ctx.fail("axis must be an int32 or int64 scalar, got " + std::string(dtype_name(axis_type)) + " " +
               shape_str(ctx.input_shape(1)));
    shape_ = in;
    ctx.set_output(0, dtype, in);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    const int64_t rank = static_cast<int64_t>(shape_.size());
    const Tensor& axis_t = ctx.input(1);
    const int64_t requested = axis_t.dtype() == DType::kInt64 ? *axis_t.data<int64_t>() : *axis_t.data<int32_t>();
    if (requested < -rank || requested >= rank)
      ctx.fail("axis " + std::to_string(requested) + " is out of range for an input of rank " + std::to_string(rank));
    const int64_t axis = requested < 0 ? requested + rank : requested;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer *= shape_[d];
      if (d > axis) inner *= shape_[d];
    }
    const int64_t dim = shape_[axis];
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      // 16-bit floats accumulate in float.
      using Acc = std::conditional_t<is_float_v<T> && !std::is_floating_point_v<T>, float, T>;
      const T* x = in.data<T>();
      T* y = ctx.output(0).data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * dim * inner + i;
          Acc sum = Acc(0);
          for (int64_t n = 0; n < dim; ++n) {
            const int64_t at = base + (reverse_ ? dim - 1 - n : n) * inner;
            const Acc v = static_cast<Acc>(x[at]);
            if (exclusive_) {
              y[at] = static_cast<T>(sum);
              sum = wrapping_add(sum, v);
            } else {
              sum = wrapping_add(sum, v);
              y[at] = static_cast<T>(sum);
            }
          }
        }
    });
  }

 private:
  bool exclusive_, reverse_;
  Shape shape_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("CumSum", CumSum);
}  // namespace edgerun
