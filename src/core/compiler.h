/* Compiler helpers shared by the hot loops of several modules. */
#ifndef EDGECAM_CORE_COMPILER_H
#define EDGECAM_CORE_COMPILER_H

/* An AVX2 clone of a hot function picked at load time, with a portable default clone.
 * Off under ThreadSanitizer: ifunc resolvers run before its runtime is initialised. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define EC_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EC_TARGET_CLONES
#endif

#endif
