/* Shared by the compiled loops of itnet_neuro/sim/kernels (_neuron_kernel.h, _ops_kernel.h).
 *
 * GCC on x86-64 Linux builds each loop twice, for AVX2 and for the baseline, and picks one at load time
 * (1.2-1.3x in a hand microbenchmark on chunks of 196,608 neurons); the arithmetic is the same IEEE single or
 * double either way. */
#ifndef ITNET_CLONES_H
#define ITNET_CLONES_H
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ITNET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ITNET_CLONES
#endif

#endif
