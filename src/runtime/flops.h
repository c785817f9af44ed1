// Estimated floating-point operations of a node from its planned shapes (2 per multiply-add).
#pragma once
#include <vector>

#include "edgerun/tensor.h"
#include "ir/graph.h"

namespace edgerun {

int64_t estimate_flops(const Node& node, const std::vector<Shape>& inputs, const std::vector<Shape>& outputs);

}  // namespace edgerun
