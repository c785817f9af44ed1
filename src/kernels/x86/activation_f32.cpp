#include "kernels/x86/activation_f32.h"

#include <algorithm>
#include <cmath>

#include "kernels/x86/cpu_features.h"
#include "runtime/thread_pool.h"

namespace edgerun {
namespace {

float apply_portable(const OutputActivation& a, float x) {
  if (a.function == OutputActivation::Function::kSilu) x = x / (1.f + std::exp(-x));
  else if (a.function == OutputActivation::Function::kHardSwish) x = x * std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
  return std::min(std::max(x, a.min), a.max);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2,fma"))) void apply_avx2(const OutputActivation& a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, apply_activation(a, _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = apply_portable(a, x[i]);
}
#endif

}  // namespace

void apply_activation_f32(const OutputActivation& activation, const float* x, float* y, int64_t n,
                          ThreadPool* threads) {
  constexpr int64_t kBlock = 4096;  // elements per work item
  auto work = [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock, count = std::min(n, end * kBlock) - first;
#if defined(__GNUC__) && defined(__x86_64__)
    if (cpu_has_avx2_fma()) return apply_avx2(activation, x + first, y + first, count);
#endif
    for (int64_t i = 0; i < count; ++i) y[first + i] = apply_portable(activation, x[first + i]);
  };
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (threads && n >= 4 * kBlock) threads->parallel_for(blocks, 1, work);
  else work(0, blocks);
}

}  // namespace edgerun
