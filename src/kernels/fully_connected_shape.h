// Shapes of the fully connected ops (edgerun.FullyConnected, QFullyConnected, QFullyConnectedToFloat):
// A [..., K] x W, with W [N, K], or [K, N] when transpose_weights = 1; Y [..., N]. Validated in prepare.
#pragma once
#include <cstdint>

#include "kernels/kernel.h"

namespace edgerun {

struct FullyConnectedShape {
  int64_t k = 0, n = 0, rows = 0;  // rows: A's values / K (0 when K is 0)
  Shape y;
};

// A is input 0, W input `weights`.
inline FullyConnectedShape fully_connected_shape(PrepareContext& ctx, size_t weights, bool transpose_weights) {
  const Shape& a = ctx.input_shape(0);
  const Shape& w = ctx.input_shape(weights);
  if (a.empty() || w.size() != 2) ctx.fail("expects A of rank >= 1 and 2-D W, got " + shape_str(a) + " and " + shape_str(w));
  FullyConnectedShape s;
  s.k = transpose_weights ? w[0] : w[1];
  s.n = transpose_weights ? w[1] : w[0];
  if (a.back() != s.k) ctx.fail("A has shape " + shape_str(a) + ", W " + shape_str(w) + ": inner dimensions differ");
  s.rows = s.k > 0 ? shape_numel(a) / s.k : 0;
  s.y.assign(a.begin(), a.end() - 1);
  s.y.push_back(s.n);
  return s;
}

}  // namespace edgerun
