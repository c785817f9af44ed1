// Quantized matrix products: MatMulInteger (int32 result) and QLinearMatMul (requantized result).
// Both accumulate (a - a_zero_point) * (b - b_zero_point) in int32. Zero points and scales are per tensor,
// per row of A, or per column of B.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/matmul_shape.h"

namespace edgerun {
namespace {

bool is_int8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// How a quantization parameter maps onto rows of A (or columns of B).
struct ParamLayout {
  enum Kind { kNone, kScalar, kPerLine, kPerBatchLine } kind = kNone;
  int64_t lines = 1;  // M for A, N for B
  int64_t index(int64_t batch, int64_t line) const {
    switch (kind) {
      case kPerLine: return line;
      case kPerBatchLine: return batch * lines + line;
      default: return 0;
    }
  }
};

// Accepts a scalar, one value per row/column, or one per batch and row/column ([..., M, 1] or [..., 1, N]).
ParamLayout param_layout(const PrepareContext& ctx, size_t input, const char* name, int64_t lines, int64_t batches) {
  ParamLayout p;
  if (!ctx.has_input(input)) return p;
  p.lines = lines;
  const int64_t n = shape_numel(ctx.input_shape(input));
  if (n == 1) p.kind = ParamLayout::kScalar;
  else if (n == lines && ctx.input_shape(input).size() == 1) p.kind = ParamLayout::kPerLine;
  else if (n == lines * batches) p.kind = ParamLayout::kPerBatchLine;
  else
    ctx.fail(std::string(name) + " has shape " + shape_str(ctx.input_shape(input)) + "; expected a scalar or " +
             std::to_string(lines) + " values");
  return p;
}

template <typename T>
int32_t int_at(const Tensor* t, int64_t i) {
  return t ? static_cast<int32_t>(t->data<T>()[i]) : 0;
}

// Calls store(batch, a_batch, b_batch, m, n, acc) for every output element. Sums are kept in 64 bits and
// truncated to int32 at the end, so overflow wraps instead of being undefined.
template <typename TA, typename TB, typename Store>
void integer_matmul(const MatMulShape& s, const Tensor& a, const Tensor& b, const Tensor* a_zp, const ParamLayout& a_zl,
                    const Tensor* b_zp, const ParamLayout& b_zl, int64_t* row_buffer, Store&& store) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  const int64_t M = s.M, N = s.N, K = s.K;
  for (int64_t i = 0; i < s.batch; ++i) {
    const int64_t ai = s.a_batch[i], bi = s.b_batch[i];
    const TA* ab = pa + ai * M * K;
    const TB* bb = pb + bi * K * N;
    for (int64_t m = 0; m < M; ++m) {
      const int32_t azp = int_at<TA>(a_zp, a_zl.index(ai, m));
      int64_t* acc = row_buffer;
      std::fill(acc, acc + N, 0);
      for (int64_t k = 0; k < K; ++k) {
        const int64_t av = static_cast<int32_t>(ab[m * K + k]) - azp;
        const TB* brow = bb + k * N;
        for (int64_t n = 0; n < N; ++n) acc[n] += av * static_cast<int64_t>(brow[n]);
      }
      // Subtract the B zero point once per column: sum_k av * bzp.
      if (b_zp) {
        int64_t a_sum = 0;
        for (int64_t k = 0; k < K; ++k) a_sum += static_cast<int32_t>(ab[m * K + k]) - azp;
        for (int64_t n = 0; n < N; ++n) acc[n] -= a_sum * int_at<TB>(b_zp, b_zl.index(bi, n));
      }
      for (int64_t n = 0; n < N; ++n) store(i, ai, bi, m, n, static_cast<int32_t>(acc[n]));
    }
  }
}

template <typename Fn>
void dispatch_int8_pair(DType a, DType b, Fn&& fn) {
  if (a == DType::kUInt8 && b == DType::kUInt8) fn(uint8_t{}, uint8_t{});
  else if (a == DType::kUInt8) fn(uint8_t{}, int8_t{});
  else if (b == DType::kUInt8) fn(int8_t{}, uint8_t{});
  else fn(int8_t{}, int8_t{});
}

class MatMulInteger final : public Kernel {
 public:
  MatMulInteger(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    a_type_ = ctx.input_dtype(0);
    b_type_ = ctx.input_dtype(1);
    if (!is_int8(a_type_) || !is_int8(b_type_))
      ctx.fail(std::string("A and B must be int8 or uint8, got ") + dtype_name(a_type_) + " and " + dtype_name(b_type_));
    for (size_t i = 2; i < 4; ++i)
      if (ctx.has_input(i) && ctx.input_dtype(i) != ctx.input_dtype(i - 2))
        ctx.fail(std::string(i == 2 ? "a" : "b") + "_zero_point has dtype " + dtype_name(ctx.input_dtype(i)) +
                 ", expected " + dtype_name(ctx.input_dtype(i - 2)));
    shape_ = MatMulShape::infer(ctx, ctx.input_shape(0), ctx.input_shape(1));
    a_zl_ = param_layout(ctx, 2, "a_zero_point", shape_.M, shape_.a_batches);
    b_zl_ = param_layout(ctx, 3, "b_zero_point", shape_.N, shape_.b_batches);
    ctx.set_output(0, DType::kInt32, shape_.out);
    ctx.request_scratch(sizeof(int64_t) * static_cast<size_t>(std::max<int64_t>(shape_.N, 1)));
  }

