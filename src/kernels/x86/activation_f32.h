// An OutputActivation applied to a float32 span (y = act(x); x may be y), split over the pool's
// threads: for kernels whose library call cannot apply it while storing (XNNPACK's depthwise
// convolution has no SiLU), and for the standalone edgerun.Silu.
#pragma once
#include <cstdint>

#include "kernels/x86/activation_avx2.h"

namespace edgerun {

class ThreadPool;

void apply_activation_f32(const OutputActivation& activation, const float* x, float* y, int64_t n,
                          ThreadPool* threads);

}  // namespace edgerun
