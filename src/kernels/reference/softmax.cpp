// Softmax, LogSoftmax, Hardmax. Before opset 13 the input is viewed as 2-D [prod(d[:axis]), prod(d[axis:])]
// and each row is normalized; from opset 13 only the one `axis` is normalized.
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

template <SoftmaxKind K>
class SoftmaxFamily final : public Kernel {
 public:
  SoftmaxFamily(const Node& node, int64_t opset)
      : coerce_2d_(opset < 13), axis_(node.attr_int("axis", opset < 13 ? 1 : -1)) {}

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kFloats>(dtype, [](auto) {}))
      ctx.fail(std::string("expects a floating-point input, got ") + dtype_name(dtype));
    const Shape& shape = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(shape.size());
    if (rank == 0) ctx.fail("expects an input of rank >= 1, got a scalar");
    if (axis_ < -rank || axis_ >= rank)
      ctx.fail("axis " + std::to_string(axis_) + " is out of range for input of rank " + std::to_string(rank));
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    outer_ = 1;
    len_ = 1;
    inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) outer_ *= shape[d];
      else if (d == axis || coerce_2d_) len_ *= shape[d];
      else inner_ *= shape[d];
    }
    ctx.set_output(0, dtype, shape);
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(ctx.input(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* in = ctx.input(0).data<T>();
      T* out = ctx.output(0).data<T>();
      for (int64_t o = 0; o < outer_; ++o) {
        for (int64_t i = 0; i < inner_; ++i) {
          const T* x = in + o * len_ * inner_ + i;
          T* y = out + o * len_ * inner_ + i;
          if (len_ == 0) continue;
          C mx = static_cast<C>(x[0]);
          int64_t arg = 0;
          for (int64_t j = 1; j < len_; ++j) {
            const C v = static_cast<C>(x[j * inner_]);
            if (v > mx) { mx = v; arg = j; }
          }
          if constexpr (K == SoftmaxKind::kHardmax) {
            for (int64_t j = 0; j < len_; ++j) y[j * inner_] = T(static_cast<C>(j == arg ? 1 : 0));
          } else {
            C sum = 0;
            for (int64_t j = 0; j < len_; ++j) sum += std::exp(static_cast<C>(x[j * inner_]) - mx);
            if constexpr (K == SoftmaxKind::kSoftmax) {
              const C inv = C(1) / sum;
              for (int64_t j = 0; j < len_; ++j) y[j * inner_] = T(std::exp(static_cast<C>(x[j * inner_]) - mx) * inv);
            } else {
              const C log_sum = std::log(sum);
              for (int64_t j = 0; j < len_; ++j) y[j * inner_] = T(static_cast<C>(x[j * inner_]) - mx - log_sum);
            }
          }
        }
      }
    });
  }

 private:
  bool coerce_2d_;
  int64_t axis_;
  int64_t outer_ = 1, len_ = 1, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Softmax", SoftmaxFamily<SoftmaxKind::kSoftmax>);
EDGERUN_REGISTER_KERNEL("LogSoftmax", SoftmaxFamily<SoftmaxKind::kLogSoftmax>);
EDGERUN_REGISTER_KERNEL("Hardmax", SoftmaxFamily<SoftmaxKind::kHardmax>);
}  // namespace edgerun
