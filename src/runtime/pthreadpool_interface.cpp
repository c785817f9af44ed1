// The pthreadpool C interface that XNNPACK calls, implemented on edgerun's ThreadPool (as frameworks that
// embed XNNPACK do with their own pools). With two pools in one process, the pthreadpool library's
// workers spin for a while after every operator and take the core that the session's own workers need
// next: a 2-thread session ran no faster than 1 thread on the models here. These definitions live in the
// executable, so the dynamic linker binds XNNPACK's calls to them rather than to libpthreadpool; only the
// functions this XNNPACK build imports are provided (see `objdump -T libXNNPACK.so | grep pthreadpool`).
#include <pthreadpool.h>

#include <algorithm>
#include <array>
#include <atomic>

#include "runtime/thread_pool.h"

namespace edgerun {
namespace {

std::atomic<uint64_t> parallelized_calls{0};

// A range of up to 6 dimensions whose last ones may be tiled; items are the tiles, enumerated row-major.
struct TiledRange {
  std::array<size_t, 6> range{1, 1, 1, 1, 1, 1}, tile{1, 1, 1, 1, 1, 1}, tiles{};
  size_t items = 1;

  TiledRange(std::initializer_list<size_t> ranges, std::initializer_list<size_t> tile_sizes) {
    const size_t dims = ranges.size(), offset = 6 - dims;  // right-align: dimension 5 is the innermost
    std::copy(ranges.begin(), ranges.end(), range.begin() + offset);
    std::copy(tile_sizes.begin(), tile_sizes.end(), tile.end() - tile_sizes.size());
    for (size_t d = 0; d < 6; ++d) {
      tile[d] = std::max<size_t>(tile[d], 1);
      tiles[d] = (range[d] + tile[d] - 1) / tile[d];
      items *= tiles[d];
    }
  }

  // Start and size of every dimension for item `index`.
  void item(size_t index, std::array<size_t, 6>& start, std::array<size_t, 6>& size) const {
    for (size_t d = 6; d-- > 0;) {
      const size_t t = index % tiles[d];
      index /= tiles[d];
      start[d] = t * tile[d];
      size[d] = std::min(tile[d], range[d] - start[d]);
    }
  }
};

// Runs call(start, size) for every item, on the pool's threads when there is one.
template <typename Call>
void parallelize(pthreadpool_t threadpool, const TiledRange& r, const Call& call) {
  if (r.items == 0) return;
  auto body = [&](int64_t begin, int64_t end) {
    std::array<size_t, 6> start{}, size{};
    for (int64_t i = begin; i < end; ++i) {
      r.item(static_cast<size_t>(i), start, size);
      call(start, size);
    }
  };
  if (threadpool == nullptr || threadpool->pool->num_threads() == 1 || r.items == 1) {
    body(0, static_cast<int64_t>(r.items));
    return;
  }
  parallelized_calls.fetch_add(1, std::memory_order_relaxed);
  threadpool->pool->parallel_for(static_cast<int64_t>(r.items), 1, body);
}

}  // namespace

uint64_t ThreadPool::xnnpack_parallel_calls() { return parallelized_calls.load(std::memory_order_relaxed); }

pthreadpool_t ThreadPool::pthreads() {
  std::call_once(pthreads_once_, [this] { pthreads_ = std::make_unique<struct pthreadpool>(pthreadpool{this}); });
  return pthreads_.get();
}

}  // namespace edgerun

using edgerun::TiledRange;
using Index = std::array<size_t, 6>;

