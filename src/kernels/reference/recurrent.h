// Shared driver of RNN, GRU and LSTM: attribute parsing (direction, layout, activations, clip),
// input validation, the input projection X*W^T + Wb, stepping through time per direction with
// sequence_lens, and writing Y / Y_h / Y_c. The cell classes supply the per-step recurrence.
#pragma once
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/kernel.h"

namespace edgerun::recurrent {

struct Activation {
  enum class Kind { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu,
                    kSoftsign, kSoftplus };
  Kind kind = Kind::kTanh;
  float alpha = 0, beta = 0;

  template <typename C> C operator()(C x) const {
    switch (kind) {
      case Kind::kRelu: return x > 0 ? x : C(0);
      case Kind::kTanh: return std::tanh(x);
      case Kind::kSigmoid: return C(1) / (C(1) + std::exp(-x));
      case Kind::kAffine: return C(alpha) * x + C(beta);
      case Kind::kLeakyRelu: return x >= 0 ? x : C(alpha) * x;
      case Kind::kThresholdedRelu: return x > C(alpha) ? x : C(0);
      case Kind::kScaledTanh: return C(alpha) * std::tanh(C(beta) * x);
      case Kind::kHardSigmoid: return std::max(C(0), std::min(C(1), C(alpha) * x + C(beta)));
      case Kind::kElu: return x >= 0 ? x : C(alpha) * (std::exp(x) - C(1));
      case Kind::kSoftsign: return x / (C(1) + std::fabs(x));
      case Kind::kSoftplus: return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Parses `activations` with activation_alpha/activation_beta. The alpha and beta lists are consumed in
// order by the functions that take those parameters; functions past the end of a list use the defaults.
inline std::vector<Activation> parse_activations(const Node& node, const std::vector<std::string>& defaults,
                                                 int64_t num_directions) {
  std::vector<std::string> names = node.attr_strings("activations");
  const size_t per_direction = defaults.size();
  if (names.empty()) {
    for (int64_t d = 0; d < num_directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (names.size() == per_direction && num_directions == 2) {
    names.insert(names.end(), names.begin(), names.end());
  } else if (names.size() != per_direction * static_cast<size_t>(num_directions)) {
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": expects " + std::to_string(per_direction * num_directions) +
                                              " activations, got " + std::to_string(names.size()));
  }
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  auto take = [](const std::vector<float>& list, size_t& next, float fallback) {
    return next < list.size() ? list[next++] : fallback;
  };
  std::vector<Activation> out;
  for (const std::string& raw : names) {
    std::string name;
    for (char ch : raw) name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Activation a;
    using K = Activation::Kind;
    if (name == "relu") a.kind = K::kRelu;
    else if (name == "tanh") a.kind = K::kTanh;
    else if (name == "sigmoid") a.kind = K::kSigmoid;
    else if (name == "affine") { a.kind = K::kAffine; a.alpha = take(alphas, next_alpha, 1.0f); a.beta = take(betas, next_beta, 0.0f); }
    else if (name == "leakyrelu") { a.kind = K::kLeakyRelu; a.alpha = take(alphas, next_alpha, 0.01f); }
    else if (name == "thresholdedrelu") { a.kind = K::kThresholdedRelu; a.alpha = take(alphas, next_alpha, 1.0f); }
    else if (name == "scaledtanh") { a.kind = K::kScaledTanh; a.alpha = take(alphas, next_alpha, 1.0f); a.beta = take(betas, next_beta, 1.0f); }
    else if (name == "hardsigmoid") { a.kind = K::kHardSigmoid; a.alpha = take(alphas, next_alpha, 0.2f); a.beta = take(betas, next_beta, 0.5f); }
    else if (name == "elu") { a.kind = K::kElu; a.alpha = take(alphas, next_alpha, 1.0f); }
    else if (name == "softsign") a.kind = K::kSoftsign;
    else if (name == "softplus") a.kind = K::kSoftplus;
    else throw Error(ErrorCode::kUnsupported, node.describe() + ": activation '" + raw + "' is not supported");
    out.push_back(a);
  }
  return out;
}

// out[m][n] += sum_k a[m][k] * b[n][k]: rows of both operands are contiguous.
template <typename C>
void gemm_abt(int64_t m, int64_t n, int64_t k, const C* a, const C* b, C* out) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      C s = 0;
      const C* ar = a + i * k;
      const C* br = b + j * k;
      for (int64_t p = 0; p < k; ++p) s += ar[p] * br[p];
      out[i * n + j] += s;
    }
}

template <typename C, typename T> C to_compute(T v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return static_cast<float>(v);
  else return static_cast<C>(v);
}

template <typename T, typename C> T from_compute(C v) {
  if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}

// Dimensions and per-direction parameter views handed to a cell's step().
template <typename C> struct CellParams {
  int64_t hidden = 0;
  const C* r = nullptr;       // [gates*hidden, hidden]
  const C* rb = nullptr;      // [gates*hidden] recurrence bias
  const C* p = nullptr;       // LSTM peepholes [3*hidden] or null
  const Activation* act = nullptr;  // this direction's activations
  std::optional<float> clip;
  C* work = nullptr;          // gates*hidden of cell workspace
};

// Cell contract: static constexpr int kGates; static constexpr bool kHasCellState;
// static std::vector<std::string> default_activations();
// template <typename C> void step(const CellParams<C>&, const C* xw, const C* h, const C* c, C* h_out, C* c_out) const;
// where xw already includes the input bias Wb.
template <typename Cell>
class RecurrentKernel final : public Kernel {
 public:
  RecurrentKernel(const Node& node, int64_t opset) : cell_(node) {
    const std::string dir = node.attr_string("direction", "forward");
    if (dir == "forward") num_directions_ = 1;
    else if (dir == "reverse") { num_directions_ = 1; reverse_only_ = true; }
    else if (dir == "bidirectional") num_directions_ = 2;
    else throw Error(ErrorCode::kInvalidModel, node.describe() + ": direction must be forward, reverse or bidirectional, got '" + dir + "'");
    layout_ = node.attr_int("layout", 0);
    if (layout_ != 0 && layout_ != 1) throw Error(ErrorCode::kInvalidModel, node.describe() + ": layout must be 0 or 1");
    if (layout_ == 1 && opset < 14) throw Error(ErrorCode::kInvalidModel, node.describe() + ": layout needs opset 14");
    hidden_attr_ = node.attr_int("hidden_size", -1);
    if (node.has_attr("clip")) {
      clip_ = node.attr_float("clip", 0);
      if (!(*clip_ > 0)) throw Error(ErrorCode::kInvalidModel, node.describe() + ": clip must be positive");
    }
    activations_ = parse_activations(node, Cell::default_activations(), num_directions_);
    activations_per_direction_ = static_cast<int64_t>(Cell::default_activations().size());
  }

  void prepare(PrepareContext& ctx) override {
    const DType dtype = ctx.input_dtype(0);
    if (!dispatch_dtype<kFloats>(dtype, [](auto) {}))
      ctx.fail(std::string("expects floating-point X, got ") + dtype_name(dtype));
    const Shape& x = ctx.input_shape(0);
    if (x.size() != 3) ctx.fail("X must have rank 3, got " + shape_str(x));
    seq_ = layout_ == 0 ? x[0] : x[1];
    batch_ = layout_ == 0 ? x[1] : x[0];
    input_ = x[2];
    const Shape& r = ctx.input_shape(2);
    if (r.size() != 3) ctx.fail("R must have rank 3, got " + shape_str(r));
    hidden_ = hidden_attr_ >= 0 ? hidden_attr_ : r[2];
    const int64_t gh = Cell::kGates * hidden_;
    auto expect = [&](size_t i, const char* name, const Shape& want) {
      if (ctx.input_dtype(i) != dtype)
        ctx.fail(std::string(name) + " must have dtype " + dtype_name(dtype) + ", got " + dtype_name(ctx.input_dtype(i)));
      if (ctx.input_shape(i) != want)
        ctx.fail(std::string(name) + " must have shape " + shape_str(want) + ", got " + shape_str(ctx.input_shape(i)));
    };
    const int64_t D = num_directions_;
    expect(1, "W", {D, gh, input_});
    expect(2, "R", {D, gh, hidden_});
    has_b_ = ctx.has_input(3);
    if (has_b_) expect(3, "B", {D, 2 * gh});
    has_seq_lens_ = ctx.has_input(4);
    if (has_seq_lens_) {
      if (ctx.input_dtype(4) != DType::kInt32)
        ctx.fail(std::string("sequence_lens must be int32, got ") + dtype_name(ctx.input_dtype(4)));
      if (ctx.input_shape(4) != Shape{batch_})
        ctx.fail("sequence_lens must have shape " + shape_str({batch_}) + ", got " + shape_str(ctx.input_shape(4)));
    }
    const Shape state_shape = layout_ == 0 ? Shape{D, batch_, hidden_} : Shape{batch_, D, hidden_};
    has_h0_ = ctx.has_input(5);
    if (has_h0_) expect(5, "initial_h", state_shape);
    has_c0_ = Cell::kHasCellState && ctx.has_input(6);
    if (has_c0_) expect(6, "initial_c", state_shape);
    has_p_ = Cell::kHasCellState && ctx.has_input(7);
    if (has_p_) expect(7, "P", {D, 3 * hidden_});

    ctx.set_output(0, dtype, layout_ == 0 ? Shape{seq_, D, batch_, hidden_} : Shape{batch_, seq_, D, hidden_});
    ctx.set_output(1, dtype, state_shape);
    if (Cell::kHasCellState) ctx.set_output(2, dtype, state_shape);

    // Scratch, in compute elements (double covers every compute type).
    const int64_t bh = batch_ * hidden_;
    off_w_ = 0;
    off_r_ = off_w_ + D * gh * input_;
    off_b_ = off_r_ + D * gh * hidden_;
    off_p_ = off_b_ + D * 2 * gh;
    off_x_ = off_p_ + D * 3 * hidden_;
    off_xw_ = off_x_ + seq_ * batch_ * input_;
    off_h_ = off_xw_ + seq_ * batch_ * gh;
    off_c_ = off_h_ + bh;
    off_h2_ = off_c_ + bh;
    off_c2_ = off_h2_ + bh;
    off_work_ = off_c2_ + bh;
    const int64_t total = off_work_ + gh;
    ctx.request_scratch(static_cast<size_t>(total) * sizeof(double));
  }

  void run(RunContext& ctx) override {
    dispatch_dtype<kFloats>(ctx.input(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      compute<T, C>(ctx);
    });
  }

 private:
  template <typename T, typename C>
  void compute(RunContext& ctx) {
    C* s = static_cast<C*>(ctx.scratch());
    const int64_t D = num_directions_, H = hidden_, B = batch_, S = seq_, I = input_;
    const int64_t gh = Cell::kGates * H;
    auto load = [](const Tensor& t, C* dst) {
      const T* src = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) dst[i] = to_compute<C>(src[i]);
    };
    C* w = s + off_w_;
    C* r = s + off_r_;
    C* bias = s + off_b_;
    C* p = s + off_p_;
    C* x = s + off_x_;
    C* xw = s + off_xw_;
    load(ctx.input(1), w);
    load(ctx.input(2), r);
    if (has_b_) load(ctx.input(3), bias);
    else std::fill(bias, bias + D * 2 * gh, C(0));
    if (has_p_) load(ctx.input(7), p);
    // x is kept as [seq][batch][input] whatever the layout.
    {
      const T* src = ctx.input(0).data<T>();
      for (int64_t t = 0; t < S; ++t)
        for (int64_t b = 0; b < B; ++b) {
          const T* row = src + (layout_ == 0 ? (t * B + b) : (b * S + t)) * I;
          C* dst = x + (t * B + b) * I;
          for (int64_t i = 0; i < I; ++i) dst[i] = to_compute<C>(row[i]);
        }
    }
    const int32_t* seq_lens = has_seq_lens_ ? ctx.input(4).data<int32_t>() : nullptr;
    if (seq_lens)
      for (int64_t b = 0; b < B; ++b)
        if (seq_lens[b] < 0 || seq_lens[b] > S)
          ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(seq_lens[b]) + " is outside [0, " +
                   std::to_string(S) + "]");

    T* y = ctx.has_output(0) ? ctx.output(0).data<T>() : nullptr;
    T* y_h = ctx.has_output(1) ? ctx.output(1).data<T>() : nullptr;
    T* y_c = Cell::kHasCellState && ctx.has_output(2) ? ctx.output(2).data<T>() : nullptr;
    if (y) std::fill(y, y + S * D * B * H, from_compute<T>(C(0)));
    auto y_index = [&](int64_t t, int64_t d, int64_t b) {
      return layout_ == 0 ? ((t * D + d) * B + b) * H : ((b * S + t) * D + d) * H;
    };
    auto state_index = [&](int64_t d, int64_t b) { return layout_ == 0 ? (d * B + b) * H : (b * D + d) * H; };

    C* h = s + off_h_;
    C* c = s + off_c_;
    C* h_next = s + off_h2_;
    C* c_next = s + off_c2_;
    for (int64_t d = 0; d < D; ++d) {
      const bool backward = reverse_only_ || d == 1;
      // Input projection for every time step at once, plus the input bias Wb.
      for (int64_t k = 0; k < S * B; ++k) std::copy(bias + d * 2 * gh, bias + d * 2 * gh + gh, xw + k * gh);
      gemm_abt<C>(S * B, gh, I, x, w + d * gh * I, xw);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t si = state_index(d, b);
        for (int64_t j = 0; j < H; ++j) {
          h[b * H + j] = has_h0_ ? to_compute<C>(ctx.input(5).data<T>()[si + j]) : C(0);
          c[b * H + j] = has_c0_ ? to_compute<C>(ctx.input(6).data<T>()[si + j]) : C(0);
        }
      }
      CellParams<C> params;
      params.hidden = H;
      params.r = r + d * gh * H;
      params.rb = bias + d * 2 * gh + gh;
      params.p = has_p_ ? p + d * 3 * H : nullptr;
      params.act = activations_.data() + d * activations_per_direction_;
      params.clip = clip_;
      params.work = s + off_work_;
      for (int64_t step = 0; step < S; ++step) {
        for (int64_t b = 0; b < B; ++b) {
          const int64_t len = seq_lens ? seq_lens[b] : S;
          if (step >= len) continue;
          const int64_t t = backward ? len - 1 - step : step;
          cell_.template step<C>(params, xw + (t * B + b) * gh, h + b * H, c + b * H, h_next + b * H, c_next + b * H);
          std::copy(h_next + b * H, h_next + (b + 1) * H, h + b * H);
          if (Cell::kHasCellState) std::copy(c_next + b * H, c_next + (b + 1) * H, c + b * H);
          if (y) {
            T* dst = y + y_index(t, d, b);
            for (int64_t j = 0; j < H; ++j) dst[j] = from_compute<T>(h[b * H + j]);
          }
        }
      }
      for (int64_t b = 0; b < B; ++b) {
        const int64_t si = state_index(d, b);
        for (int64_t j = 0; j < H; ++j) {
          if (y_h) y_h[si + j] = from_compute<T>(h[b * H + j]);
          if (y_c) y_c[si + j] = from_compute<T>(c[b * H + j]);
        }
      }
    }
  }

  Cell cell_;
  int64_t num_directions_ = 1;
  bool reverse_only_ = false;
  int64_t layout_ = 0, hidden_attr_ = -1;
  std::optional<float> clip_;
  std::vector<Activation> activations_;
  int64_t activations_per_direction_ = 0;
  int64_t seq_ = 0, batch_ = 0, input_ = 0, hidden_ = 0;
  bool has_b_ = false, has_seq_lens_ = false, has_h0_ = false, has_c0_ = false, has_p_ = false;
  int64_t off_w_ = 0, off_r_ = 0, off_b_ = 0, off_p_ = 0, off_x_ = 0, off_xw_ = 0, off_h_ = 0, off_c_ = 0, off_h2_ = 0,
          off_c2_ = 0, off_work_ = 0;
};

template <typename C> C clip_value(C v, const std::optional<float>& clip) {
  if (!clip) return v;
  return std::max(C(-*clip), std::min(C(*clip), v));
}

}  // namespace edgerun::recurrent
