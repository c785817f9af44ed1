// The scratch rows of a banded fused kernel (ConvExpandDepthwiseF32, ConvMaxPoolF32): a slice computes
// the rows each band of its output reads just before, and consecutive bands share some of them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace edgerun {

// The rows of an intermediate tensor (over batch x height, row_floats floats each) that a slice's
// scratch `rows` holds: [first, first + count).
struct BandRows {
  int64_t first = 0, count = 0;

  // Makes `rows` hold [first, first + count): rows it holds already move to the front, and
  // compute(row_begin, row_end, dst) writes the others, in order, at dst.
  template <typename Compute>
  void hold(float* rows, int64_t row_floats, int64_t new_first, int64_t new_count, Compute&& compute) {
    int64_t keep = 0;
    if (count > 0 && new_first >= first && new_first < first + count) {
      keep = std::min(first + count, new_first + new_count) - new_first;
      if (new_first > first)
        std::memmove(rows, rows + (new_first - first) * row_floats, static_cast<size_t>(keep * row_floats) * sizeof(float));
    }
    compute(new_first + keep, new_first + new_count, rows + keep * row_floats);
    first = new_first;
    count = new_count;
  }
};

}  // namespace edgerun
