// The steady-state run loop of a statically planned model allocates nothing per node:
// allocations per run do not grow with the number of nodes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "edgerun/edgerun.h"
#include "model_builder.h"

namespace {
std::atomic<long> g_allocations{0};
}

// Every unaligned form is replaced so that allocation and release always pair up (sanitizers check).
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace edgerun;

namespace {
long allocations_per_run(int chain_length) {
  test::ModelSpec m;
  m.input("x", {1, 256});
  std::string prev = "x";
  for (int i = 0; i < chain_length; ++i) {
    const std::string next = "v" + std::to_string(i);
    m.node("Identity", {prev}, {next});
    prev = next;
  }
  m.output(prev, {1, 256});
  const std::string bytes = m.bytes();
  Session s(Model::load_from_memory(bytes.data(), bytes.size()));
  std::map<std::string, Tensor> feeds{{"x", Tensor(DType::kFloat32, {1, 256})}};
  s.run(feeds);  // warm-up
  const long before = g_allocations.load();
  for (int i = 0; i < 10; ++i) s.run(feeds);
  return (g_allocations.load() - before) / 10;
}
}  // namespace

TEST(SteadyState, AllocationsDoNotGrowWithNodeCount) {
  const long short_chain = allocations_per_run(2);
  const long long_chain = allocations_per_run(64);
  EXPECT_EQ(short_chain, long_chain) << "per-run allocations: 2 nodes " << short_chain << ", 64 nodes " << long_chain;
  EXPECT_LT(short_chain, 16);  // only the returned output tensors and argument bookkeeping
}
