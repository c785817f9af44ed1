// BatchNormalization: inference with the given statistics, or (training_mode = 1, opset 14+) with batch
// statistics plus updated running mean/variance outputs. Opset 7-8 `spatial = 0` takes per-activation
// parameters of shape [C, D1, ...].
#include <cmath>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

bool is_float_dtype(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Reads a float tensor of any float dtype into preallocated doubles.
void load_doubles(const Tensor& t, double* out) {
  dispatch_dtype<kFloats>(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, double>) out[i] = p[i];
      else out[i] = static_cast<float>(p[i]);
    }
  });
}

void store_doubles(const double* in, Tensor& t) {
  dispatch_dtype<kFloats>(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(in[i]);
  });
}

class BatchNormalization final : public Kernel {
 public:
  BatchNormalization(const Node& node, int64_t opset)
      : opset_(opset), epsilon_(node.attr_float("epsilon", 1e-5f)), momentum_(node.attr_float("momentum", 0.9f)),
        spatial_(opset < 9 ? node.attr_int("spatial", 1) != 0 : true),
        training_(opset >= 14 && node.attr_int("training_mode", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (!is_float_dtype(dt)) ctx.fail(std::string("X must be a float tensor, got ") + dtype_name(dt));
    const Shape& x = ctx.input_shape(0);
    if (x.size() < 2) ctx.fail("X must have rank >= 2 (N, C, ...), got shape " + shape_str(x));
    batch_ = x[0];
    channels_ = x[1];
    inner_ = 1;
    for (size_t i = 2; i < x.size(); ++i) inner_ *= x[i];
    Shape param = {channels_};
    if (!spatial_) param.insert(param.end(), x.begin() + 2, x.end());
    static const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i) {
      if (!ctx.has_input(i)) ctx.fail(std::string("input ") + names[i] + " is required");
      if (!is_float_dtype(ctx.input_dtype(i)))
        ctx.fail(std::string(names[i]) + " must be a float tensor, got " + dtype_name(ctx.input_dtype(i)));
      const Shape& s = ctx.input_shape(i);
      if (s != param && !(spatial_ && s.size() == 1 && s[0] == channels_))
        ctx.fail(std::string(names[i]) + " has shape " + shape_str(s) + ", expected " + shape_str(param));
    }
    if (opset_ < 15)
      for (size_t i = 1; i < 5; ++i)
        if (ctx.input_dtype(i) != dt)
          ctx.fail(std::string(names[i]) + " has dtype " + dtype_name(ctx.input_dtype(i)) + ", expected " + dtype_name(dt));
    ctx.set_output(0, dt, x);
    const size_t outputs = ctx.num_outputs();
    bool wants_stats = false;
    for (size_t i = 1; i < outputs; ++i) wants_stats = wants_stats || ctx.has_output(i);
    if (opset_ >= 14) {
      if (wants_stats && !training_) ctx.fail("running_mean/running_var outputs require training_mode = 1");
    } else {
      // Before opset 14 the optional outputs imply training.
      for (size_t i = 3; i < outputs; ++i)
        if (ctx.has_output(i)) ctx.unsupported("saved_mean/saved_var outputs");
      training_ = wants_stats;
    }
    if (training_ && !spatial_) ctx.unsupported("training with spatial = 0");
    for (size_t i = 1; i < 3 && i < outputs; ++i)
      if (ctx.has_output(i)) ctx.set_output(i, ctx.input_dtype(i + 2), ctx.input_shape(i + 2));
    params_ = static_cast<int64_t>(shape_numel(param));
    for (auto& v : values_) v.assign(params_, 0.0);
    scale_.assign(params_, 0.0);
    shift_.assign(params_, 0.0);
    dtype_ = dt;
  }

  void run(RunContext& ctx) override {
    for (int i = 0; i < 4; ++i) load_doubles(ctx.input(i + 1), values_[i].data());
    const double* gamma = values_[0].data();
    const double* beta = values_[1].data();
    double* mean = values_[2].data();
    double* var = values_[3].data();
    dispatch_dtype<kFloats>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = ctx.input(0).data<T>();
      if (training_) {
        // Batch statistics per channel (population variance), then running averages.
        const double count = static_cast<double>(batch_ * inner_);
        for (int64_t c = 0; c < channels_; ++c) {
          double sum = 0;
          for (int64_t n = 0; n < batch_; ++n) {
            const T* p = x + (n * channels_ + c) * inner_;
            for (int64_t i = 0; i < inner_; ++i) sum += static_cast<double>(p[i]);
          }
          const double m = count > 0 ? sum / count : 0;
          double sq = 0;
          for (int64_t n = 0; n < batch_; ++n) {
            const T* p = x + (n * channels_ + c) * inner_;
            for (int64_t i = 0; i < inner_; ++i) {
              const double d = static_cast<double>(p[i]) - m;
              sq += d * d;
            }
          }
          const double v = count > 0 ? sq / count : 0;
          mean[c] = mean[c] * momentum_ + m * (1 - momentum_);
          var[c] = var[c] * momentum_ + v * (1 - momentum_);
          scale_[c] = gamma[c] / std::sqrt(v + epsilon_);
          shift_[c] = beta[c] - m * scale_[c];
        }
        for (size_t i = 1; i < 3 && i < ctx.num_outputs(); ++i)
          if (ctx.has_output(i)) store_doubles(values_[i + 1].data(), ctx.output(i));
      } else {
        for (int64_t c = 0; c < params_; ++c) {
          scale_[c] = gamma[c] / std::sqrt(var[c] + epsilon_);
          shift_[c] = beta[c] - mean[c] * scale_[c];
        }
      }
      using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
      T* y = ctx.output(0).data<T>();
      for (int64_t n = 0; n < batch_; ++n)
        for (int64_t c = 0; c < channels_; ++c) {
          const T* xp = x + (n * channels_ + c) * inner_;
          T* yp = y + (n * channels_ + c) * inner_;
          if (spatial_) {
            const Acc a = static_cast<Acc>(scale_[c]), b = static_cast<Acc>(shift_[c]);
            for (int64_t i = 0; i < inner_; ++i) yp[i] = static_cast<T>(static_cast<Acc>(xp[i]) * a + b);
          } else {
            const double* a = scale_.data() + c * inner_;
            const double* b = shift_.data() + c * inner_;
            for (int64_t i = 0; i < inner_; ++i) yp[i] = static_cast<T>(static_cast<double>(xp[i]) * a[i] + b[i]);
          }
        }
    });
  }

 private:
  int64_t opset_;
  double epsilon_, momentum_;
  bool spatial_, training_;
  DType dtype_ = DType::kFloat32;
  int64_t batch_ = 0, channels_ = 0, inner_ = 1, params_ = 0;
  std::vector<double> values_[4];  // scale, B, mean, var as doubles
  std::vector<double> scale_, shift_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("BatchNormalization", BatchNormalization);
}  // namespace edgerun
