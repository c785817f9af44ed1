// Quantized convolutions: ConvInteger (int32 result) and QLinearConv (requantized result, optional int32
// bias). Both accumulate (x - x_zero_point) * (w - w_zero_point); padding contributes nothing because
// padded positions hold the zero point. The weight zero point (and QLinearConv's weight scale) may be per
// output channel.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/window_geometry.h"

namespace edgerun {
namespace {

bool is_int8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

class IntegerConv {
 public:
  IntegerConv(const Node& node) : attrs_(WindowAttributes::from_node(node)), group_(node.attr_int("group", 1)) {
    if (group_ < 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": group must be positive");
  }

  // x_input/w_input: input indices of X and W; x_zp/w_zp: zero point inputs (may be absent).
  void prepare(PrepareContext& ctx, size_t x_input, size_t w_input, size_t x_zp, size_t w_zp) {
    x_type_ = ctx.input_dtype(x_input);
    w_type_ = ctx.input_dtype(w_input);
    if (!is_int8(x_type_) || !is_int8(w_type_))
      ctx.fail(std::string("x and w must be int8 or uint8, got ") + dtype_name(x_type_) + " and " + dtype_name(w_type_));
    const Shape& x = ctx.input_shape(x_input);
    const Shape& w = ctx.input_shape(w_input);
    if (x.size() < 3) ctx.fail("x must have rank >= 3 (N, C, spatial...), got shape " + shape_str(x));
    if (w.size() != x.size()) ctx.fail("w has shape " + shape_str(w) + ", expected the rank of x " + shape_str(x));
    const size_t rank = x.size() - 2;
    if (rank > 3) ctx.unsupported("convolutions with more than 3 spatial dimensions");
    batch_ = x[0];
    in_channels_ = x[1];
    out_channels_ = w[0];
    if (in_channels_ % group_ != 0 || out_channels_ % group_ != 0 || w[1] * group_ != in_channels_)
      ctx.fail("channels of x " + shape_str(x) + " and w " + shape_str(w) + " do not match group " + std::to_string(group_));
    const std::vector<int64_t> kernel(w.begin() + 2, w.end());
    if (!attrs_.kernel_shape.empty() && attrs_.kernel_shape != kernel)
      ctx.fail("kernel_shape attribute does not match w shape " + shape_str(w));
    geo_ = resolve_window(ctx, attrs_, std::vector<int64_t>(x.begin() + 2, x.end()), kernel);
    win_ = to_window3(geo_);
    out_shape_ = {batch_, out_channels_};
    out_shape_.insert(out_shape_.end(), geo_.out.begin(), geo_.out.end());
    if (ctx.has_input(x_zp)) {
      if (ctx.input_dtype(x_zp) != x_type_) ctx.fail("x_zero_point must have the dtype of x");
      if (shape_numel(ctx.input_shape(x_zp)) != 1) ctx.fail("x_zero_point must be a scalar");
    }
    w_zp_per_channel_ = false;
    if (ctx.has_input(w_zp)) {
      if (ctx.input_dtype(w_zp) != w_type_) ctx.fail("w_zero_point must have the dtype of w");
      const int64_t n = shape_numel(ctx.input_shape(w_zp));
      if (n != 1 && n != out_channels_)
        ctx.fail("w_zero_point has shape " + shape_str(ctx.input_shape(w_zp)) + ", expected a scalar or " +
                 std::to_string(out_channels_) + " values");
      w_zp_per_channel_ = n != 1;
    }
    group_in_ = in_channels_ / group_;
    group_out_ = out_channels_ / group_;
    in_size_ = geo_.in_size();
    out_size_ = geo_.out_size();
    kernel_size_ = geo_.kernel_size();
    ow_lo_.assign(win_.kernel[2], 0);
    ow_hi_.assign(win_.kernel[2], 0);
    for (int64_t kw = 0; kw < win_.kernel[2]; ++kw)
      valid_output_range(win_.in[2], win_.out[2], win_.stride[2], win_.pad[2], kw * win_.dilation[2], &ow_lo_[kw],
                         &ow_hi_[kw]);
    ctx.request_scratch(sizeof(int64_t) * static_cast<size_t>(std::max<int64_t>(out_size_, 1)));
  }

  const Shape& out_shape() const { return out_shape_; }
  int64_t out_channels() const { return out_channels_; }

