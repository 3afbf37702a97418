/* The innermost loop of itnet_neuro/sim/kernels/_resample.pyx in C, for `restrict`: one output pixel of a
 * bilinear (or nearest) resampling, every channel, so that the compiler vectorizes across channels. */
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ITNET_RS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ITNET_RS_CLONES
#endif

/* out = (wh0·(ww0·x00 + ww1·x01) + wh1·(ww0·x10 + ww1·x11)) · gain: the width taps first, then the height
 * taps, as the separable matrices of itnet_neuro.ir.ops.resize_matrix apply them */
#define ITNET_PIXEL(NAME, T)                                                                          \
ITNET_RS_CLONES static void NAME(const T *restrict x00, const T *restrict x01, const T *restrict x10,    \
                                 const T *restrict x11, T ww0, T ww1, T wh0, T wh1,                    \
                                 const T *restrict gain, T *restrict out, ptrdiff_t c)                  \
{                                                                                                     \
    for (ptrdiff_t i = 0; i < c; i++) {                                                               \
        T top = ww0 * x00[i] + ww1 * x01[i];                                                          \
        T bottom = ww0 * x10[i] + ww1 * x11[i];                                                       \
        out[i] = (wh0 * top + wh1 * bottom) * gain[i];                                                \
    }                                                                                                 \
}

ITNET_PIXEL(itnet_pixel_f32, float)
ITNET_PIXEL(itnet_pixel_f64, double)
