/* The innermost loops of itnet_neuro/sim/kernels/_ops.pyx in C, for `restrict`: one output pixel of a
 * resampling or a depthwise window, every channel, so that the compiler vectorizes across channels (NHWC). */
#include "_clones.h"

/* out = (wh0·(ww0·x00 + ww1·x01) + wh1·(ww0·x10 + ww1·x11)) · gain: the width taps first, then the height
 * taps, as the separable matrices of itnet_neuro.ir.ops.resize_matrix apply them */
#define ITNET_PIXEL(NAME, T)                                                                          \
ITNET_CLONES static void NAME(const T *restrict x00, const T *restrict x01, const T *restrict x10,    \
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

/* One frame of a depthwise window op: out[i, j, :] = sum over the taps (ky, kx) inside the input of
 * w[ky, kx, :] * x[i*sh + ky - top, j*sw + kx - left, :], from 0, taps in row-major order: the additions of
 * blas_ops.depthwise (whose zero padding adds w * 0, which changes no sum). Per output pixel and block of
 * ITNET_LANES channels the sum stays in registers over all taps (one store per block, not one per tap). */
#define ITNET_LANES 16
#define ITNET_WINDOW(NAME, T)                                                                         \
ITNET_CLONES static void NAME(const T *restrict x, const T *restrict w, T *restrict out, ptrdiff_t h,  \
                                 ptrdiff_t wd, ptrdiff_t c, ptrdiff_t ho, ptrdiff_t wo, ptrdiff_t kh,   \
                                 ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t top, ptrdiff_t left) \
{                                                                                                     \
    for (ptrdiff_t i = 0; i < ho; i++) {                                                              \
        ptrdiff_t y0 = i * sh - top;                                                                  \
        ptrdiff_t ky0 = y0 < 0 ? -y0 : 0, ky1 = h - y0 < kh ? h - y0 : kh;                             \
        for (ptrdiff_t j = 0; j < wo; j++) {                                                          \
            ptrdiff_t x0 = j * sw - left;                                                             \
            ptrdiff_t kx0 = x0 < 0 ? -x0 : 0, kx1 = wd - x0 < kw ? wd - x0 : kw;                       \
            T *restrict o = out + (i * wo + j) * c;                                                   \
            ptrdiff_t q0 = 0;                                                                         \
            for (; q0 + ITNET_LANES <= c; q0 += ITNET_LANES) {                                        \
                T acc[ITNET_LANES] = {0};                                                             \
                for (ptrdiff_t ky = ky0; ky < ky1; ky++)                                              \
                    for (ptrdiff_t kx = kx0; kx < kx1; kx++) {                                        \
                        const T *restrict src = x + ((y0 + ky) * wd + x0 + kx) * c + q0;              \
                        const T *restrict wk = w + (ky * kw + kx) * c + q0;                           \
                        for (int v = 0; v < ITNET_LANES; v++)                                         \
                            acc[v] = acc[v] + wk[v] * src[v];                                         \
                    }                                                                                 \
                for (int v = 0; v < ITNET_LANES; v++)                                                 \
                    o[q0 + v] = acc[v];                                                               \
            }                                                                                         \
            for (ptrdiff_t q = q0; q < c; q++) {                                                      \
                T acc = 0;                                                                            \
                for (ptrdiff_t ky = ky0; ky < ky1; ky++)                                              \
                    for (ptrdiff_t kx = kx0; kx < kx1; kx++)                                          \
                        acc = acc + w[(ky * kw + kx) * c + q] * x[((y0 + ky) * wd + x0 + kx) * c + q];  \
                o[q] = acc;                                                                           \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
}

ITNET_WINDOW(itnet_window_f32, float)
ITNET_WINDOW(itnet_window_f64, double)

/* One spike frame cast to the kernels' float type; returns whether it holds a spike (fast._FrameCache) */
#define ITNET_CAST(NAME, T)                                                                           \
ITNET_CLONES static int NAME(const unsigned char *restrict s, T *restrict out, ptrdiff_t n)           \
{                                                                                                     \
    unsigned char any = 0;                                                                            \
    for (ptrdiff_t i = 0; i < n; i++) {                                                               \
        out[i] = (T)s[i];                                                                             \
        any |= s[i];                                                                                  \
    }                                                                                                 \
    return any != 0;                                                                                  \
}

ITNET_CAST(itnet_cast_f32, float)
ITNET_CAST(itnet_cast_f64, double)

/* running += one spike frame (0/1 bytes into uint32 counts): fast._count_on_grid */
ITNET_CLONES static void itnet_accumulate(unsigned int *restrict running, const unsigned char *restrict s,
                                          ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        running[i] += s[i];
}
