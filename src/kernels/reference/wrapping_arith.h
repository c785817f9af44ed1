// Arithmetic for accumulating kernels (CumSum, scatter reductions).
#pragma once
#include <cstdint>
#include <type_traits>

namespace edgerun {

// Integer sums and products wrap around instead of overflowing (signed overflow is undefined).
template <typename T>
inline T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return static_cast<T>(a + b);
}
template <typename T>
inline T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return static_cast<T>(a * b);
}

}  // namespace edgerun
