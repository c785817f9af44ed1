// What a served model version accepts and returns, as the protocol describes it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "edgerun/tensor.h"

namespace edgerun::serve {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;  // -1 for a dynamic dimension (including the batch dimension)
  bool has_shape = true;       // false: the model declares no shape, any rank is accepted
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  // > 0: dimension 0 of every input and output is the batch dimension, at most this large.
  int64_t max_batch_size = 0;
};

}  // namespace edgerun::serve
