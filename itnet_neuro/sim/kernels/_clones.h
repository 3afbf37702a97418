/* Shared by the compiled loops of itnet_neuro/sim/kernels (_neuron_kernel.h, _ops_kernel.h).
 *
 * GCC on x86-64 Linux builds each loop three times, for AVX-512 (x86-64-v4), AVX2 and the baseline, and picks
 * one at load time. AVX2 against the baseline: 1.2-1.3x in a hand microbenchmark on chunks of 196,608 neurons;
 * AVX-512 against AVX2 on an AMD EPYC with AVX-512: the update of 256 ticks of a 2048-neuron block 0.128
 * against 0.164 ns a neuron, with one op's output added 0.238 against 0.270 (issue 17, hand microbenchmark).
 * The arithmetic is the same IEEE single or double on every clone (no fused multiply-add: setup.py). */
#ifndef ITNET_CLONES_H
#define ITNET_CLONES_H
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 11
#define ITNET_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ITNET_CLONES __attribute__((target_clones("avx2", "default")))  /* GCC 10 knows no x86-64-v4 */
#else
#define ITNET_CLONES
#endif

#endif
