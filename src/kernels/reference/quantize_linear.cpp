// Linear quantization: QuantizeLinear (per tensor, or per axis from opset 13), DequantizeLinear and
// DynamicQuantizeLinear. Rounding is half to even and results saturate to the target integer range.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {
namespace {

// Splits x's shape around the quantization axis: scale/zero point index = (i / inner) % axis_dim.
struct AxisLayout {
  int64_t outer = 1, axis_dim = 1, inner = 1;
  bool per_axis = false;
};

AxisLayout resolve_axis(const PrepareContext& ctx, int64_t opset, int64_t axis_attr, size_t scale_input,
                        size_t zero_point_input) {
  const Shape& x = ctx.input_shape(0);
  const Shape& scale = ctx.input_shape(scale_input);
  AxisLayout l;
  l.inner = shape_numel(x);
  if (shape_numel(scale) == 1 && scale.size() <= 1) {
    if (ctx.has_input(zero_point_input) && shape_numel(ctx.input_shape(zero_point_input)) != 1)
      ctx.fail("zero point has shape " + shape_str(ctx.input_shape(zero_point_input)) + " but the scale is a scalar");
    return l;
  }
  if (opset < 13) ctx.fail("scale must be a scalar before opset 13, got shape " + shape_str(scale));
  if (scale.size() != 1) ctx.fail("scale must be a scalar or 1-D, got shape " + shape_str(scale));
  const int64_t axis = normalize_axis(axis_attr, static_cast<int64_t>(x.size()), ctx.node().describe());
  if (scale[0] != x[axis])
    ctx.fail("scale has " + std::to_string(scale[0]) + " values but axis " + std::to_string(axis) + " of x " +
             shape_str(x) + " has " + std::to_string(x[axis]));
  if (ctx.has_input(zero_point_input) && ctx.input_shape(zero_point_input) != scale)
    ctx.fail("zero point has shape " + shape_str(ctx.input_shape(zero_point_input)) + ", expected " + shape_str(scale));
  l.per_axis = true;
  l.outer = 1;
  for (int64_t d = 0; d < axis; ++d) l.outer *= x[d];
  l.axis_dim = x[axis];
  l.inner = 1;
  for (size_t d = axis + 1; d < x.size(); ++d) l.inner *= x[d];
  return l;
}

template <typename Q>
Q saturate_round(float v) {
  const float r = std::nearbyint(v);
  const float lo = static_cast<float>(std::numeric_limits<Q>::min());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  if (!(r >= lo)) return std::numeric_limits<Q>::min();  // also NaN
  if (r > hi) return std::numeric_limits<Q>::max();
  return static_cast<Q>(r);
}

class QuantizeLinear final : public Kernel {
 public:
  QuantizeLinear(const Node& node, int64_t opset) : opset_(opset), axis_(node.attr_int("axis", 1)) {
    if (node.attr_int("saturate", 1) != 1)
      throw Error(ErrorCode::kUnsupported, node.describe() + ": saturate = 0 is only defined for float8 outputs");
  }

  void prepare(PrepareContext& ctx) override {
    x_type_ = ctx.input_dtype(0);
    if (x_type_ != DType::kFloat32 && x_type_ != DType::kInt32 && x_type_ != DType::kFloat16 && x_type_ != DType::kFloat64 &&
        x_type_ != DType::kBFloat16)
      ctx.fail(std::string("x must be float or int32, got ") + dtype_name(x_type_));
    scale_type_ = ctx.input_dtype(1);
    if (scale_type_ != DType::kFloat32 && scale_type_ != x_type_)
      ctx.fail(std::string("y_scale has dtype ") + dtype_name(scale_type_) + ", expected float32");
    y_type_ = ctx.has_input(2) ? ctx.input_dtype(2) : DType::kUInt8;
    if (y_type_ != DType::kUInt8 && y_type_ != DType::kInt8 && y_type_ != DType::kUInt16 && y_type_ != DType::kInt16)
      ctx.fail(std::string("y_zero_point must be int8 or uint8, got ") + dtype_name(y_type_));
    layout_ = resolve_axis(ctx, opset_, axis_, 1, 2);
    ctx.set_output(0, y_type_, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    dispatch_dtype<kInts>(y_type_, [&](auto qtag) {
      using Q = decltype(qtag);
      if constexpr (sizeof(Q) <= 2) {
        dispatch_dtype<kFloats | kInts>(x_type_, [&](auto xtag) {
          using X = decltype(xtag);
          if constexpr (is_float_v<X> || std::is_same_v<X, int32_t>) {
            dispatch_dtype<kFloats>(scale_type_, [&](auto stag) {
              using S = decltype(stag);
              const X* px = x.data<X>();
              const S* ps = scale.data<S>();
              Q* py = ctx.output(0).data<Q>();
              const Q* pz = zp ? zp->data<Q>() : nullptr;
              const AxisLayout& l = layout_;
              for (int64_t o = 0; o < l.outer; ++o)
                for (int64_t a = 0; a < l.axis_dim; ++a) {
                  const float s = static_cast<float>(ps[a]);
                  const float z = pz ? static_cast<float>(pz[a]) : 0.f;
                  const int64_t base = (o * l.axis_dim + a) * l.inner;
                  for (int64_t i = 0; i < l.inner; ++i)
                    py[base + i] = saturate_round<Q>(std::nearbyint(static_cast<float>(px[base + i]) / s) + z);
                }
            });
          }
        });
      }
    });
  }

 private:
  int64_t opset_, axis_;
  DType x_type_ = DType::kFloat32, scale_type_ = DType::kFloat32, y_type_ = DType::kUInt8;
  AxisLayout layout_;
};

class DequantizeLinear final : public Kernel {
 public:
  DequantizeLinear(const Node& node, int64_t opset) : opset_(opset), axis_(node.attr_int("axis", 1)) {}