  // Calls emit(n, m, acc_plane) with the out_size accumulators of each output plane.
  template <typename Emit>
  void run(const Tensor& x, const Tensor& w, const Tensor* x_zp, const Tensor* w_zp, void* scratch, Emit&& emit) const {
    int64_t* acc = static_cast<int64_t*>(scratch);
    auto body = [&](auto xt, auto wt) {
      using TX = decltype(xt);
      using TW = decltype(wt);
      const TX* px = x.data<TX>();
      const TW* pw = w.data<TW>();
      const int32_t xz = x_zp ? static_cast<int32_t>(x_zp->data<TX>()[0]) : 0;
      const Window3& k = win_;
      for (int64_t n = 0; n < batch_; ++n)
        for (int64_t m = 0; m < out_channels_; ++m) {
          const int64_t g = m / group_out_;
          const int32_t wz = w_zp ? static_cast<int32_t>(w_zp->data<TW>()[w_zp_per_channel_ ? m : 0]) : 0;
          std::fill(acc, acc + out_size_, 0);
          for (int64_t c = 0; c < group_in_; ++c) {
            const TX* x_plane = px + (n * in_channels_ + g * group_in_ + c) * in_size_;
            const TW* w_c = pw + (m * group_in_ + c) * kernel_size_;
            for (int64_t kd = 0; kd < k.kernel[0]; ++kd)
              for (int64_t kh = 0; kh < k.kernel[1]; ++kh)
                for (int64_t kw = 0; kw < k.kernel[2]; ++kw) {
                  const int64_t wv = static_cast<int32_t>(w_c[(kd * k.kernel[1] + kh) * k.kernel[2] + kw]) - wz;
                  if (wv == 0) continue;
                  const int64_t w_off = kw * k.dilation[2] - k.pad[2];
                  for (int64_t od = 0; od < k.out[0]; ++od) {
                    const int64_t id = od * k.stride[0] - k.pad[0] + kd * k.dilation[0];
                    if (id < 0 || id >= k.in[0]) continue;
                    for (int64_t oh = 0; oh < k.out[1]; ++oh) {
                      const int64_t ih = oh * k.stride[1] - k.pad[1] + kh * k.dilation[1];
                      if (ih < 0 || ih >= k.in[1]) continue;
                      const TX* x_row = x_plane + (id * k.in[1] + ih) * k.in[2];
                      int64_t* a_row = acc + (od * k.out[1] + oh) * k.out[2];
                      for (int64_t ow = ow_lo_[kw]; ow < ow_hi_[kw]; ++ow)
                        a_row[ow] += wv * (static_cast<int32_t>(x_row[ow * k.stride[2] + w_off]) - xz);
                    }
                  }
                }
          }
          emit(n, m, static_cast<const int64_t*>(acc));
        }
    };
    const bool xu = x_type_ == DType::kUInt8, wu = w_type_ == DType::kUInt8;
    if (xu && wu) body(uint8_t{}, uint8_t{});
    else if (xu) body(uint8_t{}, int8_t{});
    else if (wu) body(int8_t{}, uint8_t{});
    else body(int8_t{}, int8_t{});
  }

  int64_t out_size() const { return out_size_; }

 private:
  WindowAttributes attrs_;
  int64_t group_;
  WindowGeometry geo_;
  Window3 win_{};
  Shape out_shape_;
  DType x_type_ = DType::kUInt8, w_type_ = DType::kUInt8;
  bool w_zp_per_channel_ = false;
  int64_t batch_ = 0, in_channels_ = 0, out_channels_ = 0, group_in_ = 0, group_out_ = 0;
  int64_t in_size_ = 0, out_size_ = 0, kernel_size_ = 0;
  std::vector<int64_t> ow_lo_, ow_hi_;
};

class ConvInteger final : public Kernel {
 public:
  ConvInteger(const Node& node, int64_t opset) : conv_(node) {}
  void prepare(PrepareContext& ctx) override {
    conv_.prepare(ctx, 0, 1, 2, 3);
    ctx.set_output(0, DType::kInt32, conv_.out_shape());
  }
  void run(RunContext& ctx) override {
    int32_t* y = ctx.output(0).data<int32_t>();
    const int64_t out_size = conv_.out_size(), channels = conv_.out_channels();
    conv_.run(ctx.input(0), ctx.input(1), ctx.has_input(2) ? &ctx.input(2) : nullptr,
              ctx.has_input(3) ? &ctx.input(3) : nullptr, ctx.scratch(), [&](int64_t n, int64_t m, const int64_t* acc) {
                int32_t* plane = y + (n * channels + m) * out_size;
                for (int64_t i = 0; i < out_size; ++i) plane[i] = static_cast<int32_t>(acc[i]);
              });
  }

