// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
// ReduceLogSumExp, ReduceSumSquare: one traversal, different accumulate/finish steps.
// Axes come from the attribute, or from input 1 for ReduceSum from opset 13 and for all from opset 18.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Integer sums and products keep integer precision; everything else accumulates in double.
template <ReduceKind K, typename T>
using acc_t = std::conditional_t<
    is_float_v<T> || K == ReduceKind::kL2 || K == ReduceKind::kLogSum || K == ReduceKind::kLogSumExp, double,
    std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename T> double to_double(T v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return static_cast<float>(v);
  else return static_cast<double>(v);
}

template <typename T, typename A> T from_acc(A v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return T(static_cast<float>(v));
  else if constexpr (std::is_integral_v<T> && std::is_floating_point_v<A>) {
    // Converting NaN or out-of-range doubles to integers is undefined; saturate instead.
    if (std::isnan(v)) return T{0};
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else return static_cast<T>(v);
}

template <ReduceKind K>
class Reduce final : public Kernel {
 public:
  Reduce(const Node& node, int64_t opset)
      : keepdims_(node.attr_int("keepdims", 1) != 0), noop_with_empty_axes_(node.attr_int("noop_with_empty_axes", 0) != 0),
        axes_from_input_(opset >= 18 || (K == ReduceKind::kSum && opset >= 13)) {
    if (axes_from_input_) {
      if (node.has_attr("axes"))
        throw Error(ErrorCode::kInvalidModel, node.describe() + ": from opset " + std::to_string(opset) +
                                                  " axes is an input, not an attribute");
    } else {
      attr_axes_ = node.attr_ints("axes");
    }
  }

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (dtype == DType::kBool || dtype == DType::kString || dtype_size(dtype) == 0)
      ctx.fail(std::string("expects a numeric input, got ") + dtype_name(dtype));
    const Shape& in_shape = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(in_shape.size());

    std::vector<int64_t> axes = attr_axes_;
    if (axes_from_input_ && ctx.has_input(1)) {
      const Tensor& t = ctx.require_value(1);
      if (t.dtype() != DType::kInt64 || t.rank() != 1)
        ctx.fail("axes must be a 1-D int64 tensor, got " + std::string(dtype_name(t.dtype())) + " " + shape_str(t.shape()));
      axes.assign(t.data<int64_t>(), t.data<int64_t>() + t.numel());
    } else if (ctx.has_input(1) && !axes_from_input_) {
      ctx.fail("takes axes as an attribute at this opset, but was given a second input");
    }

    std::vector<bool> reduced(in_shape.size(), axes.empty() && !noop_with_empty_axes_);
    for (int64_t a : axes) {
      if (a < -rank || a >= rank)
        ctx.fail("axis " + std::to_string(a) + " is out of range for input of rank " + std::to_string(rank));
      const int64_t n = a < 0 ? a + rank : a;
      if (reduced[n]) ctx.fail("axis " + std::to_string(a) + " is listed twice");
      reduced[n] = true;
    }
    copy_only_ = axes.empty() && noop_with_empty_axes_;

    Shape out_shape;
    count_ = 1;
    for (size_t d = 0; d < in_shape.size(); ++d) {
      if (reduced[d]) {
        count_ *= in_shape[d];
        if (keepdims_) out_shape.push_back(1);
      } else {
        out_shape.push_back(in_shape[d]);
      }
    }
    ctx.set_output(0, dtype, out_shape);
    out_numel_ = shape_numel(out_shape);
    in_numel_ = shape_numel(in_shape);

    // Collapse: size-1 dims vanish, neighbours with the same reduced flag merge into one dim.
    dims_.clear();
    dim_reduced_.clear();
    for (size_t d = 0; d < in_shape.size(); ++d) {
      if (in_shape[d] == 1) continue;
      if (!dims_.empty() && dim_reduced_.back() == static_cast<bool>(reduced[d])) dims_.back() *= in_shape[d];
      else { dims_.push_back(in_shape[d]); dim_reduced_.push_back(reduced[d]); }
    }
    const size_t r = dims_.size();
    in_strides_.assign(r, 1);
    out_strides_.assign(r, 0);
    int64_t in_step = 1, out_step = 1;
    for (size_t i = r; i-- > 0;) {
      in_strides_[i] = in_step;
      in_step *= dims_[i];
      if (!dim_reduced_[i]) { out_strides_[i] = out_step; out_step *= dims_[i]; }
    }
    index_.assign(r, 0);
    if (!copy_only_) ctx.request_scratch(static_cast<size_t>(out_numel_) * 8 * (K == ReduceKind::kLogSumExp ? 2 : 1));
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (copy_only_) {
      if (in.nbytes()) std::memcpy(out.raw(), in.raw(), in.nbytes());
      return;
    }
    dispatch_dtype<kNumeric>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      compute<T>(in.data<T>(), out.data<T>(), ctx.scratch());
    });
  }

 private:
  // Calls fn(in_offset, out_offset, n, out_step) for contiguous runs of the input.
  template <typename Fn>
  void for_each_run(Fn&& fn) {
    if (in_numel_ == 0) return;
    const size_t r = dims_.size();
    if (r == 0) { fn(int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0}); return; }
    const int64_t inner = dims_[r - 1];
    const int64_t inner_out_step = out_strides_[r - 1];
    std::fill(index_.begin(), index_.end(), 0);
    int64_t in_off = 0, out_off = 0;
    while (true) {
      fn(in_off, out_off, inner, inner_out_step);
      int64_t d = static_cast<int64_t>(r) - 2;
      for (; d >= 0; --d) {
        in_off += in_strides_[d];
        out_off += out_strides_[d];
        if (++index_[d] < dims_[d]) break;
        in_off -= in_strides_[d] * dims_[d];
        out_off -= out_strides_[d] * dims_[d];
        index_[d] = 0;
      }
      if (d < 0) return;
    }
  }

  template <typename T>
  void compute(const T* in, T* out, void* scratch) {
    using A = acc_t<K, T>;
    A* acc = static_cast<A*>(scratch);
    constexpr bool is_fp_acc = std::is_floating_point_v<A>;

    if constexpr (K == ReduceKind::kLogSumExp) {
      // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the max keeps exp from overflowing.
      double* mx = static_cast<double*>(scratch) + out_numel_;
      std::fill(mx, mx + out_numel_, -std::numeric_limits<double>::infinity());
      std::fill(acc, acc + out_numel_, 0.0);
      for_each_run([&](int64_t i0, int64_t o0, int64_t n, int64_t step) {
        for (int64_t j = 0; j < n; ++j) mx[o0 + j * step] = std::max(mx[o0 + j * step], to_double(in[i0 + j]));
      });
      for_each_run([&](int64_t i0, int64_t o0, int64_t n, int64_t step) {
        for (int64_t j = 0; j < n; ++j) {
          const double m = mx[o0 + j * step];
          if (std::isfinite(m)) acc[o0 + j * step] += std::exp(to_double(in[i0 + j]) - m);
        }
      });
      for (int64_t o = 0; o < out_numel_; ++o)
        out[o] = from_acc<T>(std::isfinite(mx[o]) ? mx[o] + std::log(acc[o]) : mx[o]);
      return;
    } else {
      A init{};
      if constexpr (K == ReduceKind::kProd) init = A{1};
      if constexpr (K == ReduceKind::kMax) {
        if constexpr (is_fp_acc) init = -std::numeric_limits<double>::infinity();
        else init = static_cast<A>(std::numeric_limits<T>::lowest());
      }
      if constexpr (K == ReduceKind::kMin) {
        if constexpr (is_fp_acc) init = std::numeric_limits<double>::infinity();
        else init = static_cast<A>(std::numeric_limits<T>::max());
      }
      std::fill(acc, acc + out_numel_, init);

      auto value = [&](int64_t i) -> A {
        if constexpr (is_fp_acc) return to_double(in[i]);
        else return static_cast<A>(in[i]);
      };
      auto combine = [](A a, A x) -> A {
        if constexpr (K == ReduceKind::kProd) return a * x;
        else if constexpr (K == ReduceKind::kMax) {
          if constexpr (is_fp_acc) return (x > a || std::isnan(x)) && !std::isnan(a) ? x : a;
          else return x > a ? x : a;
        } else if constexpr (K == ReduceKind::kMin) {
          if constexpr (is_fp_acc) return (x < a || std::isnan(x)) && !std::isnan(a) ? x : a;
          else return x < a ? x : a;
        } else if constexpr (K == ReduceKind::kL1) {
          if constexpr (std::is_unsigned_v<A>) return a + x;
          else return a + (x < 0 ? -x : x);
        } else if constexpr (K == ReduceKind::kL2 || K == ReduceKind::kSumSquare) return a + x * x;
        else return a + x;
      };
      for_each_run([&](int64_t i0, int64_t o0, int64_t n, int64_t step) {
        if (step == 0) {
          A a = acc[o0];
          for (int64_t j = 0; j < n; ++j) a = combine(a, value(i0 + j));
          acc[o0] = a;
        } else {
          A* dst = acc + o0;
          for (int64_t j = 0; j < n; ++j) dst[j] = combine(dst[j], value(i0 + j));
        }
      });
      for (int64_t o = 0; o < out_numel_; ++o) {
        if constexpr (K == ReduceKind::kMean) {
          if constexpr (is_fp_acc) out[o] = from_acc<T>(acc[o] / static_cast<double>(count_));
          else out[o] = count_ == 0 ? T{0} : from_acc<T>(static_cast<double>(acc[o]) / static_cast<double>(count_));
        } else if constexpr (K == ReduceKind::kL2) {
          out[o] = from_acc<T>(std::sqrt(acc[o]));
        } else if constexpr (K == ReduceKind::kLogSum) {
          out[o] = from_acc<T>(std::log(acc[o]));
        } else {
          out[o] = from_acc<T>(acc[o]);
        }
      }
    }
  }

  bool keepdims_, noop_with_empty_axes_, axes_from_input_;
  std::vector<int64_t> attr_axes_;
  bool copy_only_ = false;
  int64_t count_ = 1, out_numel_ = 0, in_numel_ = 0;
  std::vector<int64_t> dims_, in_strides_, out_strides_, index_;
  std::vector<bool> dim_reduced_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ReduceSum", Reduce<ReduceKind::kSum>);
EDGERUN_REGISTER_KERNEL("ReduceMean", Reduce<ReduceKind::kMean>);
EDGERUN_REGISTER_KERNEL("ReduceMax", Reduce<ReduceKind::kMax>);
EDGERUN_REGISTER_KERNEL("ReduceMin", Reduce<ReduceKind::kMin>);
EDGERUN_REGISTER_KERNEL("ReduceProd", Reduce<ReduceKind::kProd>);
EDGERUN_REGISTER_KERNEL("ReduceL1", Reduce<ReduceKind::kL1>);
EDGERUN_REGISTER_KERNEL("ReduceL2", Reduce<ReduceKind::kL2>);
EDGERUN_REGISTER_KERNEL("ReduceLogSum", Reduce<ReduceKind::kLogSum>);
EDGERUN_REGISTER_KERNEL("ReduceLogSumExp", Reduce<ReduceKind::kLogSumExp>);
EDGERUN_REGISTER_KERNEL("ReduceSumSquare", Reduce<ReduceKind::kSumSquare>);
}  // namespace edgerun
