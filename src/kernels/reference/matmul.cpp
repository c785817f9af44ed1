// MatMul with numpy semantics (batched, broadcast, 1-D promotion). float32 goes through the blocked GEMM;
// when B has no batch of its own, A's batches are folded into the rows of a single GEMM.
#include "kernels/common.h"
#include "kernels/kernel.h"
#include "kernels/reference/gemm_f32.h"
#include "kernels/reference/matmul_shape.h"

namespace edgerun {
namespace {

// Integer products wrap like numpy's; unsigned arithmetic makes that well-defined.
template <typename T> struct Accumulator { using type = T; };
template <> struct Accumulator<float16> { using type = float; };
template <> struct Accumulator<bfloat16> { using type = float; };
template <> struct Accumulator<int32_t> { using type = uint32_t; };
template <> struct Accumulator<int64_t> { using type = uint64_t; };

class MatMul final : public Kernel {
 public:
  MatMul(const Node& node, int64_t opset) {}

  void prepare(PrepareContext& ctx) override {
    const DType dt = ctx.input_dtype(0);
    if (ctx.input_dtype(1) != dt)
      ctx.fail(std::string("A has dtype ") + dtype_name(dt) + " but B has " + dtype_name(ctx.input_dtype(1)));
    const bool ok = dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16 || dt == DType::kBFloat16 ||
                    dt == DType::kInt32 || dt == DType::kInt64 || dt == DType::kUInt32 || dt == DType::kUInt64;
    if (!ok) ctx.fail(std::string("unsupported dtype ") + dtype_name(dt));
    shape_ = MatMulShape::infer(ctx, ctx.input_shape(0), ctx.input_shape(1));
    ctx.set_output(0, dt, shape_.out);
    dtype_ = dt;
    // B shared by every batch and A not broadcast: one GEMM with batch * M rows.
    fold_batches_ = shape_.b_batches == 1 && shape_.a_batches == shape_.batch;
    if (dt == DType::kFloat32) {
      const int64_t rows = fold_batches_ ? shape_.batch * shape_.M : shape_.M;
      ctx.request_scratch(gemm_f32_workspace_bytes(rows, shape_.N, shape_.K));
    }
  }

  void run(RunContext& ctx) override {
    const int64_t M = shape_.M, N = shape_.N, K = shape_.K;
    if (dtype_ == DType::kFloat32) {
      const float* a = ctx.input(0).data<float>();
      const float* b = ctx.input(1).data<float>();
      float* y = ctx.output(0).data<float>();
      if (fold_batches_) {
        gemm_f32(shape_.batch * M, N, K, 1.f, MatrixRef{a, K, 1}, MatrixRef{b, N, 1}, 0.f, y, N, ctx.scratch());
        return;
      }
      for (int64_t i = 0; i < shape_.batch; ++i)
        gemm_f32(M, N, K, 1.f, MatrixRef{a + shape_.a_batch[i] * M * K, K, 1}, MatrixRef{b + shape_.b_batch[i] * K * N, N, 1},
                 0.f, y + i * M * N, N, ctx.scratch());
      return;
    }
    dispatch_dtype<kNumeric>(dtype_, [&](auto tag) {
      using T = decltype(tag);
      using Acc = typename Accumulator<T>::type;
      const T* a = ctx.input(0).data<T>();
      const T* b = ctx.input(1).data<T>();
      T* y = ctx.output(0).data<T>();
      for (int64_t i = 0; i < shape_.batch; ++i) {
        const T* ab = a + shape_.a_batch[i] * M * K;
        const T* bb = b + shape_.b_batch[i] * K * N;
        T* yb = y + i * M * N;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            Acc acc = 0;
            for (int64_t k = 0; k < K; ++k) acc += static_cast<Acc>(ab[m * K + k]) * static_cast<Acc>(bb[k * N + n]);
            yb[m * N + n] = static_cast<T>(acc);
          }
      }
    });
  }

 private:
  MatMulShape shape_;
  DType dtype_ = DType::kFloat32;
  bool fold_batches_ = false;
};

}  // namespace
EDGERUN_REGISTER_KERNEL("MatMul", MatMul);
}  // namespace edgerun
