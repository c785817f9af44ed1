// Helpers for the control-flow kernels (If, Loop, Scan): copying subgraph results into node outputs and
// slicing/stacking tensors along one axis. Strings are copied element by element, everything else by bytes.
#pragma once
#include <cstring>
#include <string>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun::subgraph_values {

// Copies `count` elements src[src_at...] to dst[dst_at...]; both tensors have the same dtype.
inline void copy_elements(const Tensor& src, int64_t src_at, Tensor& dst, int64_t dst_at, int64_t count) {
  if (count <= 0) return;
  if (src.dtype() == DType::kString) {
    const std::string* s = src.data<std::string>() + src_at;
    std::string* d = dst.data<std::string>() + dst_at;
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    return;
  }
  const size_t elem = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + dst_at * elem, static_cast<const char*>(src.raw()) + src_at * elem,
              static_cast<size_t>(count) * elem);
}

inline void copy_to_output(RunContext& ctx, size_t i, const Tensor& value) {
  if (!ctx.has_output(i)) return;
  Tensor& out = ctx.allocate_output(i, value.dtype(), value.shape());
  copy_elements(value, 0, out, 0, value.numel());
}

// [outer, len, inner] view of a shape around `axis`.
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
  AxisView(const Shape& s, int64_t axis) {
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
      if (d < axis) outer *= s[d];
      else if (d == axis) len = s[d];
      else inner *= s[d];
    }
  }
};

// The sub-tensor at `index` along `axis`, with that axis removed.
inline Tensor slice_along(const Tensor& src, int64_t axis, int64_t index) {
  Shape shape = src.shape();
  const AxisView v(shape, axis);
  shape.erase(shape.begin() + axis);
  Tensor out(src.dtype(), shape);
  for (int64_t o = 0; o < v.outer; ++o) copy_elements(src, (o * v.len + index) * v.inner, out, o * v.inner, v.inner);
  return out;
}

// Writes `slice` (dst's shape without `axis`) at `index` along `axis` of dst.
inline void place_along(Tensor& dst, int64_t axis, int64_t index, const Tensor& slice) {
  const AxisView v(dst.shape(), axis);
  for (int64_t o = 0; o < v.outer; ++o) copy_elements(slice, o * v.inner, dst, (o * v.len + index) * v.inner, v.inner);
}

// Shape of a declared graph value with every dim known, or false.
inline bool declared_shape(const ValueDesc& d, Shape& shape) {
  if (!d.has_shape) return false;
  shape.clear();
  for (const auto& dim : d.dims) {
    if (dim.value < 0) return false;
    shape.push_back(dim.value);
  }
  return true;
}

}  // namespace edgerun::subgraph_values
