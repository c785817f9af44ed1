// Numpy matmul shape rules shared by MatMul, MatMulInteger and QLinearMatMul: 1-D promotion and broadcast
// batch dimensions.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {

struct MatMulShape {
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;                       // broadcast batch count
  std::vector<int64_t> a_batch, b_batch;   // per output batch: the batch index within A and within B
  int64_t a_batches = 1, b_batches = 1;    // batch counts of A and B themselves
  Shape out;

  // Fails through ctx when the shapes do not multiply.
  static MatMulShape infer(const PrepareContext& ctx, const Shape& a, const Shape& b) {
    MatMulShape s;
    if (a.empty() || b.empty()) ctx.fail("MatMul inputs must have rank >= 1, got " + shape_str(a) + " and " + shape_str(b));
    const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
    const Shape a2 = a_vec ? Shape{1, a[0]} : a;
    const Shape b2 = b_vec ? Shape{b[0], 1} : b;
    s.M = a2[a2.size() - 2];
    s.K = a2[a2.size() - 1];
    s.N = b2[b2.size() - 1];
    if (b2[b2.size() - 2] != s.K)
      ctx.fail("inner dimensions differ: A " + shape_str(a) + " and B " + shape_str(b));
    const Shape a_batch_shape(a2.begin(), a2.end() - 2), b_batch_shape(b2.begin(), b2.end() - 2);
    Shape batch_shape;
    try {
      batch_shape = broadcast_shapes(a_batch_shape, b_batch_shape);
    } catch (const Error&) {
      ctx.fail("batch dimensions of A " + shape_str(a) + " and B " + shape_str(b) + " do not broadcast");
    }
    s.batch = shape_numel(batch_shape);
    s.a_batches = shape_numel(a_batch_shape);
    s.b_batches = shape_numel(b_batch_shape);
    const auto as = broadcast_strides(a_batch_shape, batch_shape);
    const auto bs = broadcast_strides(b_batch_shape, batch_shape);
    s.a_batch.assign(s.batch, 0);
    s.b_batch.assign(s.batch, 0);
    std::vector<int64_t> pos(batch_shape.size(), 0);
    for (int64_t i = 0; i < s.batch; ++i) {
      for (size_t d = 0; d < pos.size(); ++d) {
        s.a_batch[i] += pos[d] * as[d];
        s.b_batch[i] += pos[d] * bs[d];
      }
      for (int64_t d = static_cast<int64_t>(pos.size()) - 1; d >= 0; --d) {
        if (++pos[d] < batch_shape[d]) break;
        pos[d] = 0;
      }
    }
    s.out = batch_shape;
    if (!a_vec) s.out.push_back(s.M);
    if (!b_vec) s.out.push_back(s.N);
    return s;
  }
};

}  // namespace edgerun
