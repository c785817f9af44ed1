// OneHot: inserts a dim of size `depth` at `axis`; the entry matching each index holds values[1]
// (on), all others values[0] (off). Negative indices count from depth; indices outside
// [-depth, depth) give an all-off row.
#include <cmath>

#include "kernels/reference/data_movement.h"

namespace edgerun {
namespace {

class OneHot final : public Kernel {
 public:
  OneHot(const Node& node, int64_t opset) : axis_(node.attr_int("axis", -1)) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& indices = ctx.input_shape(0);
    if (!dispatch_dtype<kNumeric>(ctx.input_dtype(0), [](auto) {}))
      ctx.fail(std::string("indices must be numeric, got ") + dtype_name(ctx.input_dtype(0)));
    const Tensor& depth_t = ctx.require_value(1);
    if (depth_t.numel() != 1 || depth_t.rank() > 1)
      ctx.fail("depth must be a scalar or a 1-element tensor, got shape " + shape_str(depth_t.shape()));
    if (!dispatch_dtype<kNumeric>(depth_t.dtype(), [](auto) {}))
      ctx.fail(std::string("depth must be numeric, got ") + dtype_name(depth_t.dtype()));
    const double depth = tensor_to_doubles(depth_t)[0];
    if (!(depth >= 1) || depth > 9.0e18) ctx.fail("depth must be positive, got " + std::to_string(depth));
    depth_ = static_cast<int64_t>(depth);
    if (ctx.input_shape(2).size() != 1 || ctx.input_shape(2)[0] != 2)
      ctx.fail("values must be a 2-element [off, on] tensor, got shape " + shape_str(ctx.input_shape(2)));
    const int64_t rank = static_cast<int64_t>(indices.size()) + 1;
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for an output of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    Shape out = indices;
    out.insert(out.begin() + axis, depth_);
    inner_ = 1;
    for (int64_t d = axis; d < rank - 1; ++d) inner_ *= indices[d];
    ctx.set_output(0, ctx.input_dtype(2), std::move(out));
  }

  void run(RunContext& ctx) override {
    const Tensor& indices = ctx.input(0);
    const Tensor& values = ctx.input(2);
    Tensor& out = ctx.output(0);
    const int64_t count = indices.numel();
    dispatch_storage(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T off = values.data<T>()[0], on = values.data<T>()[1];
      T* dst = out.data<T>();
      std::fill(dst, dst + out.numel(), off);
      dispatch_dtype<kNumeric>(indices.dtype(), [&](auto index_tag) {
        using I = decltype(index_tag);
        const I* idx = indices.data<I>();
        for (int64_t j = 0; j < count; ++j) {
          int64_t k;
          if constexpr (std::is_integral_v<I>) {
            if constexpr (std::is_unsigned_v<I>) {
              if (idx[j] >= static_cast<uint64_t>(depth_)) continue;
            } else {
              if (idx[j] < -depth_ || idx[j] >= depth_) continue;
            }
            k = static_cast<int64_t>(idx[j]);
          } else {
            const double v = std::trunc(static_cast<double>(static_cast<std::conditional_t<std::is_floating_point_v<I>, I, float>>(idx[j])));
            if (!(v >= -static_cast<double>(depth_) && v < static_cast<double>(depth_))) continue;
            k = static_cast<int64_t>(v);
          }
          if (k < 0) k += depth_;
          const int64_t o = j / inner_, i = j % inner_;
          dst[(o * depth_ + k) * inner_ + i] = on;
        }
      });
    });
  }

 private:
  int64_t axis_;
  int64_t depth_ = 0, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("OneHot", OneHot);
}  // namespace edgerun
