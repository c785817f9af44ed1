#include "passes/quant_params.h"

#include <cmath>

#include "passes/graph_edit.h"

namespace edgerun {

bool usable_scale(float s) { return std::isnormal(s) && s > 0; }

bool per_tensor_int8(const Graph& g, const std::string& scale, const std::string& zero_point, Int8Quant* q) {
  if (scale.empty() || zero_point.empty()) return false;
  const Tensor* s = constant_value(g, scale);
  const Tensor* z = constant_value(g, zero_point);
  if (!s || !z || s->dtype() != DType::kFloat32 || z->dtype() != DType::kInt8) return false;
  if (s->numel() != 1 || z->numel() != 1 || s->rank() > 1 || z->rank() > 1) return false;
  q->scale = s->data<float>()[0];
  q->zero_point = z->data<int8_t>()[0];
  return usable_scale(q->scale);
}

bool symmetric_int8_scales(const Graph& g, const std::string& scale, const std::string& zero_point, int64_t channels,
                           std::vector<float>* scales) {
  const Tensor* s = constant_value(g, scale);
  if (!s || s->dtype() != DType::kFloat32 || s->rank() > 1) return false;
  if (s->numel() != 1 && s->numel() != channels) return false;
  if (!zero_point.empty()) {
    const Tensor* z = constant_value(g, zero_point);
    if (!z || z->dtype() != DType::kInt8 || z->numel() != s->numel()) return false;
    for (int64_t i = 0; i < z->numel(); ++i)
      if (z->data<int8_t>()[i] != 0) return false;
  }
  scales->resize(static_cast<size_t>(channels));
  for (int64_t m = 0; m < channels; ++m) {
    (*scales)[m] = s->data<float>()[s->numel() == 1 ? 0 : m];
    if (!usable_scale((*scales)[m])) return false;
  }
  return true;
}

bool qc8_requantization_ok(float x_scale, const std::vector<float>& w_scales, float y_scale) {
  if (!usable_scale(x_scale) || !usable_scale(y_scale)) return false;
  for (float w : w_scales) {
    const float r = x_scale * w / y_scale;
    if (!usable_scale(r) || r >= 256.f) return false;
  }
  return true;
}

bool qs8_add_ok(float a_scale, float b_scale, float y_scale) {
  auto ok = [&](float s) {
    const float r = s / y_scale;
    return r >= 0x1.0p-10f && r < 0x1.0p+8f;
  };
  return usable_scale(a_scale) && usable_scale(b_scale) && usable_scale(y_scale) && ok(a_scale) && ok(b_scale);
}

bool qs8_global_average_pool_ok(float x_scale, float y_scale) {
  if (!usable_scale(x_scale) || !usable_scale(y_scale)) return false;
  const float r = x_scale / y_scale;
  return r >= 0x1.0p-8f && r < 0x1.0p+8f;
}

}  // namespace edgerun
