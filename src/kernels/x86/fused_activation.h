// The activation a fusion pass left on a node for its convolution to apply as it stores:
// <prefix>activation_min, <prefix>activation_max and <prefix>fused_function ("Silu" or "HardSwish").
#pragma once
#include <string>

#include "edgerun/error.h"
#include "ir/graph.h"
#include "kernels/x86/activation_avx2.h"

namespace edgerun {

inline OutputActivation fused_activation(const Node& node, const std::string& prefix) {
  OutputActivation a;
  a.min = node.attr_float(prefix + "activation_min", a.min);
  a.max = node.attr_float(prefix + "activation_max", a.max);
  const std::string f = node.attr_string(prefix + "fused_function", "");
  if (f == "Silu") a.function = OutputActivation::Function::kSilu;
  else if (f == "HardSwish") a.function = OutputActivation::Function::kHardSwish;
  else if (!f.empty())
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown " + prefix + "fused_function '" + f + "'");
  return a;
}

}  // namespace edgerun
