// Memory for large buffers (weights, packed weights, arenas) on 2 MiB pages where the kernel offers
// them (Linux transparent huge pages in "madvise" mode, the Debian default).
//
// A model's first run touches all of its weights and buffers once. On 4 KiB pages each page is a
// separate fault: 100 MB took 90 ms to first touch on this machine, against 13-16 ms on 2 MiB pages.
#pragma once
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace edgerun {

// Sizes from this on get their own 2 MiB-aligned mapping; smaller ones come from operator new.
constexpr size_t kLargeBufferBytes = size_t{2} << 20;

// `bytes` of 64-byte-aligned memory, zeroed when `zero` (fresh mappings already are); null when out
// of memory. Release with release_buffer and the same size.
void* allocate_buffer(size_t bytes, bool zero) noexcept;
void release_buffer(void* p, size_t bytes) noexcept;
// The same, owned: the deleter releases it. Null when out of memory.
std::shared_ptr<void> shared_buffer(size_t bytes, bool zero);

// For std::vector of packed weights.
template <typename T>
struct LargeBufferAllocator {
  using value_type = T;
  LargeBufferAllocator() = default;
  template <typename U>
  LargeBufferAllocator(const LargeBufferAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    void* p = allocate_buffer(n * sizeof(T), false);  // the vector initializes its elements
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept { release_buffer(p, n * sizeof(T)); }
  // resize() leaves new elements uninitialized (default-initialized): the packers write every one, and
  // zeroing megabytes of packed weights first took 5 % of loading ssdlite320. assign(n, value) and
  // other constructions with arguments initialize as usual.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const LargeBufferAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const LargeBufferAllocator<U>&) const { return false; }
};

}  // namespace edgerun
