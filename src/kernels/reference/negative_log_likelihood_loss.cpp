// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. The latter is log-softmax over the class axis
// followed by the former, so both share one implementation.
#include <cmath>
#include <optional>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

enum class Reduction { kNone, kSum, kMean };

template <bool kWithSoftmax>
class ClassLoss final : public Kernel {
 public:
  ClassLoss(const Node& node, int64_t opset) {
    const std::string r = node.attr_string("reduction", "mean");
    if (r == "none") reduction_ = Reduction::kNone;
    else if (r == "sum") reduction_ = Reduction::kSum;
    else if (r == "mean") reduction_ = Reduction::kMean;
    else throw Error(ErrorCode::kInvalidModel, node.describe() + ": reduction must be none, sum or mean, got '" + r + "'");
    if (node.has_attr("ignore_index")) ignore_index_ = node.attr_int("ignore_index", 0);
  }

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kFloats>(dtype, [](auto) {}))
      ctx.fail(std::string("expects floating-point scores, got ") + dtype_name(dtype));
    const Shape& in = ctx.input_shape(0);
    if (in.size() < 2) ctx.fail("expects input of shape [N, C, d1, ...], got " + shape_str(in));
    const DType tdtype = ctx.input_dtype(1);
    if (tdtype != DType::kInt32 && tdtype != DType::kInt64)
      ctx.fail(std::string("expects int32 or int64 targets, got ") + dtype_name(tdtype));
    const Shape& target = ctx.input_shape(1);
    Shape expected_target{in[0]};
    expected_target.insert(expected_target.end(), in.begin() + 2, in.end());
    if (target != expected_target)
      ctx.fail("targets of shape " + shape_str(target) + " do not match input " + shape_str(in) + " (expected " +
               shape_str(expected_target) + ")");
    has_weight_ = ctx.has_input(2);
    if (has_weight_) {
      if (ctx.input_dtype(2) != dtype)
        ctx.fail(std::string("weights must have the input dtype ") + dtype_name(dtype) + ", got " +
                 dtype_name(ctx.input_dtype(2)));
      if (ctx.input_shape(2) != Shape{in[1]})
        ctx.fail("weights must have shape [C] = " + shape_str({in[1]}) + ", got " + shape_str(ctx.input_shape(2)));
    }
    n_ = in[0];
    classes_ = in[1];
    inner_ = 1;
    for (size_t d = 2; d < in.size(); ++d) inner_ *= in[d];
    ctx.set_output(0, dtype, reduction_ == Reduction::kNone ? target : Shape{});
    if constexpr (kWithSoftmax) {
      if (ctx.has_output(1)) ctx.set_output(1, dtype, in);
      // log-probabilities live in scratch when the optional output is not bound.
      ctx.request_scratch(static_cast<size_t>(shape_numel(in)) * sizeof(double));
    }
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(ctx.input(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (ctx.input(1).dtype() == DType::kInt32) compute<T, int32_t>(ctx);
      else compute<T, int64_t>(ctx);
    });
  }

 private:
  template <typename T, typename I>
  void compute(RunContext& ctx) {
    const T* in = ctx.input(0).data<T>();
    const I* target = ctx.input(1).data<I>();
    const T* weight = has_weight_ ? ctx.input(2).data<T>() : nullptr;
    T* out = ctx.output(0).data<T>();
    const int64_t plane = classes_ * inner_;

    // logp(n, c, i): log-probability read either from the input or the log-softmax buffer.
    const double* logp = nullptr;
    if constexpr (kWithSoftmax) {
      double* lp = static_cast<double*>(ctx.scratch());
      for (int64_t n = 0; n < n_; ++n)
        for (int64_t i = 0; i < inner_; ++i) {
          const T* x = in + n * plane + i;
          double* y = lp + n * plane + i;
          double mx = -INFINITY;
          for (int64_t c = 0; c < classes_; ++c) mx = std::max(mx, as_double(x[c * inner_]));
          double sum = 0;
          for (int64_t c = 0; c < classes_; ++c) sum += std::exp(as_double(x[c * inner_]) - mx);
          const double log_sum = std::log(sum);
          for (int64_t c = 0; c < classes_; ++c) y[c * inner_] = as_double(x[c * inner_]) - mx - log_sum;
        }
      if (ctx.has_output(1)) {
        T* lp_out = ctx.output(1).data<T>();
        for (int64_t k = 0; k < n_ * plane; ++k) store(lp_out[k], lp[k]);
      }
      logp = lp;
    }

    double total = 0, weight_total = 0;
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t i = 0; i < inner_; ++i) {
        const int64_t t = static_cast<int64_t>(target[n * inner_ + i]);
        double loss = 0, w = 0;
        if (!(ignore_index_ && t == *ignore_index_)) {
          if (t < 0 || t >= classes_)
            ctx.fail("target " + std::to_string(t) + " is outside the class range [0, " + std::to_string(classes_) + ")");
          w = weight ? as_double(weight[t]) : 1.0;
          const int64_t at = n * plane + t * inner_ + i;
          loss = -(logp ? logp[at] : as_double(in[at])) * w;
        }
        if (reduction_ == Reduction::kNone) store(out[n * inner_ + i], loss);
        total += loss;
        weight_total += w;
      }
    if (reduction_ == Reduction::kSum) store(out[0], total);
    if (reduction_ == Reduction::kMean) store(out[0], total / weight_total);
  }

  template <typename T> static double as_double(T v) {
    if constexpr (std::is_same_v<T, double>) return v;
    else return static_cast<float>(v);
  }
  template <typename T> static void store(T& dst, double v) {
    if constexpr (std::is_same_v<T, double>) dst = v;
    else dst = T(static_cast<float>(v));
  }

  Reduction reduction_ = Reduction::kMean;
  std::optional<int64_t> ignore_index_;
  bool has_weight_ = false;
  int64_t n_ = 0, classes_ = 0, inner_ = 1;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("NegativeLogLikelihoodLoss", ClassLoss<false>);
EDGERUN_REGISTER_KERNEL("SoftmaxCrossEntropyLoss", ClassLoss<true>);
}  // namespace edgerun
