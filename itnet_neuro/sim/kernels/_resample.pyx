# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Resampling (``resize``) of spike frames in one compiled pass (issue 17; used by
:mod:`itnet_neuro.sim.kernels.blas_ops`).

Each output pixel of a bilinear resampling (half-pixel centres, no antialiasing: ``tf.image.resize``)
reads at most two input rows and two input columns, so the separable matrices of
:func:`itnet_neuro.ir.ops.resize_matrix` are mostly zeros; numpy applied them as thousands of small
matrix products per chunk. Here every output pixel is its two width taps, then its two height taps,
then the channel's gain, vectorized across channels (NHWC), without the GIL.
"""

from cython cimport floating

cdef extern from "_resample_kernel.h" nogil:
    void itnet_pixel_f32(const float* x00, const float* x01, const float* x10, const float* x11, float ww0,
                         float ww1, float wh0, float wh1, const float* gain, float* out, Py_ssize_t c)
    void itnet_pixel_f64(const double* x00, const double* x01, const double* x10, const double* x11, double ww0,
                         double ww1, double wh0, double wh1, const double* gain, double* out, Py_ssize_t c)


cdef inline void _pixel(const floating* x00, const floating* x01, const floating* x10, const floating* x11,
                        floating ww0, floating ww1, floating wh0, floating wh1, const floating* gain,
                        floating* out, Py_ssize_t c) noexcept nogil:
    if floating is float:
        itnet_pixel_f32(x00, x01, x10, x11, ww0, ww1, wh0, wh1, gain, out, c)
    else:
        itnet_pixel_f64(x00, x01, x10, x11, ww0, ww1, wh0, wh1, gain, out, c)


def resample(const floating[:, :, :, ::1] x, const long long[:, ::1] rows, const floating[:, ::1] row_w,
             const long long[:, ::1] cols, const floating[:, ::1] col_w, const floating[::1] gain,
             floating[:, :, :, ::1] out):
    """``out[b, i, j] = Σ_p Σ_q row_w[i, p]·col_w[j, q]·x[b, rows[i, p], cols[j, q]] · gain`` for the two taps
    ``p, q`` of each output row ``i`` and column ``j`` (:func:`taps`), in NHWC."""
    cdef Py_ssize_t nb = x.shape[0], h_in = x.shape[1], w_in = x.shape[2], c = x.shape[3]
    cdef Py_ssize_t h_out = out.shape[1], w_out = out.shape[2]
    cdef Py_ssize_t b, i, j, r0, r1, q0, q1
    if out.shape[0] != nb or out.shape[3] != c or gain.shape[0] != c or rows.shape[0] != h_out \
            or row_w.shape[0] != h_out or cols.shape[0] != w_out or col_w.shape[0] != w_out \
            or rows.shape[1] != 2 or cols.shape[1] != 2 or row_w.shape[1] != 2 or col_w.shape[1] != 2:
        raise ValueError("resample: x, out, taps and gain disagree in shape")
    if nb and ((h_out and (min(rows[:, 0]) < 0 or max(rows[:, 0]) >= h_in or min(rows[:, 1]) < 0
                           or max(rows[:, 1]) >= h_in))
               or (w_out and (min(cols[:, 0]) < 0 or max(cols[:, 0]) >= w_in or min(cols[:, 1]) < 0
                              or max(cols[:, 1]) >= w_in))):
        raise ValueError("resample: a tap lies outside the input")
    if c == 0:
        return
    with nogil:
        for b in range(nb):
            for i in range(h_out):
                r0, r1 = rows[i, 0], rows[i, 1]
                for j in range(w_out):
                    q0, q1 = cols[j, 0], cols[j, 1]
                    _pixel(&x[b, r0, q0, 0], &x[b, r0, q1, 0], &x[b, r1, q0, 0], &x[b, r1, q1, 0],
                           col_w[j, 0], col_w[j, 1], row_w[i, 0], row_w[i, 1], &gain[0], &out[b, i, j, 0], c)
