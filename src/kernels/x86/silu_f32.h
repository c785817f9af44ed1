// SiLU over a float32 span, split over the pool's threads (AVX2/FMA where the CPU has it; x may be y).
#pragma once
#include <cstdint>

namespace edgerun {

class ThreadPool;

void silu_f32(const float* x, float* y, int64_t n, ThreadPool* threads);

}  // namespace edgerun
