// A strict total order on element values for sorting kernels (TopK, Unique, ArgMax/ArgMin):
// numbers compare numerically, NaN sorts above every number and equals other NaNs, 16-bit floats
// compare as float, strings lexicographically.
#pragma once
#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>

#include "kernels/common.h"

namespace edgerun {

template <typename T>
inline auto order_key(const T& v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return static_cast<float>(v);
  else if constexpr (std::is_same_v<T, std::string>) return std::string_view(v);
  else return v;
}

template <typename T>
inline bool value_less(const T& a, const T& b) {
  const auto x = order_key(a), y = order_key(b);
  if constexpr (std::is_floating_point_v<decltype(x)>) {
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
  }
  return x < y;
}

template <typename T>
inline bool value_equal(const T& a, const T& b) {
  return !value_less(a, b) && !value_less(b, a);
}

}  // namespace edgerun
