// edgerun.Silu: y = x * sigmoid(x) = x / (1 + exp(-x)) on float32, written by the FuseSilu pass for the
// Sigmoid + Mul pair exporters emit (EfficientNet, YOLO). One pass over the data instead of two;
// AVX2/FMA with a polynomial exp (relative error ~1e-7), split over the session's threads.
#include <algorithm>
#include <cmath>

#include "kernels/x86/silu_f32.h"

#include "kernels/kernel.h"
#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include "kernels/x86/activation_avx2.h"
#define EDGERUN_SILU_AVX2 1
#endif

namespace edgerun {
namespace {

inline float silu(float x) { return x / (1.f + std::exp(-x)); }

void silu_portable(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu(x[i]);
}

#ifdef EDGERUN_SILU_AVX2
__attribute__((target("avx2,fma"))) void silu_span_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu_avx2(_mm256_loadu_ps(x + i)));
  silu_portable(x + i, y + i, n - i);
}
#endif

}  // namespace

void silu_f32(const float* x, float* y, int64_t n, ThreadPool* threads) {
  constexpr int64_t kBlock = 4096;  // elements per work item
  auto work = [&](int64_t begin, int64_t end) {
    const int64_t b = begin * kBlock, e = std::min(n, end * kBlock);
#ifdef EDGERUN_SILU_AVX2
    if (cpu_has_avx2_fma()) return silu_span_avx2(x + b, y + b, e - b);
#endif
    silu_portable(x + b, y + b, e - b);
  };
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (threads && n >= 4 * kBlock) threads->parallel_for(blocks, 1, work);
  else work(0, blocks);
}

namespace {

class Silu final : public Kernel {
 public:
  Silu(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    if (ctx.input_dtype(0) != DType::kFloat32) ctx.fail("expects a float32 input");
    ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
    numel_ = shape_numel(ctx.input_shape(0));
  }

  void run(RunContext& ctx) override {
    silu_f32(ctx.input(0).data<float>(), ctx.output(0).data<float>(), numel_, ctx.threads());
  }

 private:
  int64_t numel_ = 0;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "Silu", Silu);

}  // namespace edgerun
