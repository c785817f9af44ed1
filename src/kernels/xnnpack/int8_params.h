// Quantization parameters of the int8 XNNPACK kernels, read and validated in prepare. The kernels take
// their inputs in ONNX QLinear order: x, x_scale, x_zero_point, [w, w_scale, w_zero_point,] ...,
// y_scale, y_zero_point; scales and zero points must be constants.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/xnnpack/xnnpack_common.h"

namespace edgerun {

struct Int8Scalar {
  float scale = 1.f;
  int8_t zero_point = 0;
};

// A constant float32 scalar scale and int8 scalar zero point.
inline Int8Scalar read_int8_quant(PrepareContext& ctx, size_t scale, size_t zero_point) {
  if (!ctx.has_input(scale) || !ctx.has_input(zero_point)) ctx.fail("scales and zero points are required");
  const Tensor& s = ctx.require_value(scale);
  const Tensor& z = ctx.require_value(zero_point);
  if (s.dtype() != DType::kFloat32 || s.numel() != 1 || z.dtype() != DType::kInt8 || z.numel() != 1)
    ctx.fail("expects a float32 scalar scale and an int8 scalar zero point at inputs " + std::to_string(scale) + ", " +
             std::to_string(zero_point));
  Int8Scalar q{s.data<float>()[0], z.data<int8_t>()[0]};
  if (!(std::isnormal(q.scale) && q.scale > 0)) ctx.fail("scale must be positive and finite");
  return q;
}

// One weight scale per output channel (a scalar scale is repeated); the weight zero point, when
// present, must be all zero (XNNPACK's int8 weights are symmetric).
inline std::vector<float> read_weight_scales(PrepareContext& ctx, size_t scale, size_t zero_point, int64_t channels) {
  const Tensor& s = ctx.require_value(scale);
  if (s.dtype() != DType::kFloat32 || (s.numel() != 1 && s.numel() != channels))
    ctx.fail("w_scale must be float32 with 1 or " + std::to_string(channels) + " values");
  if (ctx.has_input(zero_point)) {
    const Tensor& z = ctx.require_value(zero_point);
    if (z.dtype() != DType::kInt8 || z.numel() != s.numel()) ctx.fail("w_zero_point must be int8 shaped like w_scale");
    for (int64_t i = 0; i < z.numel(); ++i)
      if (z.data<int8_t>()[i] != 0) ctx.unsupported("non-zero weight zero points");
  }
  std::vector<float> scales(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m) scales[m] = s.data<float>()[s.numel() == 1 ? 0 : m];
  return scales;
}

// Output clamp of an int8 kernel, in quantized units (attributes output_min / output_max, written by
// the FuseActivations pass); the full int8 range by default.
struct Int8Range {
  int8_t min = -128, max = 127;
  static Int8Range from_node(const Node& node) {
    Int8Range r;
    r.min = static_cast<int8_t>(node.attr_int("output_min", -128));
    r.max = static_cast<int8_t>(node.attr_int("output_max", 127));
    if (r.min >= r.max) throw Error(ErrorCode::kInvalidModel, node.describe() + ": output_min must be below output_max");
    return r;
  }
};

}  // namespace edgerun
