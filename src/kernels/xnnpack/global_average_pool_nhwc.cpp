// edgerun.GlobalAveragePoolNhwc: float32 GlobalAveragePool on a 4-D NHWC tensor ([N, 1, 1, C] out).
// With AVX2 an own loop: each slice of pixels (in data order, so a thread sums the rows it wrote in the
// layer before) sums into its own row of the scratch, and the caller adds the rows. XNNPACK splits only
// over the batch, so at batch 1 it ran on one thread and read half its input from the other core's
// cache: efficientnet_b0's squeeze-excitation means took 2-2.6x as long at 2 threads as at 1.
// Elsewhere XNNPACK.
#include <algorithm>

#include "kernels/x86/cpu_features.h"
#include "kernels/xnnpack/xnnpack_common.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {
namespace {

// sums[c] = sum over pixels [begin, end) of x[p * channels + c].
#if defined(__x86_64__)
__attribute__((target("avx2"))) void sum_pixels_avx2(const float* x, int64_t channels, int64_t begin, int64_t end,
                                                     float* sums) {
  int64_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = begin; p < end; ++p) {
      const float* row = x + p * channels + c;
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(row));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(row + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(row + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(row + 24));
    }
    _mm256_storeu_ps(sums + c, a0);
    _mm256_storeu_ps(sums + c + 8, a1);
    _mm256_storeu_ps(sums + c + 16, a2);
    _mm256_storeu_ps(sums + c + 24, a3);
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t p = begin; p < end; ++p) a = _mm256_add_ps(a, _mm256_loadu_ps(x + p * channels + c));
    _mm256_storeu_ps(sums + c, a);
  }
  for (; c < channels; ++c) {
    float a = 0.f;
    for (int64_t p = begin; p < end; ++p) a += x[p * channels + c];
    sums[c] = a;
  }
}
#endif

constexpr int64_t kSlicePixels = 256;  // at least this many pixels a slice

class GlobalAveragePoolNhwc final : public Kernel {
 public:
  GlobalAveragePoolNhwc(const Node&, int64_t) {}

  void prepare(PrepareContext& ctx) override {
    const Shape& x = ctx.input_shape(0);
    if (ctx.input_dtype(0) != DType::kFloat32 || x.size() != 4) ctx.fail("expects a 4-D float32 NHWC input, got " + shape_str(x));
    ctx.set_output(0, DType::kFloat32, {x[0], 1, 1, x[3]});
    batch_ = x[0];
    pixels_ = x[1] * x[2];
    empty_ = shape_numel(x) == 0;
    own_ = cpu_has_avx2_fma();
    if (own_) {
      channels_ = x[3];
      slices_ = std::clamp<int64_t>(static_cast<int64_t>(pixels_) / kSlicePixels, 1, 16);
      ctx.request_scratch(static_cast<size_t>(slices_ * x[3]) * sizeof(float));
      return;
    }
    if (op_ && channels_ == x[3]) return;
    channels_ = x[3];
    xnn_operator_t op = nullptr;
    check_xnn(xnn_create_global_average_pooling_nwc_f32(channels_, channels_, channels_,
                                                        -std::numeric_limits<float>::infinity(),
                                                        std::numeric_limits<float>::infinity(), 0, &op),
              ctx.node(), "xnn_create_global_average_pooling_nwc_f32");
    op_.reset(op);
  }

  void run(RunContext& ctx) override {
    if (empty_) return;
    if (own_) return run_own(ctx);
    pthreadpool_t threads = pthreads_of(ctx);
    check_xnn(xnn_setup_global_average_pooling_nwc_f32(op_.get(), batch_, pixels_, ctx.input(0).data<float>(),
                                                       ctx.output(0).data<float>(), threads),
              ctx.node(), "xnn_setup_global_average_pooling_nwc_f32");
    check_xnn(xnn_run_operator(op_.get(), threads), ctx.node(), "xnn_run_operator");
  }

 private:
  void run_own(RunContext& ctx) const {
#if defined(__x86_64__)
    const float* x = ctx.input(0).data<float>();
    float* y = ctx.output(0).data<float>();
    float* partial = static_cast<float*>(ctx.scratch());
    const int64_t c = static_cast<int64_t>(channels_), pixels = static_cast<int64_t>(pixels_);
    const int64_t threads = ctx.threads() ? ctx.threads()->num_threads() : 1;
    const int64_t slices = threads > 1 ? slices_ : 1;
    const float scale = 1.f / static_cast<float>(pixels);
    for (size_t n = 0; n < batch_; ++n) {
      const float* image = x + static_cast<int64_t>(n) * pixels * c;
      auto work = [&](int64_t begin, int64_t end) {
        for (int64_t s = begin; s < end; ++s)
          sum_pixels_avx2(image, c, s * pixels / slices, (s + 1) * pixels / slices, partial + s * c);
      };
      if (slices > 1) ctx.threads()->parallel_for(slices, 1, work);
      else work(0, 1);
      float* out = y + static_cast<int64_t>(n) * c;
      for (int64_t k = 0; k < c; ++k) {
        float sum = partial[k];
        for (int64_t s = 1; s < slices; ++s) sum += partial[s * c + k];
        out[k] = sum * scale;
      }
    }
#else
    (void)ctx;
#endif
  }

  XnnOperator op_;
  bool own_ = false;
  int64_t slices_ = 1;
  size_t channels_ = 0, batch_ = 0, pixels_ = 0;
  bool empty_ = false;
};

}  // namespace

EDGERUN_REGISTER_KERNEL_DOMAIN("edgerun", "GlobalAveragePoolNhwc", GlobalAveragePoolNhwc);

}  // namespace edgerun