extern "C" {

size_t pthreadpool_get_threads_count(pthreadpool_t threadpool) {
  return threadpool ? static_cast<size_t>(threadpool->pool->num_threads()) : 1;
}

void pthreadpool_parallelize_1d(pthreadpool_t tp, pthreadpool_task_1d_t f, void* c, size_t range, uint32_t) {
  edgerun::parallelize(tp, TiledRange({range}, {}), [&](const Index& s, const Index&) { f(c, s[5]); });
}

void pthreadpool_parallelize_1d_tile_1d(pthreadpool_t tp, pthreadpool_task_1d_tile_1d_t f, void* c, size_t range,
                                        size_t tile, uint32_t) {
  edgerun::parallelize(tp, TiledRange({range}, {tile}), [&](const Index& s, const Index& n) { f(c, s[5], n[5]); });
}

void pthreadpool_parallelize_2d(pthreadpool_t tp, pthreadpool_task_2d_t f, void* c, size_t i, size_t j, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j}, {}), [&](const Index& s, const Index&) { f(c, s[4], s[5]); });
}

void pthreadpool_parallelize_2d_tile_1d(pthreadpool_t tp, pthreadpool_task_2d_tile_1d_t f, void* c, size_t i,
                                        size_t j, size_t tile_j, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j}, {tile_j}),
                       [&](const Index& s, const Index& n) { f(c, s[4], s[5], n[5]); });
}

void pthreadpool_parallelize_2d_tile_2d(pthreadpool_t tp, pthreadpool_task_2d_tile_2d_t f, void* c, size_t i,
                                        size_t j, size_t tile_i, size_t tile_j, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j}, {tile_i, tile_j}),
                       [&](const Index& s, const Index& n) { f(c, s[4], s[5], n[4], n[5]); });
}

void pthreadpool_parallelize_3d(pthreadpool_t tp, pthreadpool_task_3d_t f, void* c, size_t i, size_t j, size_t k,
                                uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k}, {}), [&](const Index& s, const Index&) { f(c, s[3], s[4], s[5]); });
}

void pthreadpool_parallelize_3d_tile_2d(pthreadpool_t tp, pthreadpool_task_3d_tile_2d_t f, void* c, size_t i,
                                        size_t j, size_t k, size_t tile_j, size_t tile_k, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k}, {tile_j, tile_k}),
                       [&](const Index& s, const Index& n) { f(c, s[3], s[4], s[5], n[4], n[5]); });
}

void pthreadpool_parallelize_4d(pthreadpool_t tp, pthreadpool_task_4d_t f, void* c, size_t i, size_t j, size_t k,
                                size_t l, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k, l}, {}),
                       [&](const Index& s, const Index&) { f(c, s[2], s[3], s[4], s[5]); });
}

void pthreadpool_parallelize_4d_tile_2d(pthreadpool_t tp, pthreadpool_task_4d_tile_2d_t f, void* c, size_t i,
                                        size_t j, size_t k, size_t l, size_t tile_k, size_t tile_l, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k, l}, {tile_k, tile_l}),
                       [&](const Index& s, const Index& n) { f(c, s[2], s[3], s[4], s[5], n[4], n[5]); });
}

void pthreadpool_parallelize_5d(pthreadpool_t tp, pthreadpool_task_5d_t f, void* c, size_t i, size_t j, size_t k,
                                size_t l, size_t m, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k, l, m}, {}),
                       [&](const Index& s, const Index&) { f(c, s[1], s[2], s[3], s[4], s[5]); });
}

void pthreadpool_parallelize_5d_tile_2d(pthreadpool_t tp, pthreadpool_task_5d_tile_2d_t f, void* c, size_t i,
                                        size_t j, size_t k, size_t l, size_t m, size_t tile_l, size_t tile_m,
                                        uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k, l, m}, {tile_l, tile_m}),
                       [&](const Index& s, const Index& n) { f(c, s[1], s[2], s[3], s[4], s[5], n[4], n[5]); });
}

void pthreadpool_parallelize_6d_tile_2d(pthreadpool_t tp, pthreadpool_task_6d_tile_2d_t f, void* c, size_t i,
                                        size_t j, size_t k, size_t l, size_t m, size_t n, size_t tile_m,
                                        size_t tile_n, uint32_t) {
  edgerun::parallelize(tp, TiledRange({i, j, k, l, m, n}, {tile_m, tile_n}), [&](const Index& s, const Index& z) {
    f(c, s[0], s[1], s[2], s[3], s[4], s[5], z[4], z[5]);
  });
}

}  // extern "C"
