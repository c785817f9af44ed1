// ArgMax / ArgMin: the index of the largest / smallest entry along `axis`, the first one on ties
// (the last with select_last_index, opset 12). NaN counts as the extreme value, as in numpy.
#include "kernels/reference/data_movement.h"
#include "kernels/reference/value_order.h"

namespace edgerun {
namespace {

template <bool kMax>
class ArgExtreme final : public Kernel {
 public:
  ArgExtreme(const Node& node, int64_t opset)
      : axis_(node.attr_int("axis", 0)), keepdims_(node.attr_int("keepdims", 1) != 0),
        select_last_(node.attr_int("select_last_index", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (!dispatch_dtype<kNumeric>(ctx.input_dtype(0), [](auto) {}))
      ctx.fail(std::string("data must be numeric, got ") + dtype_name(ctx.input_dtype(0)));
    const int64_t rank = static_cast<int64_t>(in.size());
    if (rank == 0) ctx.fail("data must have rank >= 1");
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    dim_ = in[axis];
    Shape out = in;
    if (keepdims_) out[axis] = 1;
    else out.erase(out.begin() + axis);
    if (dim_ == 0 && shape_numel(out) > 0) ctx.fail("cannot take the arg of an empty axis " + std::to_string(axis));
    outer_ = inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer_ *= in[d];
      if (d > axis) inner_ *= in[d];
    }
    ctx.set_output(0, DType::kInt64, std::move(out));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    int64_t* out = ctx.output(0).data<int64_t>();
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      // `v` replaces the current best `b`: strictly better, or equal when the last index wins.
      auto replaces = [&](const T& v, const T& b) {
        bool better;
        if constexpr (kMax) better = value_less(b, v);
        else better = is_nan(v) ? !is_nan(b) : !is_nan(b) && value_less(v, b);
        return better || (select_last_ && value_equal(v, b));
      };
      for (int64_t o = 0; o < outer_; ++o)
        for (int64_t i = 0; i < inner_; ++i) {
          const T* column = x + o * dim_ * inner_ + i;
          int64_t best = 0;
          for (int64_t j = 1; j < dim_; ++j)
            if (replaces(column[j * inner_], column[best * inner_])) best = j;
          out[o * inner_ + i] = best;
        }
    });
  }

 private:
  template <typename T>
  static bool is_nan(const T& v) {
    if constexpr (is_float_v<T>) return std::isnan(static_cast<double>(static_cast<float>(v)));
    else return false;
  }

  int64_t axis_;
  bool keepdims_, select_last_;
  int64_t dim_ = 0, outer_ = 1, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ArgMax", ArgExtreme<true>);
EDGERUN_REGISTER_KERNEL("ArgMin", ArgExtreme<false>);
}  // namespace edgerun
