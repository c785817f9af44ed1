// The `reduction` attribute of ScatterND and ScatterElements: how an update combines with the
// element it lands on.
#pragma once
#include <algorithm>
#include <string>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/wrapping_arith.h"

namespace edgerun {

enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };

// Parses the attribute; "max"/"min" exist from opset 18, add/mul from 16.
inline ScatterReduction parse_scatter_reduction(const Node& node, int64_t opset) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return ScatterReduction::kNone;
  if (opset >= 16 && r == "add") return ScatterReduction::kAdd;
  if (opset >= 16 && r == "mul") return ScatterReduction::kMul;
  if (opset >= 18 && r == "max") return ScatterReduction::kMax;
  if (opset >= 18 && r == "min") return ScatterReduction::kMin;
  throw Error(ErrorCode::kInvalidModel, node.describe() + ": reduction '" + r + "' is not valid at opset " +
                                            std::to_string(opset));
}

template <typename T>
inline void scatter_combine(ScatterReduction r, T& dst, const T& src) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) {
    float d = static_cast<float>(dst);
    scatter_combine<float>(r, d, static_cast<float>(src));
    dst = T(d);
  } else if constexpr (std::is_same_v<T, bool>) {
    switch (r) {
      case ScatterReduction::kNone: dst = src; break;
      case ScatterReduction::kAdd: case ScatterReduction::kMax: dst = dst || src; break;
      case ScatterReduction::kMul: case ScatterReduction::kMin: dst = dst && src; break;
    }
  } else {
    switch (r) {
      case ScatterReduction::kNone: dst = src; break;
      case ScatterReduction::kAdd: dst = wrapping_add(dst, src); break;
      case ScatterReduction::kMul: dst = wrapping_mul(dst, src); break;
      case ScatterReduction::kMax: dst = std::max(dst, src); break;
      case ScatterReduction::kMin: dst = std::min(dst, src); break;
    }
  }
}

}  // namespace edgerun
