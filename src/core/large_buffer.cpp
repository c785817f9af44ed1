#include "core/large_buffer.h"

#include <cstdint>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

// AddressSanitizer checks heap buffers only: keep them there in sanitizer builds.
#if defined(__SANITIZE_ADDRESS__)
#define EDGERUN_HEAP_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDGERUN_HEAP_ONLY 1
#endif
#endif

namespace edgerun {
namespace {

constexpr size_t kPage = 4096;

size_t mapped_size(size_t bytes) { return (bytes + kPage - 1) & ~(kPage - 1); }

bool use_mapping(size_t bytes) {
#if defined(__linux__) && !defined(EDGERUN_HEAP_ONLY)
  return bytes >= kLargeBufferBytes;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace

void* allocate_buffer(size_t bytes, bool zero) noexcept {
  if (!use_mapping(bytes)) {
    void* p = ::operator new(bytes ? bytes : 1, std::align_val_t(64), std::nothrow);
    if (p && zero) std::memset(p, 0, bytes);
    return p;
  }
#if defined(__linux__)
  // Map one huge page more than needed, keep the 2 MiB-aligned part: only aligned 2 MiB ranges can
  // be backed by huge pages.
  const size_t size = mapped_size(bytes);
  if (size > SIZE_MAX - kLargeBufferBytes) return nullptr;
  void* raw = ::mmap(nullptr, size + kLargeBufferBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kLargeBufferBytes - 1) & ~(uintptr_t{kLargeBufferBytes} - 1);
  if (aligned > begin) ::munmap(raw, aligned - begin);
  const uintptr_t end = begin + size + kLargeBufferBytes;
  if (end > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice only: 4 KiB pages otherwise
  return reinterpret_cast<void*>(aligned);
#else
  return nullptr;
#endif
}

void release_buffer(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (!use_mapping(bytes)) {
    ::operator delete(p, std::align_val_t(64));
    return;
  }
#if defined(__linux__)
  ::munmap(p, mapped_size(bytes));
#endif
}

std::shared_ptr<void> shared_buffer(size_t bytes, bool zero) {
  void* p = allocate_buffer(bytes, zero);
  if (!p) return nullptr;
  // shared_ptr releases p itself if its control block cannot be allocated.
  return std::shared_ptr<void>(p, [bytes](void* q) { release_buffer(q, bytes); });
}

}  // namespace edgerun