  void run(RunContext& ctx) override {
    const Tensor* a_zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Tensor* b_zp = ctx.has_input(3) ? &ctx.input(3) : nullptr;
    int32_t* y = ctx.output(0).data<int32_t>();
    const int64_t M = shape_.M, N = shape_.N;
    dispatch_int8_pair(a_type_, b_type_, [&](auto ta, auto tb) {
      integer_matmul<decltype(ta), decltype(tb)>(
          shape_, ctx.input(0), ctx.input(1), a_zp, a_zl_, b_zp, b_zl_, static_cast<int64_t*>(ctx.scratch()),
          [&](int64_t i, int64_t, int64_t, int64_t m, int64_t n, int32_t acc) { y[(i * M + m) * N + n] = acc; });
    });
  }

 private:
  MatMulShape shape_;
  DType a_type_ = DType::kUInt8, b_type_ = DType::kUInt8;
  ParamLayout a_zl_, b_zl_;
};

class QLinearMatMul final : public Kernel {
 public:
  QLinearMatMul(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    for (size_t i = 0; i < 8; ++i)
      if (!ctx.has_input(i)) ctx.fail("all 8 inputs are required");
    a_type_ = ctx.input_dtype(0);
    b_type_ = ctx.input_dtype(3);
    y_type_ = ctx.input_dtype(7);
    if (!is_int8(a_type_) || !is_int8(b_type_) || !is_int8(y_type_))
      ctx.fail("a, b and y_zero_point must be int8 or uint8");
    if (ctx.input_dtype(2) != a_type_ || ctx.input_dtype(5) != b_type_)
      ctx.fail("zero points must have the dtype of their inputs");
    for (size_t i : {1, 4, 6})
      if (ctx.input_dtype(i) != DType::kFloat32)
        ctx.fail("scales must be float32, input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)));
    shape_ = MatMulShape::infer(ctx, ctx.input_shape(0), ctx.input_shape(3));
    a_sl_ = param_layout(ctx, 1, "a_scale", shape_.M, shape_.a_batches);
    a_zl_ = param_layout(ctx, 2, "a_zero_point", shape_.M, shape_.a_batches);
    b_sl_ = param_layout(ctx, 4, "b_scale", shape_.N, shape_.b_batches);
    b_zl_ = param_layout(ctx, 5, "b_zero_point", shape_.N, shape_.b_batches);
    if (shape_numel(ctx.input_shape(6)) != 1 || shape_numel(ctx.input_shape(7)) != 1)
      ctx.fail("y_scale and y_zero_point must be scalars");
    ctx.set_output(0, y_type_, shape_.out);
    ctx.request_scratch(sizeof(int64_t) * static_cast<size_t>(std::max<int64_t>(shape_.N, 1)));
  }

  void run(RunContext& ctx) override {
    const float* a_scale = ctx.input(1).data<float>();
    const float* b_scale = ctx.input(4).data<float>();
    const float y_scale = ctx.input(6).data<float>()[0];
    const int64_t M = shape_.M, N = shape_.N;
    dispatch_int8_pair(a_type_, b_type_, [&](auto ta, auto tb) {
      dispatch_dtype<kInts>(y_type_, [&](auto ty) {
        using TY = decltype(ty);
        if constexpr (std::is_same_v<TY, int8_t> || std::is_same_v<TY, uint8_t>) {
          const int32_t y_zp = static_cast<int32_t>(ctx.input(7).data<TY>()[0]);
          TY* y = ctx.output(0).data<TY>();
          integer_matmul<decltype(ta), decltype(tb)>(
              shape_, ctx.input(0), ctx.input(3), &ctx.input(2), a_zl_, &ctx.input(5), b_zl_,
              static_cast<int64_t*>(ctx.scratch()),
              [&](int64_t i, int64_t ai, int64_t bi, int64_t m, int64_t n, int32_t acc) {
                const float multiplier = a_scale[a_sl_.index(ai, m)] * b_scale[b_sl_.index(bi, n)] / y_scale;
                const float q = std::nearbyint(static_cast<float>(acc) * multiplier) + static_cast<float>(y_zp);
                const float lo = static_cast<float>(std::numeric_limits<TY>::min());
                const float hi = static_cast<float>(std::numeric_limits<TY>::max());
                y[(i * M + m) * N + n] = static_cast<TY>(q >= lo ? std::min(q, hi) : lo);  // NaN saturates low
              });
        }
      });
    });
  }

 private:
  MatMulShape shape_;
  DType a_type_ = DType::kUInt8, b_type_ = DType::kUInt8, y_type_ = DType::kUInt8;
  ParamLayout a_sl_, a_zl_, b_sl_, b_zl_;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("MatMulInteger", MatMulInteger);
EDGERUN_REGISTER_KERNEL("QLinearMatMul", QLinearMatMul);
}  // namespace edgerun
