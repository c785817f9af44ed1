// An OutputActivation applied in place to a float32 span, split over the pool's threads: for kernels
// whose library call cannot apply it while storing (XNNPACK's depthwise convolution has no SiLU).
#pragma once
#include <cstdint>

#include "kernels/x86/activation_avx2.h"

namespace edgerun {

class ThreadPool;

void apply_activation_f32(const OutputActivation& activation, float* data, int64_t n, ThreadPool* threads);

}  // namespace edgerun
