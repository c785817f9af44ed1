// Float32 fully connected layer y[m][n] = clamp(bias[n] + sum_k a[m][k] * w[k][n]) with AVX2/FMA.
// Weights are packed once as [16-column block][k][16]. Full groups of 6 rows run on the same 6x16
// register tile as the convolutions; a single row (the batch-1 classifier head, where the weights are
// read once per inference and memory speed is the limit) runs on a one-row kernel that streams the
// packed weights with four accumulators.
#pragma once
#include <cstdint>
#include <vector>

#include "core/large_buffer.h"

namespace edgerun {

class ThreadPool;

class FullyConnectedF32 {
 public:
  // True when this CPU runs the AVX2/FMA kernel (checked once).
  static bool supported();

  // weights: [n][k] (ONNX Gemm with transB), or [k][n] when `k_major`; bias may be null.
  void pack(const float* weights, const float* bias, int64_t k, int64_t n, bool k_major, float out_min,
            float out_max);

  // a: [rows][k], y: [rows][n].
  void run(const float* a, float* y, int64_t rows, ThreadPool* threads) const;

 private:
  int64_t k_ = 0, n_ = 0, blocks_ = 0;
  std::vector<float, LargeBufferAllocator<float>> packed_;  // [blocks][k][16]
  std::vector<float> bias_;    // [blocks * 16]
  float out_min_ = 0, out_max_ = 0;
};

}  // namespace edgerun