  void prepare(PrepareContext& ctx) override {
    x_type_ = ctx.input_dtype(0);
    if (x_type_ != DType::kUInt8 && x_type_ != DType::kInt8 && x_type_ != DType::kInt32 && x_type_ != DType::kUInt16 &&
        x_type_ != DType::kInt16)
      ctx.fail(std::string("x must be int8, uint8 or int32, got ") + dtype_name(x_type_));
    scale_type_ = ctx.input_dtype(1);
    if (scale_type_ != DType::kFloat32 && scale_type_ != DType::kFloat16 && scale_type_ != DType::kBFloat16)
      ctx.fail(std::string("x_scale must be float, got ") + dtype_name(scale_type_));
    if (ctx.has_input(2) && ctx.input_dtype(2) != x_type_)
      ctx.fail(std::string("x_zero_point has dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " + dtype_name(x_type_));
    layout_ = resolve_axis(ctx, opset_, axis_, 1, 2);
    ctx.set_output(0, scale_type_, ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    dispatch_dtype<kInts>(x_type_, [&](auto xtag) {
      using X = decltype(xtag);
      if constexpr (sizeof(X) <= 4) {
        dispatch_dtype<kFloats>(scale_type_, [&](auto stag) {
          using S = decltype(stag);
          const X* px = ctx.input(0).data<X>();
          const S* ps = ctx.input(1).data<S>();
          const X* pz = zp ? zp->data<X>() : nullptr;
          S* py = ctx.output(0).data<S>();
          const AxisLayout& l = layout_;
          for (int64_t o = 0; o < l.outer; ++o)
            for (int64_t a = 0; a < l.axis_dim; ++a) {
              const float s = static_cast<float>(ps[a]);
              const int64_t z = pz ? static_cast<int64_t>(pz[a]) : 0;
              const int64_t base = (o * l.axis_dim + a) * l.inner;
              for (int64_t i = 0; i < l.inner; ++i)
                py[base + i] = static_cast<S>(static_cast<float>(static_cast<int64_t>(px[base + i]) - z) * s);
            }
        });
      }
    });
  }

 private:
  int64_t opset_, axis_;
  DType x_type_ = DType::kUInt8, scale_type_ = DType::kFloat32;
  AxisLayout layout_;
};

class DynamicQuantizeLinear final : public Kernel {
 public:
  DynamicQuantizeLinear(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32)
      ctx.fail(std::string("x must be float32, got ") + dtype_name(ctx.input_dtype(0)));
    ctx.set_output(0, DType::kUInt8, ctx.input_shape(0));
    ctx.set_output(1, DType::kFloat32, {});
    ctx.set_output(2, DType::kUInt8, {});
  }

  void run(RunContext& ctx) override {
    const Tensor& xt = ctx.input(0);
    const float* x = xt.data<float>();
    const int64_t n = xt.numel();
    // The range always includes 0 so that 0 is exactly representable.
    float lo = 0.f, hi = 0.f;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float scale = (hi - lo) / 255.f;
    const uint8_t zp = scale == 0.f ? 0 : saturate_round<uint8_t>(0.f - lo / scale);
    uint8_t* y = ctx.output(0).data<uint8_t>();
    for (int64_t i = 0; i < n; ++i)
      y[i] = scale == 0.f ? zp : saturate_round<uint8_t>(std::nearbyint(x[i] / scale) + static_cast<float>(zp));
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) ctx.output(1).data<float>()[0] = scale;
    if (ctx.num_outputs() > 2 && ctx.has_output(2)) ctx.output(2).data<uint8_t>()[0] = zp;
  }
};

}  // namespace
EDGERUN_REGISTER_KERNEL("QuantizeLinear", QuantizeLinear);
EDGERUN_REGISTER_KERNEL("DequantizeLinear", DequantizeLinear);
EDGERUN_REGISTER_KERNEL("DynamicQuantizeLinear", DynamicQuantizeLinear);
}  // namespace edgerun
