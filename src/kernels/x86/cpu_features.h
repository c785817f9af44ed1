// Run-time CPU checks for the kernels compiled with target attributes (checked once per process).
#pragma once
#include <cstdlib>
#include <cstring>

namespace edgerun {

// EDGERUN_ISA=avx2 keeps the kernels to their AVX2 paths on a CPU with AVX-512, so that those paths
// can be tested and timed there (the test suite runs the kernel tests both ways).
inline bool isa_capped_at_avx2() {
  static const bool capped = [] {
    const char* isa = std::getenv("EDGERUN_ISA");
    return isa != nullptr && std::strcmp(isa, "avx2") == 0;
  }();
  return capped;
}

// True when this CPU has AVX-512 F, BW, DQ and VL (x86-64 only) and EDGERUN_ISA does not cap it.
inline bool cpu_has_avx512() {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool supported = !isa_capped_at_avx2() && __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                                __builtin_cpu_supports("avx512vl");
  return supported;
#else
  return false;
#endif
}

// True when cpu_has_avx512() and the CPU has AVX-512 VNNI (vpdpbusd: 4 byte products summed into int32).
inline bool cpu_has_avx512_vnni() {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool supported = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return supported;
#else
  return false;
#endif
}

// True when this CPU has AVX2 and FMA (x86-64 only).
inline bool cpu_has_avx2_fma() {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}

// True when this CPU has AVX2 (x86 only).
inline bool cpu_has_avx2() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const bool supported = __builtin_cpu_supports("avx2");
  return supported;
#else
  return false;
#endif
}

// True when this CPU has SSSE3 (x86 only).
inline bool cpu_has_ssse3() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const bool supported = __builtin_cpu_supports("ssse3");
  return supported;
#else
  return false;
#endif
}

}  // namespace edgerun
