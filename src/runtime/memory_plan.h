// Assigns arena offsets to buffers so that buffers whose lifetimes overlap never share bytes.
#pragma once
#include <cstddef>
#include <map>
#include <vector>

namespace edgerun {

struct BufferRequest {
  int id;          // caller's value id
  size_t bytes;
  int first_step;  // step that writes it
  int last_step;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::map<int, size_t> offsets;  // id -> byte offset (64-byte aligned)
  size_t arena_bytes = 0;         // with reuse
  size_t total_bytes = 0;         // sum of all buffers, no reuse
};

// Greedy by size (largest first), each at the lowest offset that fits beside live buffers.
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace edgerun
