/* The innermost loops of itnet_neuro/sim/kernels/_neuron.pyx, written in C for `restrict` and so that
 * the compiler vectorizes them (the spike is a select, not a branch: a branch on one neuron in ten
 * firing is mispredicted often enough to cost more than the arithmetic). See _neuron.pyx for the
 * arithmetic they must keep: numpy's operations, in numpy's order and precision. */
#include "_clones.h"

/* Returns the spikes' number (fast._emitted's total): an integer sum in the same loop costs next to nothing,
 * where a second pass over the spike bytes cost 2.8 % of a run at 8 images (perf). m < 2^32. */
#define ITNET_PLAIN(NAME, T)                                                                          \
ITNET_CLONES static ptrdiff_t NAME(const T *restrict r, const T *restrict bias, T *restrict v,             \
                                   const T *restrict th,                                              \
                                   unsigned char *restrict s, ptrdiff_t m, T sign)                   \
{                                                                                                     \
    unsigned int total = 0;                                                                           \
    for (ptrdiff_t i = 0; i < m; i++) {                                                               \
        T x = v[i] + (bias[i] + sign * r[i]);                                                         \
        T fired = (T)(x >= th[i]);                                                                    \
        v[i] = x - th[i] * fired;  /* numpy's v -= theta * s: x - 0 is x exactly */                   \
        s[i] = (unsigned char)fired;                                                                  \
        total += (x >= th[i]);                                                                        \
    }                                                                                                 \
    return total;                                                                                     \
}

ITNET_PLAIN(itnet_plain_f32, float)
ITNET_PLAIN(itnet_plain_f64, double)

/* acc = r + e and acc = r + e * g, g per neuron: one op's output added to the sum of the others as the update
 * reads them (fast.py's _Sum), one rounding per operation, as numpy's `raw += y` and `raw += x * gain` */
#define ITNET_ADD(NAME, NAME_G, NAME_S, T)                                                            \
ITNET_CLONES static void NAME(T *restrict acc, const T *restrict r, const T *restrict e, ptrdiff_t m)  \
{                                                                                                     \
    for (ptrdiff_t i = 0; i < m; i++)                                                                 \
        acc[i] = r[i] + e[i];                                                                         \
}                                                                                                     \
ITNET_CLONES static void NAME_G(T *restrict acc, const T *restrict r, const T *restrict e,              \
                                const T *restrict g, ptrdiff_t m)                                     \
{                                                                                                     \
    for (ptrdiff_t i = 0; i < m; i++)                                                                 \
        acc[i] = r[i] + e[i] * g[i];                                                                  \
}                                                                                                     \
ITNET_CLONES static void NAME_S(T *restrict acc, const T *restrict e, const T *restrict g, ptrdiff_t m) \
{                                                                                                     \
    for (ptrdiff_t i = 0; i < m; i++)                                                                 \
        acc[i] = e[i] * g[i];                                                                         \
}

ITNET_ADD(itnet_add_f32, itnet_add_gain_f32, itnet_scale_f32, float)
ITNET_ADD(itnet_add_f64, itnet_add_gain_f64, itnet_scale_f64, double)
