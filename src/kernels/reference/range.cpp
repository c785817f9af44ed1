// Range: start, start + delta, ... up to (excluding) limit; ceil((limit - start) / delta) elements.
#include <cmath>

#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class Range final : public Kernel {
 public:
  Range(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    for (size_t i = 0; i < 3; ++i) {
      if (ctx.input_dtype(i) != dtype)
        ctx.fail("start, limit and delta must share a type; input " + std::to_string(i) + " is " +
                 dtype_name(ctx.input_dtype(i)) + ", start is " + dtype_name(dtype));
      if (shape_numel(ctx.input_shape(i)) != 1 || ctx.input_shape(i).size() > 1)
        ctx.fail("input " + std::to_string(i) + " must be a scalar, got shape " + shape_str(ctx.input_shape(i)));
    }
    if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kInt16 && dtype != DType::kInt32 &&
        dtype != DType::kInt64)
      ctx.fail(std::string("start must be float, double, int16, int32 or int64, got ") + dtype_name(dtype));
    int64_t count = 0;
    dispatch_dtype<kNumeric>(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        const double start = *ctx.require_value(0).data<T>(), limit = *ctx.require_value(1).data<T>(),
                     delta = *ctx.require_value(2).data<T>();
        if (delta == 0) ctx.fail("delta is 0");
        const double n = std::ceil((limit - start) / delta);
        if (std::isnan(n) || n >= 9.0e18) ctx.fail("the range has too many elements");
        count = n > 0 ? static_cast<int64_t>(n) : 0;
      } else if constexpr (std::is_integral_v<T>) {
        const __int128 start = *ctx.require_value(0).data<T>(), limit = *ctx.require_value(1).data<T>(),
                       delta = *ctx.require_value(2).data<T>();
        if (delta == 0) ctx.fail("delta is 0");
        const __int128 span = limit - start;
        if ((span > 0 && delta > 0) || (span < 0 && delta < 0)) {
          const __int128 n = (span + delta - (delta > 0 ? 1 : -1)) / delta;
          if (n > INT64_MAX) ctx.fail("the range has too many elements");
          count = static_cast<int64_t>(n);
        }
      }
    });
    ctx.set_output(0, dtype, {count});
  }

  void run(RunContext& ctx) override {
    Tensor& out = ctx.output(0);
    dispatch_dtype<kNumeric>(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T start = *ctx.input(0).data<T>(), delta = *ctx.input(2).data<T>();
      T* dst = out.data<T>();
      if constexpr (std::is_floating_point_v<T>) {
        for (int64_t i = 0; i < out.numel(); ++i) dst[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      } else if constexpr (std::is_integral_v<T>) {
        // Wrapping arithmetic: every element lies in [start, limit), only i * delta may leave T's range.
        for (int64_t i = 0; i < out.numel(); ++i)
          dst[i] = static_cast<T>(static_cast<uint64_t>(static_cast<int64_t>(start)) +
                                  static_cast<uint64_t>(i) * static_cast<uint64_t>(static_cast<int64_t>(delta)));
      }
    });
  }
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Range", Range);
}  // namespace edgerun
