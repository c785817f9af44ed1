// Shared machinery of the elementwise kernels: arithmetic types for 16-bit floats, overflow-safe
// integer arithmetic and conversions, and broadcast loops planned in prepare so run() does not allocate.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun {

// 16-bit floats are stored compactly but computed in float.
template <typename T> struct compute_type { using type = T; };
template <> struct compute_type<float16> { using type = float; };
template <> struct compute_type<bfloat16> { using type = float; };
template <typename T> using compute_t = typename compute_type<T>::type;

template <typename T> inline compute_t<T> widen(T v) { return static_cast<compute_t<T>>(v); }

template <typename T> constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Float to integer without the undefined behaviour of an out-of-range cast: NaN gives 0, values
// beyond the type's range saturate.
template <typename T, typename F>
inline T saturate_cast(F v) {
  if constexpr (is_int_v<T> && std::is_floating_point_v<F>) {
    if (std::isnan(v)) return 0;
    // Compare in long double so that the bounds of 64-bit types are exact.
    const long double x = v;
    if (x <= static_cast<long double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
    if (x >= static_cast<long double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

// Integer +, -, * wrap around (two's complement) instead of overflowing; narrow types would
// otherwise promote to int and could overflow there too (uint16 * uint16).
template <typename T> inline T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T> inline T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T> inline T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T> inline T wrap_neg(T a) { return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a)); }

// Broadcast iteration for N inputs. The output is split into rows of `inner` elements; in each row
// every input either advances with the output (contiguous) or repeats one value. Dimensions are
// collapsed first, so same-shape inputs are one row and per-channel or scalar operands give
// long rows with a hoisted scalar.
template <size_t N>
struct BroadcastPlan {
  Shape out_shape;
  int64_t numel = 0;
  int64_t rows = 0;
  int64_t inner = 1;
  std::array<bool, N> contiguous{};
  std::vector<int64_t> outer_dims;                  // collapsed dims above the inner one
  std::array<std::vector<int64_t>, N> outer_strides;  // element strides of each input over outer_dims

  // Inputs must broadcast to `out` (callers check with broadcast_shapes first).
  void init(const Shape& out, const std::array<const Shape*, N>& ins) {
    out_shape = out;
    numel = shape_numel(out);
    outer_dims.clear();
    for (auto& s : outer_strides) s.clear();
    std::vector<int64_t> sizes;
    std::vector<std::array<bool, N>> full;
    const size_t rank = out.size();
    for (size_t d = 0; d < rank; ++d) {
      if (out[d] == 1) continue;
      std::array<bool, N> f{};
      for (size_t k = 0; k < N; ++k) {
        const Shape& s = *ins[k];
        const size_t lead = rank - s.size();
        f[k] = d >= lead && s[d - lead] != 1;
      }
      if (!sizes.empty() && full.back() == f) sizes.back() *= out[d];
      else { sizes.push_back(out[d]); full.push_back(f); }
    }
    if (sizes.empty()) {  // a single element
      sizes.push_back(1);
      full.push_back({});
      full.back().fill(true);
    }
    inner = sizes.back();
    contiguous = full.back();
    rows = inner == 0 ? 0 : numel / inner;
    std::array<int64_t, N> step{};
    for (size_t k = 0; k < N; ++k) step[k] = contiguous[k] ? inner : 1;
    outer_dims.assign(sizes.begin(), sizes.end() - 1);
    for (size_t k = 0; k < N; ++k) outer_strides[k].assign(outer_dims.size(), 0);
    for (size_t j = outer_dims.size(); j-- > 0;) {
      for (size_t k = 0; k < N; ++k) {
        if (!full[j][k]) continue;
        outer_strides[k][j] = step[k];
        step[k] *= sizes[j];
      }
    }
  }

  // Element offsets into each input where output row `row` starts.
  std::array<int64_t, N> row_offsets(int64_t row) const {
    std::array<int64_t, N> off{};
    for (size_t j = outer_dims.size(); j-- > 0 && row > 0;) {
      const int64_t i = row % outer_dims[j];
      row /= outer_dims[j];
      for (size_t k = 0; k < N; ++k) off[k] += i * outer_strides[k][j];
    }
    return off;
  }
};

// out = op(in) elementwise over compute types, for same-size tensors.
template <typename In, typename Out, typename Op>
inline void unary_loop(const In* in, Out* out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Out>(op(widen(in[i])));
}

// Copies `in` broadcast to the plan's output shape (plan built with one input).
template <typename T>
inline void broadcast_copy(const BroadcastPlan<1>& p, const T* in, T* out) {
  const int64_t n = p.inner;
  for (int64_t r = 0; r < p.rows; ++r) {
    const T* src = in + p.row_offsets(r)[0];
    T* dst = out + r * n;
    if (p.contiguous[0]) for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    else for (int64_t i = 0; i < n; ++i) dst[i] = *src;
  }
}

// out = op(a, b) with broadcasting; op takes and returns compute types. `out` may alias `a` when
// a has the output's shape.
template <typename A, typename B, typename Out, typename Op>
inline void broadcast_binary(const BroadcastPlan<2>& p, const A* a, const B* b, Out* out, Op op) {
  const int64_t n = p.inner;
  for (int64_t r = 0; r < p.rows; ++r) {
    const auto off = p.row_offsets(r);
    const A* pa = a + off[0];
    const B* pb = b + off[1];
    Out* po = out + r * n;
    if (p.contiguous[0] && p.contiguous[1]) {
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<Out>(op(widen(pa[i]), widen(pb[i])));
    } else if (p.contiguous[0]) {
      const auto vb = widen(*pb);
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<Out>(op(widen(pa[i]), vb));
    } else if (p.contiguous[1]) {
      const auto va = widen(*pa);
      for (int64_t i = 0; i < n; ++i) po[i] = static_cast<Out>(op(va, widen(pb[i])));
    } else {
      const Out v = static_cast<Out>(op(widen(*pa), widen(*pb)));
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
  }
}

// Validates that inputs [first, first + count) have one dtype and returns it.
inline DType common_input_dtype(PrepareContext& ctx, size_t first, size_t count) {
  const DType t = ctx.input_dtype(first);
  for (size_t i = first + 1; i < first + count; ++i)
    if (ctx.input_dtype(i) != t)
      ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input_dtype(i)) + " but input " +
               std::to_string(first) + " has " + dtype_name(t) + "; they must match");
  return t;
}

// The numpy broadcast of two input shapes, as a node error when they are incompatible.
inline Shape broadcast_or_fail(PrepareContext& ctx, const std::vector<Shape>& shapes) {
  try {
    return broadcast_shapes(shapes);
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
}

// Plans a two-input broadcast of inputs a and b and returns the output shape.
inline Shape plan_binary(PrepareContext& ctx, BroadcastPlan<2>& plan, size_t a = 0, size_t b = 1) {
  const Shape& sa = ctx.input_shape(a);
  const Shape& sb = ctx.input_shape(b);
  Shape out = broadcast_or_fail(ctx, {sa, sb});
  plan.init(out, {&sa, &sb});
  return out;
}

// Dtype sets of ONNX type constraints that the kernels check in prepare.
inline bool is_float_dtype(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16;
}
inline bool is_int_dtype(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64:
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64: return true;
    default: return false;
  }
}
inline bool is_signed_int_dtype(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
}
inline bool is_unsigned_int_dtype(DType t) {
  return t == DType::kUInt8 || t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64;
}

}  // namespace edgerun
