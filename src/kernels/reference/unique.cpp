// Unique: the distinct slices along `axis` (distinct elements of the flattened input when axis is
// absent), sorted ascending or in order of first occurrence, with each one's first index, the
// index of every input slice in the result, and the counts.
#include <numeric>

#include "kernels/reference/data_movement.h"
#include "kernels/reference/value_order.h"

namespace edgerun {
namespace {

class Unique final : public Kernel {
 public:
  Unique(const Node& node, int64_t opset)
      : has_axis_(node.has_attr("axis")), axis_(node.attr_int("axis", 0)), sorted_(node.attr_int("sorted", 1) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& in = ctx.input_shape(0);
    if (!dispatch_dtype<kAll>(ctx.input_dtype(0), [](auto) {}))
      ctx.fail(std::string("unsupported dtype ") + dtype_name(ctx.input_dtype(0)));
    const int64_t rank = static_cast<int64_t>(in.size());
    if (has_axis_) {
      if (axis_ < -rank || axis_ >= rank)
        ctx.fail("axis " + std::to_string(axis_) + " is out of range for an input of rank " + std::to_string(rank));
      axis_index_ = static_cast<size_t>(axis_ < 0 ? axis_ + rank : axis_);
      outer_ = inner_ = 1;
      for (int64_t d = 0; d < rank; ++d) {
        if (d < static_cast<int64_t>(axis_index_)) outer_ *= in[d];
        if (d > static_cast<int64_t>(axis_index_)) inner_ *= in[d];
      }
      dim_ = in[axis_index_];
      y_shape_ = in;
    } else {
      axis_index_ = 0;
      outer_ = inner_ = 1;
      dim_ = shape_numel(in);
      y_shape_ = {dim_};
    }
    ctx.set_output_dynamic(0, ctx.input_dtype(0));
    for (size_t i = 1; i < 4; ++i) ctx.set_output_dynamic(i, DType::kInt64);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    dispatch_dtype<kAll>(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = in.data<T>();
      const int64_t dim = dim_, inner = inner_, outer = outer_;
      // Slices compare element by element in row-major order of the remaining dims.
      auto slice_less = [&](int64_t a, int64_t b) {
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            const T& va = x[(o * dim + a) * inner + i];
            const T& vb = x[(o * dim + b) * inner + i];
            if (value_less(va, vb)) return true;
            if (value_less(vb, va)) return false;
          }
        return false;
      };
      std::vector<int64_t> order(static_cast<size_t>(dim));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), slice_less);
      // Group runs of equal slices; stability makes each run's first entry its first occurrence.
      std::vector<int64_t> first, counts, inverse(static_cast<size_t>(dim));
      for (size_t k = 0; k < order.size(); ++k) {
        if (k == 0 || slice_less(order[k - 1], order[k])) {
          first.push_back(order[k]);
          counts.push_back(0);
        }
        ++counts.back();
        inverse[order[k]] = static_cast<int64_t>(first.size()) - 1;
      }
      const int64_t unique = static_cast<int64_t>(first.size());
      if (!sorted_) {
        std::vector<int64_t> by_first(static_cast<size_t>(unique));
        std::iota(by_first.begin(), by_first.end(), 0);
        std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[a] < first[b]; });
        std::vector<int64_t> rank_of(static_cast<size_t>(unique)), f2(first.size()), c2(counts.size());
        for (int64_t g = 0; g < unique; ++g) {
          rank_of[by_first[g]] = g;
          f2[g] = first[by_first[g]];
          c2[g] = counts[by_first[g]];
        }
        for (auto& v : inverse) v = rank_of[v];
        first.swap(f2);
        counts.swap(c2);
      }
      Shape y_shape = y_shape_;
      y_shape[axis_index_] = unique;
      T* y = ctx.allocate_output(0, in.dtype(), y_shape).template data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t g = 0; g < unique; ++g)
          for (int64_t i = 0; i < inner; ++i) y[(o * unique + g) * inner + i] = x[(o * dim + first[g]) * inner + i];
      auto write = [&](size_t output, const std::vector<int64_t>& values) {
        if (!ctx.has_output(output)) return;
        Tensor& t = ctx.allocate_output(output, DType::kInt64, {static_cast<int64_t>(values.size())});
        std::copy(values.begin(), values.end(), t.data<int64_t>());
      };
      write(1, first);
      write(2, inverse);
      write(3, counts);
    });
  }

 private:
  bool has_axis_;
  int64_t axis_;
  bool sorted_;
  size_t axis_index_ = 0;
  int64_t outer_ = 1, inner_ = 1, dim_ = 0;
  Shape y_shape_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Unique", Unique);
}  // namespace edgerun
