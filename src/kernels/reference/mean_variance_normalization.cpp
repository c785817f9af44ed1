// MeanVarianceNormalization: (X - mean) / (sqrt(variance) + 1e-9), with mean and variance taken over `axes`
// (default [0, 2, 3]).
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

class MeanVarianceNormalization final : public Kernel {
 public:
  MeanVarianceNormalization(const Node& node, int64_t opset)
      : axes_(node.has_attr("axes") ? node.attr_ints("axes") : std::vector<int64_t>{0, 2, 3}) {}

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kFloat16 && dt != DType::kBFloat16)
      ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(x.size());
    std::vector<bool> reduced(rank, false);
    for (int64_t a : axes_) {
      const int64_t axis = normalize_axis(a, rank, ctx.node().describe() + " axes");
      if (reduced[axis]) ctx.fail("axes contains dimension " + std::to_string(axis) + " twice");
      reduced[axis] = true;
    }
    // Each element's statistics slot: a row-major index over the kept dimensions.
    Shape stats_shape(rank);
    for (int64_t d = 0; d < rank; ++d) stats_shape[d] = reduced[d] ? 1 : x[d];
    stats_strides_ = broadcast_strides(stats_shape, x);
    shape_ = x;
    stats_count_ = shape_numel(stats_shape);
    numel_ = shape_numel(x);
    group_size_ = stats_count_ ? numel_ / stats_count_ : 0;
    slot_.resize(numel_);
    std::vector<int64_t> pos(rank, 0);
    for (int64_t i = 0; i < numel_; ++i) {
      int64_t off = 0;
      for (int64_t d = 0; d < rank; ++d) off += pos[d] * stats_strides_[d];
      slot_[i] = off;
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (++pos[d] < x[d]) break;
        pos[d] = 0;
      }
    }
    mean_.assign(stats_count_, 0.0);
    scale_.assign(stats_count_, 0.0);
    dtype_ = dt;
    ctx.set_output(0, dt, x);
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      T* y = ctx.output(0).data<T>();
      std::fill(mean_.begin(), mean_.end(), 0.0);
      std::fill(scale_.begin(), scale_.end(), 0.0);
      const double n = static_cast<double>(group_size_);
      for (int64_t i = 0; i < numel_; ++i) mean_[slot_[i]] += static_cast<double>(x[i]);
      for (double& m : mean_) m /= n;
      for (int64_t i = 0; i < numel_; ++i) {
        const double d = static_cast<double>(x[i]) - mean_[slot_[i]];
        scale_[slot_[i]] += d * d;
      }
      for (double& s : scale_) s = 1.0 / (std::sqrt(s / n) + 1e-9);
      for (int64_t i = 0; i < numel_; ++i)
        y[i] = static_cast<T>((static_cast<double>(x[i]) - mean_[slot_[i]]) * scale_[slot_[i]]);
    });
  }

 private:
  std::vector<int64_t> axes_;
  Shape shape_;
  std::vector<int64_t> stats_strides_, slot_;
  int64_t stats_count_ = 0, numel_ = 0, group_size_ = 0;
  std::vector<double> mean_, scale_;
  DType dtype_ = DType::kFloat32;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("MeanVarianceNormalization", MeanVarianceNormalization);
}  // namespace edgerun
