// Gemm: Y = alpha * op(A) * op(B) + beta * C, with C (optional from opset 11) broadcast to [M, N].
#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/gemm_f32.h"

namespace edgerun {
namespace {

template <typename T> struct Accumulator { using type = double; };
template <> struct Accumulator<int32_t> { using type = uint64_t; };  // wraps instead of overflowing
template <> struct Accumulator<int64_t> { using type = uint64_t; };
template <> struct Accumulator<uint32_t> { using type = uint64_t; };
template <> struct Accumulator<uint64_t> { using type = uint64_t; };

class Gemm final : public Kernel {
 public:
  Gemm(const Node& node, int64_t opset)
      : opset_(opset), alpha_(node.attr_float("alpha", 1.f)), beta_(node.attr_float("beta", 1.f)),
        trans_a_(node.attr_int("transA", 0) != 0), trans_b_(node.attr_int("transB", 0) != 0) {}

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    const bool ok = dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16 || dt == DType::kBFloat16 ||
                    dt == DType::kInt32 || dt == DType::kInt64 || dt == DType::kUInt32 || dt == DType::kUInt64;
    if (!ok) ctx.fail(std::string("unsupported dtype ") + dtype_name(dt));
    const Shape& a = ctx.input_shape(0);
    const Shape& b = ctx.input_shape(1);
    if (ctx.input_dtype(1) != dt) ctx.fail(std::string("B has dtype ") + dtype_name(ctx.input_dtype(1)) + ", expected " + dtype_name(dt));
    if (a.size() != 2 || b.size() != 2) ctx.fail("A and B must be 2-D, got " + shape_str(a) + " and " + shape_str(b));
    M_ = trans_a_ ? a[1] : a[0];
    K_ = trans_a_ ? a[0] : a[1];
    const int64_t kb = trans_b_ ? b[1] : b[0];
    N_ = trans_b_ ? b[0] : b[1];
    if (kb != K_)
      ctx.fail("inner dimensions differ: A " + shape_str(a) + (trans_a_ ? " (transposed)" : "") + ", B " + shape_str(b) +
               (trans_b_ ? " (transposed)" : ""));
    has_c_ = ctx.has_input(2);
    if (!has_c_ && opset_ < 11) ctx.fail("input C is required before opset 11");
    if (has_c_) {
      if (ctx.input_dtype(2) != dt) ctx.fail(std::string("C has dtype ") + dtype_name(ctx.input_dtype(2)) + ", expected " + dtype_name(dt));
      const Shape& c = ctx.input_shape(2);
      const Shape target = {M_, N_};
      bool fits = c.size() <= 2;
      for (size_t i = 0; fits && i < c.size(); ++i) fits = c[i] == 1 || c[i] == target[2 - c.size() + i];
      if (!fits) ctx.fail("C has shape " + shape_str(c) + ", which does not broadcast to " + shape_str(target));
      const auto st = broadcast_strides(c, target);
      c_row_stride_ = st[0];
      c_col_stride_ = st[1];
    }
    dtype_ = dt;
    ctx.set_output(0, dt, {M_, N_});
    if (dt == DType::kFloat32) ctx.request_scratch(gemm_f32_workspace_bytes(M_, N_, K_));
  }

  void run(RunContext& ctx) override {
    const bool use_c = has_c_ && beta_ != 0.f;
    if (dtype_ == DType::kFloat32) {
      const float* a = ctx.input(0).data<float>();
      const float* b = ctx.input(1).data<float>();
      float* y = ctx.output(0).data<float>();
      if (use_c) {
        const float* c = ctx.input(2).data<float>();
        for (int64_t i = 0; i < M_; ++i)
          for (int64_t j = 0; j < N_; ++j) y[i * N_ + j] = beta_ * c[i * c_row_stride_ + j * c_col_stride_];
      }
      const MatrixRef ma = trans_a_ ? MatrixRef{a, 1, M_} : MatrixRef{a, K_, 1};
      const MatrixRef mb = trans_b_ ? MatrixRef{b, 1, K_} : MatrixRef{b, N_, 1};
      gemm_f32(M_, N_, K_, alpha_, ma, mb, use_c ? 1.f : 0.f, y, N_, ctx.scratch());
      return;
    }
    dispatch_dtype<kNumeric>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      using Acc = typename Accumulator<T>::type;
      const T* a = ctx.input(0).data<T>();
      const T* b = ctx.input(1).data<T>();
      const T* c = use_c ? ctx.input(2).data<T>() : nullptr;
      T* y = ctx.output(0).data<T>();
      const int64_t as_m = trans_a_ ? 1 : K_, as_k = trans_a_ ? M_ : 1;
      const int64_t bs_k = trans_b_ ? 1 : N_, bs_n = trans_b_ ? K_ : 1;
      for (int64_t i = 0; i < M_; ++i)
        for (int64_t j = 0; j < N_; ++j) {
          Acc acc = 0;
          for (int64_t k = 0; k < K_; ++k) acc += static_cast<Acc>(a[i * as_m + k * as_k]) * static_cast<Acc>(b[k * bs_k + j * bs_n]);
          if constexpr (std::is_floating_point_v<Acc>) {
            double v = alpha_ * acc;
            if (c) v += beta_ * static_cast<double>(c[i * c_row_stride_ + j * c_col_stride_]);
            y[i * N_ + j] = static_cast<T>(v);
          } else {
            // Integer Gemm: alpha and beta act as integer factors.
            Acc v = static_cast<Acc>(static_cast<int64_t>(alpha_)) * acc;
            if (c) v += static_cast<Acc>(static_cast<int64_t>(beta_)) * static_cast<Acc>(c[i * c_row_stride_ + j * c_col_stride_]);
            y[i * N_ + j] = static_cast<T>(v);
          }
        }
    });
  }

 private:
  int64_t opset_;
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  bool has_c_ = false;
  int64_t M_ = 0, N_ = 0, K_ = 0, c_row_stride_ = 0, c_col_stride_ = 0;
  DType dtype_ = DType::kFloat32;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("Gemm", Gemm);
}  // namespace edgerun
