// Cast (target dtype from the `to` attribute) and CastLike (target dtype of the second input) between
// all numeric dtypes, bool and string.
//
// Numbers become strings the way numpy prints them (shortest round-trip digits; positional
// notation for magnitudes in [1e-4, 1e16), scientific otherwise); strings become numbers with
// "inf"/"nan" spellings accepted in any case and an optional leading '+'.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kernels/reference/elementwise.h"

namespace edgerun {
namespace {

bool known_dtype(int64_t t) {
  switch (static_cast<DType>(t)) {
    case DType::kFloat32: case DType::kUInt8: case DType::kInt8: case DType::kUInt16: case DType::kInt16:
    case DType::kInt32: case DType::kInt64: case DType::kString: case DType::kBool: case DType::kFloat16:
    case DType::kFloat64: case DType::kUInt32: case DType::kUInt64: case DType::kBFloat16: return true;
    default: return false;
  }
}

// Double to float rounding to odd: a following rounding to a 16-bit float then equals rounding the
// double directly (no double-rounding error).
float to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (std::isfinite(f) && static_cast<double>(f) != d) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if ((bits & 1u) == 0) f = std::nextafter(f, static_cast<double>(f) < d ? INFINITY : -INFINITY);
  }
  return f;
}

// Lays out shortest scientific digits ("d.ddde±XX", from to_chars or printf) as numpy does: positional
// when 1e-4 <= |value| < 1e16 (judged on the exact value, not the printed digits), else scientific.
std::string numpy_layout(const char* sci, double magnitude) {
  std::string s(sci);
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;  // inf / nan
  if (magnitude < 1e-4 || magnitude >= 1e16) return s;
  const int exponent = std::atoi(s.c_str() + e + 1);
  std::string mantissa = s.substr(0, e);
  std::string sign;
  if (mantissa[0] == '-') { sign = "-"; mantissa.erase(0, 1); }
  std::string digits;
  for (char c : mantissa) if (c != '.') digits += c;
  std::string out;
  if (exponent < 0) {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const size_t int_len = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_len) out = digits + std::string(int_len - digits.size(), '0') + ".0";
    else out = digits.substr(0, int_len) + "." + digits.substr(int_len);
  }
  return sign + out;
}

template <typename F>
std::string float_to_string(F v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf - 1, v, std::chars_format::scientific);
  *r.ptr = '\0';
  return numpy_layout(buf, std::fabs(static_cast<double>(v)));
}

// Shortest digits that read back as the same 16-bit value.
template <typename H>
std::string half_to_string(H h) {
  const float v = static_cast<float>(h);
  if (std::isnan(v) || std::isinf(v) || v == 0) return float_to_string(v);
  char buf[64];
  for (int precision = 0; precision < 9; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision, static_cast<double>(v));
    if (H(std::strtof(buf, nullptr)).bits == h.bits) break;
  }
  return numpy_layout(buf, std::fabs(static_cast<double>(v)));
}

template <typename S>
std::string to_string_value(S v) {
  if constexpr (std::is_same_v<S, bool>) return v ? "True" : "False";
  else if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) return half_to_string(v);
  else if constexpr (std::is_floating_point_v<S>) return float_to_string(v);
  else return std::to_string(v);
}

// Parses a whole string as a number of type N; false if it is not one.
template <typename N>
bool parse_number(const std::string& text, N& value) {
  const char* b = text.data();
  const char* e = b + text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(*b))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(e[-1]))) --e;
  if (b < e && *b == '+') {  // from_chars accepts only '-'
    ++b;
    if (b < e && (*b == '+' || *b == '-')) return false;
  }
  const auto r = std::from_chars(b, e, value);
  return r.ec == std::errc() && r.ptr == e;
}

// Parses a string as the target type D; false on malformed text.
template <typename D>
bool from_string_value(const std::string& text, D& out) {
  if constexpr (std::is_same_v<D, bool>) {
    if (text == "True" || text == "true") { out = true; return true; }
    if (text == "False" || text == "false") { out = false; return true; }
    double d;
    if (!parse_number(text, d)) return false;
    out = d != 0;
    return true;
  } else if constexpr (std::is_same_v<D, float16> || std::is_same_v<D, bfloat16>) {
    double d;
    if (!parse_number(text, d)) return false;
    out = D(to_float_round_odd(d));
    return true;
  } else if constexpr (std::is_floating_point_v<D>) {
    return parse_number(text, out);
  } else {
    if (parse_number(text, out)) return true;
    double d;  // "1e3", "2.5": truncate like a float cast
    if (!parse_number(text, d)) return false;
    out = saturate_cast<D>(d);
    return true;
  }
}

