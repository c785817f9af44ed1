// Run-time CPU checks for the kernels compiled with target attributes (checked once per process).
#pragma once

namespace edgerun {

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
