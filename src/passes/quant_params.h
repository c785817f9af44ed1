// Quantization parameters read from constant graph inputs, and the limits of XNNPACK's int8
// operators, shared by the passes that introduce int8 kernels (FuseQdq, ConvertToNhwc). A pass
// rewrites a node only when these checks hold, so operator creation never fails at prepare.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace edgerun {

// Per-tensor int8 quantization: real = (q - zero_point) * scale.
struct Int8Quant {
  float scale = 1.f;
  int8_t zero_point = 0;
};

// Constant float32 scalar scale and constant int8 scalar zero point (an absent zero point means
// uint8 in ONNX, so it does not qualify).
bool per_tensor_int8(const Graph& g, const std::string& scale, const std::string& zero_point, Int8Quant* q);

// Scales of constant int8 weights with zero points all zero: one scale per output channel
// (`channels` values, or one value repeated). False for any other zero point or a bad scale.
bool symmetric_int8_scales(const Graph& g, const std::string& scale, const std::string& zero_point, int64_t channels,
                           std::vector<float>* scales);

// A positive, normal float (XNNPACK refuses zero, denormal, infinite and NaN scales).
bool usable_scale(float s);

// xnn_create_convolution2d_nhwc_qc8: x_scale * w_scale[m] / y_scale below 256 for every channel.
bool qc8_requantization_ok(float x_scale, const std::vector<float>& w_scales, float y_scale);

// xnn_create_add_nd_qs8: each input-to-output scale ratio in [2^-10, 2^8).
bool qs8_add_ok(float a_scale, float b_scale, float y_scale);

// xnn_create_global_average_pooling_nwc_qs8: input-to-output scale ratio in [2^-8, 2^8).
bool qs8_global_average_pool_ok(float x_scale, float y_scale);

}  // namespace edgerun