 private:
  IntegerConv conv_;
};

class QLinearConv final : public Kernel {
 public:
  QLinearConv(const Node& node, int64_t opset) : conv_(node) {}
  void prepare(PrepareContext& ctx) override {
    for (size_t i = 0; i < 8; ++i)
      if (!ctx.has_input(i)) ctx.fail("inputs 0-7 are required");
    conv_.prepare(ctx, 0, 3, 2, 5);
    for (size_t i : {1, 4, 6})
      if (ctx.input_dtype(i) != DType::kFloat32) ctx.fail("scales must be float32, input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)));
    if (shape_numel(ctx.input_shape(1)) != 1) ctx.fail("x_scale must be a scalar");
    if (shape_numel(ctx.input_shape(6)) != 1 || shape_numel(ctx.input_shape(7)) != 1)
      ctx.fail("y_scale and y_zero_point must be scalars");
    const int64_t ws = shape_numel(ctx.input_shape(4));
    if (ws != 1 && ws != conv_.out_channels())
      ctx.fail("w_scale has shape " + shape_str(ctx.input_shape(4)) + ", expected a scalar or " +
               std::to_string(conv_.out_channels()) + " values");
    w_scale_per_channel_ = ws != 1;
    y_type_ = ctx.input_dtype(7);
    if (!is_int8(y_type_)) ctx.fail(std::string("y_zero_point must be int8 or uint8, got ") + dtype_name(y_type_));
    has_bias_ = ctx.has_input(8);
    if (has_bias_) {
      if (ctx.input_dtype(8) != DType::kInt32) ctx.fail(std::string("B must be int32, got ") + dtype_name(ctx.input_dtype(8)));
      if (ctx.input_shape(8) != Shape{conv_.out_channels()})
        ctx.fail("B has shape " + shape_str(ctx.input_shape(8)) + ", expected [" + std::to_string(conv_.out_channels()) + "]");
    }
    ctx.set_output(0, y_type_, conv_.out_shape());
  }
  void run(RunContext& ctx) override {
    const float x_scale = ctx.input(1).data<float>()[0];
    const float* w_scale = ctx.input(4).data<float>();
    const float y_scale = ctx.input(6).data<float>()[0];
    const int32_t* bias = has_bias_ ? ctx.input(8).data<int32_t>() : nullptr;
    const int64_t out_size = conv_.out_size(), channels = conv_.out_channels();
    auto emit_as = [&](auto tag) {
      using TY = decltype(tag);
      const float y_zp = static_cast<float>(ctx.input(7).data<TY>()[0]);
      TY* y = ctx.output(0).data<TY>();
      const float lo = static_cast<float>(std::numeric_limits<TY>::min());
      const float hi = static_cast<float>(std::numeric_limits<TY>::max());
      conv_.run(ctx.input(0), ctx.input(3), &ctx.input(2), &ctx.input(5), ctx.scratch(),
                [&](int64_t n, int64_t m, const int64_t* acc) {
                  const float multiplier = x_scale * w_scale[w_scale_per_channel_ ? m : 0] / y_scale;
                  const int64_t b = bias ? bias[m] : 0;
                  TY* plane = y + (n * channels + m) * out_size;
                  for (int64_t i = 0; i < out_size; ++i) {
                    const float q = std::nearbyint(static_cast<float>(acc[i] + b) * multiplier) + y_zp;
                    plane[i] = static_cast<TY>(q >= lo ? std::min(q, hi) : lo);  // NaN saturates low
                  }
                });
    };
    if (y_type_ == DType::kUInt8) emit_as(uint8_t{});
    else emit_as(int8_t{});
  }

 private:
  IntegerConv conv_;
  DType y_type_ = DType::kUInt8;
  bool has_bias_ = false, w_scale_per_channel_ = false;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("ConvInteger", ConvInteger);
EDGERUN_REGISTER_KERNEL("QLinearConv", QLinearConv);
}  // namespace edgerun