// Float to integer truncates toward zero. Out-of-range values are undefined in ONNX; here they go
// through int64 and wrap to the target (so -1.0 to uint8 is 255, as numpy on common hardware gives),
// beyond int64 they saturate, and NaN is 0.
template <typename D, typename F>
D float_to_int(F v) {
  if constexpr (std::is_same_v<D, uint64_t>)
    if (v >= F(9223372036854775808.0)) return saturate_cast<uint64_t>(v);
  return static_cast<D>(saturate_cast<int64_t>(v));
}

template <typename S, typename D>
D convert(S v) {
  if constexpr (std::is_same_v<S, D>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return widen(v) != 0;  // NaN is true
  } else if constexpr (std::is_same_v<S, bool>) {
    return static_cast<D>(v ? 1.0f : 0.0f);
  } else if constexpr (is_int_v<D> && is_float_v<S>) {
    return float_to_int<D>(widen(v));
  } else if constexpr (is_int_v<D>) {
    return static_cast<D>(v);  // integer narrowing wraps
  } else if constexpr (std::is_same_v<D, float16> || std::is_same_v<D, bfloat16>) {
    if constexpr (std::is_same_v<S, double>) return D(to_float_round_odd(v));
    else return D(static_cast<float>(widen(v)));
  } else {
    return static_cast<D>(widen(v));
  }
}

// Converts every element; returns the index of the first unparsable string, or -1.
template <typename S, typename D>
int64_t convert_all(const S* in, D* out, int64_t n) {
  if constexpr (std::is_same_v<S, std::string> && std::is_same_v<D, std::string>) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i];
  } else if constexpr (std::is_same_v<D, std::string>) {
    for (int64_t i = 0; i < n; ++i) out[i] = to_string_value(in[i]);
  } else if constexpr (std::is_same_v<S, std::string>) {
    for (int64_t i = 0; i < n; ++i)
      if (!from_string_value(in[i], out[i])) return i;
  } else if constexpr (std::is_same_v<S, D>) {
    if (n > 0) std::memcpy(out, in, static_cast<size_t>(n) * sizeof(S));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = convert<S, D>(in[i]);
  }
  return -1;
}

void cast_tensor(RunContext& ctx, const Tensor& in, Tensor& out) {
  dispatch_dtype<kAll>(in.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_dtype<kAll>(out.dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const int64_t bad = convert_all(in.data<S>(), out.data<D>(), in.numel());
      if (bad >= 0) {
        if constexpr (std::is_same_v<S, std::string>)
          ctx.fail("element " + std::to_string(bad) + " is the string \"" + in.data<S>()[bad] +
                   "\", which is not a " + dtype_name(out.dtype()) + " value");
      }
    });
  });
}

class Cast final : public Kernel {
 public:
  Cast(const Node& node, int64_t) {
    if (!node.has_attr("to")) throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute 'to' is required");
    const int64_t to = node.attr_int("to", 0);
    if (!known_dtype(to))
      throw Error(ErrorCode::kUnsupported, node.describe() + ": cannot cast to data type " + std::to_string(to));
    to_ = static_cast<DType>(to);
  }
  void prepare(PrepareContext& ctx) override {
    if (!known_dtype(static_cast<int64_t>(ctx.input_dtype(0))))
      ctx.unsupported(std::string("cannot cast from ") + dtype_name(ctx.input_dtype(0)));
    ctx.set_output(0, to_, ctx.input_shape(0));
  }
  void run(RunContext& ctx) override { cast_tensor(ctx, ctx.input(0), ctx.output(0)); }

 private:
  DType to_;
};

class CastLike final : public Kernel {
 public:
  CastLike(const Node&, int64_t) {}
  void prepare(PrepareContext& ctx) override {
    for (size_t i = 0; i < 2; ++i)
      if (!known_dtype(static_cast<int64_t>(ctx.input_dtype(i))))
        ctx.unsupported(std::string("cannot cast with dtype ") + dtype_name(ctx.input_dtype(i)));
    ctx.set_output(0, ctx.input_dtype(1), ctx.input_shape(0));
  }
  void run(RunContext& ctx) override { cast_tensor(ctx, ctx.input(0), ctx.output(0)); }
};

}  // namespace

EDGERUN_REGISTER_KERNEL("Cast", Cast);
EDGERUN_REGISTER_KERNEL("CastLike", CastLike);

}  // namespace edgerun
