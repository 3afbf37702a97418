# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled ops on spike frames (issue 17; used by :mod:`itnet_neuro.sim.kernels.blas_ops` and
:mod:`itnet_neuro.sim.fast`, NHWC, without the GIL): resampling and depthwise windows (depthwise convolution,
average pooling), the ops whose library kernels spend most of their time on overhead at the sizes of an
ItNet, the cast of spike frames to float with a note of which hold a spike (``cast_frames``), and the
readout counts' sum of a chunk's spikes (``accumulate``).

Resampling (``resize``): each output pixel of a bilinear resampling (half-pixel centres, no antialiasing: ``tf.image.resize``)
reads at most two input rows and two input columns, so the separable matrices of
:func:`itnet_neuro.ir.ops.resize_matrix` are mostly zeros; numpy applied them as thousands of small
matrix products per chunk. Here every output pixel is its two width taps, then its two height taps,
then the channel's gain, vectorized across channels.

Depthwise windows (``window``): TensorFlow's depthwise convolution ran at 1–8 GMAC/s on 128 frames of 3×4 to
12×16 pixels and 48 channels (0.6–1.3 ms a call, issue 17, hand measurement), mostly per-call set-up; here each
output pixel sums its taps inside the input, vectorized across channels, in the order of
:func:`itnet_neuro.sim.kernels.blas_ops.depthwise` (bit for bit the same).
"""

from cython cimport floating

cdef extern from "_ops_kernel.h" nogil:
    int itnet_cast_f32(const unsigned char* s, float* out, Py_ssize_t n)
    int itnet_cast_f64(const unsigned char* s, double* out, Py_ssize_t n)
    void itnet_accumulate(unsigned int* running, const unsigned char* s, Py_ssize_t n)
    void itnet_pixel_f32(const float* x00, const float* x01, const float* x10, const float* x11, float ww0,
                         float ww1, float wh0, float wh1, const float* gain, float* out, Py_ssize_t c)
    void itnet_pixel_f64(const double* x00, const double* x01, const double* x10, const double* x11, double ww0,
                         double ww1, double wh0, double wh1, const double* gain, double* out, Py_ssize_t c)
    void itnet_window_f32(const float* x, const float* w, float* out, Py_ssize_t h, Py_ssize_t wd, Py_ssize_t c,
                          Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t top, Py_ssize_t left)
    void itnet_window_f64(const double* x, const double* w, double* out, Py_ssize_t h, Py_ssize_t wd, Py_ssize_t c,
                          Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t top, Py_ssize_t left)


cdef inline void _pixel(const floating* x00, const floating* x01, const floating* x10, const floating* x11,
                        floating ww0, floating ww1, floating wh0, floating wh1, const floating* gain,
                        floating* out, Py_ssize_t c) noexcept nogil:
    if floating is float:
        itnet_pixel_f32(x00, x01, x10, x11, ww0, ww1, wh0, wh1, gain, out, c)
    else:
        itnet_pixel_f64(x00, x01, x10, x11, ww0, ww1, wh0, wh1, gain, out, c)


cdef bint _inside(const long long[:, ::1] taps, Py_ssize_t n) noexcept nogil:
    """Whether every tap index lies in ``0 … n-1`` (checked on every call, in C: a wrong tap would read outside
    the input)."""
    cdef Py_ssize_t i, p
    for i in range(taps.shape[0]):
        for p in range(taps.shape[1]):
            if taps[i, p] < 0 or taps[i, p] >= n:
                return False
    return True


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
    if nb and not (_inside(rows, h_in) and _inside(cols, w_in)):
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


def window(const floating[:, :, :, ::1] x, const floating[:, :, ::1] w, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t top,
           Py_ssize_t left, floating[:, :, :, ::1] out):
    """Depthwise window op: ``out[b, i, j, c] = Σ w[ky, kx, c]·x[b, i·sh + ky − top, j·sw + kx − left, c]`` over the
    taps inside ``x`` (zero padding: the others add nothing), ``x`` ``(B, H, W, C)``, ``w`` ``(kH, kW, C)``."""
    cdef Py_ssize_t nb = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3]
    cdef Py_ssize_t kh = w.shape[0], kw = w.shape[1], ho = out.shape[1], wo = out.shape[2], b
    if out.shape[0] != nb or out.shape[3] != c or w.shape[2] != c or sh < 1 or sw < 1:
        raise ValueError("window: x, w and out disagree in shape (or a stride is below 1)")
    if nb == 0 or ho == 0 or wo == 0 or c == 0:
        return
    if h == 0 or wd == 0 or kh == 0 or kw == 0:
        out[...] = 0
        return
    with nogil:
        for b in range(nb):
            if floating is float:
                itnet_window_f32(&x[b, 0, 0, 0], &w[0, 0, 0], &out[b, 0, 0, 0], h, wd, c, ho, wo, kh,
                                 kw, sh, sw, top, left)
            else:
                itnet_window_f64(&x[b, 0, 0, 0], &w[0, 0, 0], &out[b, 0, 0, 0], h, wd, c, ho, wo, kh,
                                 kw, sh, sw, top, left)


def cast_frames(list parts, floating[:, :, ::1] out, unsigned char[:, ::1] nonempty):
    """``out`` ``(B, T, N)`` = the uint8 spike frames ``parts`` (``(B, t_i, N)`` each, every frame contiguous)
    one after the other along the ticks, as floats; ``nonempty[b, k]`` = 1 where frame ``(b, k)`` holds a spike.
    One pass where numpy made two (a reduction for the empty frames, then the cast). Returns the nonempty
    frames' number."""
    cdef Py_ssize_t nb = out.shape[0], t = out.shape[1], n = out.shape[2], k0 = 0, b, k, count = 0
    cdef const unsigned char[:, :, :] part
    if nonempty.shape[0] != nb or nonempty.shape[1] != t or sum(p.shape[1] for p in parts) != t:
        raise ValueError("cast_frames: parts, out and nonempty disagree in shape")
    for p in parts:
        part = p
        if part.shape[0] != nb or part.shape[2] != n:
            raise ValueError("cast_frames: parts, out and nonempty disagree in shape")
        if n > 1 and part.strides[2] != 1:
            raise ValueError("cast_frames: each frame of a part must be contiguous")
        with nogil:
            for b in range(nb):
                for k in range(part.shape[1]):
                    if floating is float:
                        nonempty[b, k0 + k] = itnet_cast_f32(&part[b, k, 0] if n else NULL, &out[b, k0 + k, 0] if n else NULL, n)
                    else:
                        nonempty[b, k0 + k] = itnet_cast_f64(&part[b, k, 0] if n else NULL, &out[b, k0 + k, 0] if n else NULL, n)
                    count += nonempty[b, k0 + k]
        k0 += part.shape[1]
    return count


def accumulate(const unsigned char[:, :, :] spikes, unsigned int[:, ::1] running):
    """``running[b] += spikes[b, k]`` for every tick ``k`` of ``spikes`` ``(B, T, N)`` (0/1, each frame contiguous;
    a slice along T is fine): the readout counts of :func:`itnet_neuro.sim.fast._count_on_grid` in one pass, where
    numpy made one call per tick."""
    cdef Py_ssize_t nb = spikes.shape[0], t = spikes.shape[1], n = spikes.shape[2], b, k
    if running.shape[0] != nb or running.shape[1] != n:
        raise ValueError("accumulate: spikes and running disagree in shape")
    if n > 1 and spikes.strides[2] != 1:
        raise ValueError("accumulate: each frame must be contiguous")
    if n == 0:
        return
    with nogil:
        for b in range(nb):
            for k in range(t):
                itnet_accumulate(&running[b, 0], &spikes[b, k, 0], n)
