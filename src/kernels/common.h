// Helpers shared by the reference kernels: dtype dispatch, broadcasting, axis handling.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "edgerun/error.h"
#include "edgerun/tensor.h"

namespace edgerun {

// Storage types for 16-bit floats; arithmetic goes through float.
struct float16 {
  uint16_t bits = 0;
  float16() = default;
  explicit float16(float f) : bits(float_to_half(f)) {}
  operator float() const { return half_to_float(bits); }
};
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  explicit bfloat16(float f) : bits(float_to_bfloat16(f)) {}
  operator float() const { return bfloat16_to_float(bits); }
};

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::kFloat32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::kFloat64; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::kFloat16; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::kBFloat16; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::kUInt8; };
template <> struct dtype_of<uint16_t> { static constexpr DType value = DType::kUInt16; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = DType::kUInt32; };
template <> struct dtype_of<uint64_t> { static constexpr DType value = DType::kUInt64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::kBool; };
template <> struct dtype_of<std::string> { static constexpr DType value = DType::kString; };

template <typename T> constexpr bool is_float_v =
    std::is_floating_point_v<T> || std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

// Calls fn(T{}) with T the C++ type of `t`; returns false if t is not in the chosen Set.
// Usage: dispatch_dtype<kNumeric>(dtype, [&](auto tag) { using T = decltype(tag); ... });
// Sets: kFloats (float, double, float16, bfloat16), kNumeric (floats + all ints),
// kAll (numeric + bool + string).
enum DTypeSet { kFloats = 1, kInts = 2, kBool = 4, kStringSet = 8, kNumeric = kFloats | kInts,
                kAllNoString = kNumeric | kBool, kAll = kNumeric | kBool | kStringSet };

template <int Set, typename Fn>
bool dispatch_dtype(DType t, Fn&& fn) {
  if constexpr ((Set & kFloats) != 0) {
    switch (t) {
      case DType::kFloat32: fn(float{}); return true;
      case DType::kFloat64: fn(double{}); return true;
      case DType::kFloat16: fn(float16{}); return true;
      case DType::kBFloat16: fn(bfloat16{}); return true;
      default: break;
    }
  }
  if constexpr ((Set & kInts) != 0) {
    switch (t) {
      case DType::kInt8: fn(int8_t{}); return true;
      case DType::kInt16: fn(int16_t{}); return true;
      case DType::kInt32: fn(int32_t{}); return true;
      case DType::kInt64: fn(int64_t{}); return true;
      case DType::kUInt8: fn(uint8_t{}); return true;
      case DType::kUInt16: fn(uint16_t{}); return true;
      case DType::kUInt32: fn(uint32_t{}); return true;
      case DType::kUInt64: fn(uint64_t{}); return true;
      default: break;
    }
  }
  if constexpr ((Set & kBool) != 0) {
    if (t == DType::kBool) { fn(bool{}); return true; }
  }
  if constexpr ((Set & kStringSet) != 0) {
    if (t == DType::kString) { fn(std::string{}); return true; }
  }
  return false;
}

// Normalizes a possibly negative axis into [0, rank); throws Error naming `what` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what);

// Numpy-style multidirectional broadcast; throws Error if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
Shape broadcast_shapes(const std::vector<Shape>& shapes);

// Row-major strides (in elements).
std::vector<int64_t> strides_of(const Shape& s);

// Strides of `in` when broadcast to `out` (0 on broadcast dims), aligned to out's rank.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Visits every element of `out` with the matching offsets into each broadcast input.
// fn(out_index, offsets[]) where offsets has one entry per input.
template <size_t N, typename Fn>
void for_each_broadcast(const Shape& out, const std::array<const Shape*, N>& ins, Fn&& fn);

// Reads an integer-valued tensor (int32/int64/etc.) into int64 values.
std::vector<int64_t> tensor_to_int64s(const Tensor& t);
// Reads any numeric tensor into doubles.
std::vector<double> tensor_to_doubles(const Tensor& t);

}  // namespace edgerun

#include <array>

namespace edgerun {
template <size_t N, typename Fn>
void for_each_broadcast(const Shape& out, const std::array<const Shape*, N>& ins, Fn&& fn) {
  const size_t rank = out.size();
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(*ins[k], out);
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, N> off{};
  // Fast inner loop over the last dimension.
  const int64_t inner = rank ? out[rank - 1] : 1;
  std::array<int64_t, N> inner_stride{};
  for (size_t k = 0; k < N; ++k) inner_stride[k] = rank ? strides[k][rank - 1] : 0;
  int64_t o = 0;
  while (true) {
    std::array<int64_t, N> cur = off;
    for (int64_t j = 0; j < inner; ++j) {
      fn(o++, cur);
      for (size_t k = 0; k < N; ++k) cur[k] += inner_stride[k];
    }
    // advance outer index (dims rank-2 .. 0)
    if (rank <= 1) return;
    int64_t d = static_cast<int64_t>(rank) - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * (out[d] - 1);
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}
}  // namespace edgerun
