// LayerNormalization (opset 17): normalizes over the trailing dimensions from `axis`, with Scale and optional
// B broadcast to those dimensions; optional Mean and InvStdDev outputs in the stash type.
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

bool is_float_dtype(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16;
}

class LayerNormalization final : public Kernel {
 public:
  LayerNormalization(const Node& node, int64_t opset)
      : axis_(node.attr_int("axis", -1)), epsilon_(node.attr_float("epsilon", 1e-5f)),
        stash_(static_cast<DType>(node.attr_int("stash_type", 1))) {
    if (!is_float_dtype(stash_))
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": stash_type must be a float type");
  }

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (!is_float_dtype(dt)) ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    const int64_t rank = static_cast<int64_t>(x.size());
    if (rank == 0) ctx.fail("X must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, rank, ctx.node().describe());
    const Shape norm_shape(x.begin() + axis, x.end());
    outer_ = 1;
    for (int64_t i = 0; i < axis; ++i) outer_ *= x[i];
    norm_ = 1;
    for (int64_t d : norm_shape) norm_ *= d;
    has_bias_ = ctx.has_input(2);
    for (size_t i = 1; i < 3; ++i) {
      if (i == 2 && !has_bias_) continue;
      const char* name = i == 1 ? "Scale" : "B";
      if (ctx.input_dtype(i) != dt)
        ctx.fail(std::string(name) + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected " + dtype_name(dt));
      const Shape& s = ctx.input_shape(i);
      bool ok = s.size() <= norm_shape.size();
      for (size_t d = 0; ok && d < s.size(); ++d) {
        const int64_t target = norm_shape[norm_shape.size() - s.size() + d];
        ok = s[d] == target || s[d] == 1;
      }
      if (!ok)
        ctx.fail(std::string(name) + " has shape " + shape_str(s) + ", which does not broadcast to the normalized shape " +
                 shape_str(norm_shape));
      // Index of the parameter for each normalized position, unless it is laid out exactly like it.
      std::vector<int64_t>& index = i == 1 ? scale_index_ : bias_index_;
      index.clear();
      if (shape_numel(s) != norm_) {
        const auto strides = broadcast_strides(s, norm_shape);
        index.resize(norm_);
        std::vector<int64_t> pos(norm_shape.size(), 0);
        for (int64_t j = 0; j < norm_; ++j) {
          int64_t off = 0;
          for (size_t d = 0; d < pos.size(); ++d) off += pos[d] * strides[d];
          index[j] = off;
          for (int64_t d = static_cast<int64_t>(pos.size()) - 1; d >= 0; --d) {
            if (++pos[d] < norm_shape[d]) break;
            pos[d] = 0;
          }
        }
      }
    }
    dtype_ = dt;
    ctx.set_output(0, dt, x);
    Shape stats(x.begin(), x.begin() + axis);
    stats.resize(x.size(), 1);
    for (size_t i = 1; i < 3 && i < ctx.num_outputs(); ++i)
      if (ctx.has_output(i)) ctx.set_output(i, stash_, stats);
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      const T* scale = ctx.input(1).data<T>();
      const T* bias = has_bias_ ? ctx.input(2).data<T>() : nullptr;
      T* y = ctx.output(0).data<T>();
      Tensor* mean_out = ctx.num_outputs() > 1 && ctx.has_output(1) ? &ctx.output(1) : nullptr;
      Tensor* inv_out = ctx.num_outputs() > 2 && ctx.has_output(2) ? &ctx.output(2) : nullptr;
      const int64_t* si = scale_index_.empty() ? nullptr : scale_index_.data();
      const int64_t* bi = bias_index_.empty() ? nullptr : bias_index_.data();
      for (int64_t o = 0; o < outer_; ++o) {
        const T* xr = x + o * norm_;
        T* yr = y + o * norm_;
        double sum = 0;
        for (int64_t j = 0; j < norm_; ++j) sum += static_cast<double>(xr[j]);
        const double mean = norm_ ? sum / static_cast<double>(norm_) : 0;
        double sq = 0;
        for (int64_t j = 0; j < norm_; ++j) {
          const double d = static_cast<double>(xr[j]) - mean;
          sq += d * d;
        }
        const double inv_std = 1.0 / std::sqrt((norm_ ? sq / static_cast<double>(norm_) : 0) + epsilon_);
        for (int64_t j = 0; j < norm_; ++j) {
          double v = (static_cast<double>(xr[j]) - mean) * inv_std * static_cast<double>(scale[si ? si[j] : j]);
          if (bias) v += static_cast<double>(bias[bi ? bi[j] : j]);
          yr[j] = static_cast<T>(v);
        }
        if (mean_out) store(*mean_out, o, mean);
        if (inv_out) store(*inv_out, o, inv_std);
      }
    });
  }

 private:
  static void store(Tensor& t, int64_t i, double v) {
    dispatch_dtype<kFloats>(t.dtype(), [&](auto tag) {
      using U = decltype(tag);
      t.data<U>()[i] = static_cast<U>(v);
    });
  }

  int64_t axis_;
  double epsilon_;
  DType stash_;
  DType dtype_ = DType::kFloat32;
  bool has_bias_ = false;
  int64_t outer_ = 0, norm_ = 1;
  std::vector<int64_t> scale_index_, bias_index_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("LayerNormalization", LayerNormalization);
}  // namespace edgerun
