#include "runtime/memory_plan.h"

#include <algorithm>

namespace edgerun {

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  constexpr size_t kAlign = 64;
  auto aligned = [](size_t b) { return (std::max<size_t>(b, 1) + kAlign - 1) / kAlign * kAlign; };
  std::vector<const BufferRequest*> order;
  for (const auto& r : requests) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) { return aligned(a->bytes) > aligned(b->bytes); });

  struct Placed { size_t offset, size; int first, last; };
  std::vector<Placed> placed;
  MemoryPlan plan;
  for (const BufferRequest* r : order) {
    const size_t size = aligned(r->bytes);
    plan.total_bytes += size;
    // Intervals already taken by buffers alive at the same time, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const auto& p : placed)
      if (p.first <= r->last_step && r->first_step <= p.last) busy.emplace_back(p.offset, p.offset + p.size);
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    placed.push_back({offset, size, r->first_step, r->last_step});
    plan.offsets[r->id] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
  }
  return plan;
}

}  // namespace edgerun
