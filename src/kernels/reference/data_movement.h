// Helpers for kernels that move elements without looking at their values (reshape, transpose,
// slice, tile, pad, gather...): plain types move as raw bytes of their size, strings by assignment.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {

// Calls fn(T{}) with T an unsigned integer of the element's size, or std::string for strings.
// Returns false for dtypes with no storage (undefined).
template <typename Fn>
bool dispatch_storage(DType dtype, Fn&& fn) {
  if (dtype == DType::kString) { fn(std::string{}); return true; }
  switch (dtype_size(dtype)) {
    case 1: fn(uint8_t{}); return true;
    case 2: fn(uint16_t{}); return true;
    case 4: fn(uint32_t{}); return true;
    case 8: fn(uint64_t{}); return true;
    default: return false;
  }
}

// Address of element `index` of a buffer of `dtype` elements.
inline void* element_at(void* base, DType dtype, int64_t index) {
  return static_cast<char*>(base) + index * static_cast<int64_t>(dtype_size(dtype));
}
inline const void* element_at(const void* base, DType dtype, int64_t index) {
  return static_cast<const char*>(base) + index * static_cast<int64_t>(dtype_size(dtype));
}

// Copies `count` contiguous elements.
inline void copy_elements(DType dtype, void* dst, const void* src, int64_t count) {
  if (count <= 0) return;
  if (dtype == DType::kString) {
    auto* d = static_cast<std::string*>(dst);
    const auto* s = static_cast<const std::string*>(src);
    for (int64_t i = 0; i < count; ++i) d[i] = s[i];
  } else {
    std::memcpy(dst, src, static_cast<size_t>(count) * dtype_size(dtype));
  }
}

// Copies `bytes` bytes in 64-byte pieces, inlined as vector moves: a channel concat or slice copies a
// few hundred bytes per pixel, and a call to memcpy for each took twice as long.
inline void copy_row_bytes(char* dst, const char* src, size_t bytes) {
  size_t b = 0;
  for (; b + 64 <= bytes; b += 64) std::memcpy(dst + b, src + b, 64);
  if (b < bytes) std::memcpy(dst + b, src + b, bytes - b);
}

// A dense output filled from an arbitrary strided view of an input: out[i0,..,in] =
// in[offset + sum(ik * strides[k])]. Strides may be zero (broadcast) or negative (reversal).
// Set up once in prepare; run() does no allocation.
class StridedCopy {
 public:
  void set(Shape shape, std::vector<int64_t> strides, int64_t offset) {
    offset_ = offset;
    numel_ = shape_numel(shape);
    shape_.clear();
    strides_.clear();
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;  // contributes nothing to addressing
      if (!shape_.empty() && strides_.back() == strides[d] * shape[d]) {
        // The previous dim steps exactly over this one: merge them.
        shape_.back() *= shape[d];
        strides_.back() = strides[d];
      } else {
        shape_.push_back(shape[d]);
        strides_.push_back(strides[d]);
      }
    }
  }

  void run(DType dtype, const void* in, void* out) const {
    if (numel_ == 0) return;
    dispatch_storage(dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = static_cast<T*>(out);
      copy_dims<T>(0, static_cast<const T*>(in) + offset_, dst);
    });
  }

  int64_t numel() const { return numel_; }

  // True when the copy is rows of `width` contiguous elements (an input of rows whose last dimension
  // is sliced): then run_rows can store them any distance apart.
  bool copies_rows_of(int64_t width) const {
    return numel_ > 0 && !shape_.empty() && shape_.size() <= 2 && strides_.back() == 1 && shape_.back() == width;
  }
  // The rows of a copy for which copies_rows_of held, row r at out + r * out_stride elements.
  void run_rows(DType dtype, const void* in, void* out, int64_t out_stride) const {
    const size_t size = dtype_size(dtype);
    const int64_t rows = shape_.size() == 2 ? shape_[0] : 1, in_stride = shape_.size() == 2 ? strides_[0] : 0;
    const size_t row_bytes = static_cast<size_t>(shape_.back()) * size;
    const char* src = static_cast<const char*>(in) + static_cast<size_t>(offset_) * size;
    char* dst = static_cast<char*>(out);
    for (int64_t r = 0; r < rows; ++r)
      copy_row_bytes(dst + static_cast<size_t>(r * out_stride) * size, src + static_cast<size_t>(r * in_stride) * size,
                     row_bytes);
  }

 private:
  template <typename T>
  void copy_dims(size_t d, const T* src, T*& dst) const {
    if (shape_.empty()) { *dst++ = *src; return; }
    const int64_t n = shape_[d], stride = strides_[d];
    if (d + 1 < shape_.size()) {
      for (int64_t i = 0; i < n; ++i) copy_dims<T>(d + 1, src + i * stride, dst);
      return;
    }
    if constexpr (!std::is_same_v<T, std::string>) {
      if (stride == 1) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
        dst += n;
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) *dst++ = src[i * stride];
  }

  Shape shape_;
  std::vector<int64_t> strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
};

// Base for ops whose output holds the input's elements in the same order under a new shape
// (Reshape, Flatten, Squeeze, Unsqueeze).
class SameOrderKernel : public Kernel {
 public:
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    copy_elements(in.dtype(), ctx.output(0).raw(), in.raw(), in.numel());
  }
};

// Reads a 1-D (or scalar) int64/int32 tensor; fails naming `what` otherwise.
inline std::vector<int64_t> read_index_list(const PrepareContext& ctx, const Tensor& t, const std::string& what) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    ctx.fail(what + " must be int64 or int32, got " + dtype_name(t.dtype()));
  if (t.rank() > 1) ctx.fail(what + " must be 1-D, got shape " + shape_str(t.shape()));
  return tensor_to_int64s(t);
}

// Normalizes axes against `rank`, rejecting out-of-range and repeated entries.
inline std::vector<int64_t> normalize_axes(const PrepareContext& ctx, const std::vector<int64_t>& axes, int64_t rank,
                                           const std::string& what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      ctx.fail(what + " " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    const int64_t n = a < 0 ? a + rank : a;
    if (seen[n]) ctx.fail(what + " " + std::to_string(a) + " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

}  // namespace edgerun

namespace edgerun {

// Calls fn(T{}) with the C++ type of an index tensor (int32 or int64); false for other dtypes.
template <typename Fn>
bool dispatch_index(DType dtype, Fn&& fn) {
  if (dtype == DType::kInt64) { fn(int64_t{}); return true; }
  if (dtype == DType::kInt32) { fn(int32_t{}); return true; }
  return false;
}

// Maps a possibly negative index into [0, dim); false when it is out of range.
inline bool resolve_index(int64_t& index, int64_t dim) {
  if (index < -dim || index >= dim) return false;
  if (index < 0) index += dim;
  return true;
}

}  // namespace edgerun

namespace edgerun {

// Truth value of an element as numpy sees it: non-zero numbers, non-empty strings.
template <typename T>
inline bool element_is_nonzero(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return !v.empty();
  else if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return static_cast<float>(v) != 0.0f;
  else return v != T{};
}

}  // namespace edgerun

namespace edgerun {

// a * b for dims computed from attributes or data; fails instead of overflowing.
inline int64_t checked_mul(const PrepareContext& ctx, int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) ctx.fail(what + " overflows int64");
  return r;
}
inline int64_t checked_add(const PrepareContext& ctx, int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) ctx.fail(what + " overflows int64");
  return r;
}

}  // namespace edgerun
