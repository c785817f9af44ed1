// Buffers above and below the huge-page size: aligned, zeroed when asked (on the heap path too, which
// sanitizer builds take for every size), usable through the vector allocator.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/large_buffer.h"
#include "edgerun/tensor.h"

using namespace edgerun;

TEST(LargeBuffer, ZeroedTensorsAndBuffersOfEverySize) {
  for (int64_t n : {int64_t{16}, int64_t{1} << 20, (int64_t{3} << 20) + 5}) {  // 64 B, 4 MiB, 12 MiB + 20 B
    const Tensor t(DType::kFloat32, {n});
    ASSERT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < n; ++i) nonzero += t.data<float>()[i] != 0.0f;
    EXPECT_EQ(nonzero, 0) << n;

    const size_t bytes = static_cast<size_t>(n) * 4;
    auto p = shared_buffer(bytes, true);
    ASSERT_TRUE(p);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p.get()) % 64, 0u);
    const auto* b = static_cast<const uint8_t*>(p.get());
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(b[i], 0) << n << " at " << i;
  }
  std::vector<float, LargeBufferAllocator<float>> v(1 << 20, 1.5f);
  v.resize(3 << 20);
  EXPECT_EQ(v[123], 1.5f);
  EXPECT_EQ(v[(3 << 20) - 1], 0.0f);
}
