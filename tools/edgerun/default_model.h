// The Fashion-MNIST classifier built into the binary (models/fashion_mnist_cnn.onnx).
#pragma once
#include <cstddef>

namespace edgerun {
const void* default_model_data();
size_t default_model_size();
}  // namespace edgerun
