# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The IF neuron update of a whole chunk in one compiled pass (issue 17; used by :mod:`itnet_neuro.sim.fast`).

numpy runs :func:`itnet_neuro.sim.fast.fire` as four or five whole-array passes per tick (add the bias, add the
current, compare, reset), each a separate call; here a block of ``BLOCK`` neurons is updated for every
tick of the chunk while its membranes, thresholds and biases stay in the L1 cache. The arithmetic is the
numpy path's, operation for operation, in the same order and precision, so spikes and membranes are bit
for bit the same (setup.py compiles with ``-ffp-contract=off``: no fused multiply-add may merge two
roundings into one):

    raw = raw + extra         (only with a fused last term: fire_chunk's ``extra``)
    c = bias + raw            (bias - raw for a mirrored half: itnet_neuro.sim.fast._mirrors)
    v = v * keep              (only with a leak)
    v = v + c
    v = min(max(v, v_min), v_max)   (only the bounds that are set)
    s = v >= theta
    v = v - theta * s  (reset="subtract")   or   v = v * (not s)  (reset="zero")
"""

from cython cimport floating

cdef enum:
    BLOCK = 2048  # neurons: membranes, thresholds and biases of a block take 24 KiB in float32

cdef extern from "_neuron_kernel.h" nogil:
    # no leak, no bounds, subtractive reset (every converted ItNet layer): the loop the compiler vectorizes
    void itnet_plain_f32(const float* r, const float* bias, float* v, const float* th, unsigned char* s,
                         Py_ssize_t m, float sign)
    void itnet_plain_f64(const double* r, const double* bias, double* v, const double* th, unsigned char* s,
                         Py_ssize_t m, double sign)
    void itnet_add_f32(float* acc, const float* r, const float* e, Py_ssize_t m)
    void itnet_add_f64(double* acc, const double* r, const double* e, Py_ssize_t m)


cdef inline void _add(floating* acc, const floating* r, const floating* e, Py_ssize_t m) noexcept nogil:
    if floating is float:
        itnet_add_f32(acc, r, e, m)
    else:
        itnet_add_f64(acc, r, e, m)


cdef inline void _plain(const floating* r, const floating* bias, floating* v, const floating* theta,
                        unsigned char* s, Py_ssize_t m, floating sign) noexcept nogil:
    if floating is float:
        itnet_plain_f32(r, bias, v, theta, s, m, sign)
    else:
        itnet_plain_f64(r, bias, v, theta, s, m, sign)


cdef inline void _general(const floating* r, const floating* bias, floating* v, const floating* theta,
                          unsigned char* s, Py_ssize_t m, floating sign, bint leak, floating keep,
                          bint reset_zero, bint has_min, floating v_min, bint has_max,
                          floating v_max) noexcept nogil:
    """Every neuron option of itnet_neuro.ir.graph (leak, bounds, reset to zero)."""
    cdef Py_ssize_t i
    cdef floating x, fired
    for i in range(m):
        x = v[i]
        if leak:
            x = x * keep
        x = x + (bias[i] + sign * r[i])
        if has_min and x < v_min:
            x = v_min
        if has_max and x > v_max:
            x = v_max
        fired = x >= theta[i]
        s[i] = <unsigned char>fired
        v[i] = x * (1 - fired) if reset_zero else x - theta[i] * fired


def fire_chunk(const floating[:, :, ::1] raw, const floating[::1] bias, bint negate, floating[:, ::1] v,
               const floating[::1] theta, unsigned char[:, :, ::1] spikes, double keep, bint leak,
               bint reset_zero, bint has_min, double v_min, bint has_max, double v_max,
               const floating[:, ::1] extra=None, const long long[::1] rows=None):
    """Spikes of one chunk into ``spikes`` ``(B, Tc, N)`` (0/1) from the ops' sum ``raw`` ``(B, Tc, N)`` (``negate``:
    minus it); ``v`` ``(B, N)`` is updated in place; ``keep`` = 1 - leak.

    ``extra`` ``(R, N)``: one more op's output, added to ``raw`` as it is read (``raw + extra``, numpy's
    ``raw += extra`` without its pass over memory); row ``rows[b·Tc + k]`` belongs to frame ``(b, k)``, -1 for
    a frame the op skipped (``rows`` None: row ``b·Tc + k``)."""
    cdef Py_ssize_t nb = raw.shape[0], tc = raw.shape[1], n = raw.shape[2]
    cdef Py_ssize_t b, k, lo, m, row
    cdef floating sign = -1 if negate else 1
    cdef bint plain = not (leak or reset_zero or has_min or has_max)
    cdef bint has_extra = extra is not None, has_rows = rows is not None
    cdef floating acc[BLOCK]
    cdef const floating* r
    if v.shape[0] != nb or v.shape[1] != n or spikes.shape[0] != nb or spikes.shape[1] != tc \
            or spikes.shape[2] != n or bias.shape[0] != n or theta.shape[0] != n:
        raise ValueError("fire_chunk: raw, v, spikes, bias and theta disagree in shape")
    if has_extra:
        _check_extra(extra.shape[0], extra.shape[1], n, nb * tc, rows if has_rows else None)
    if n == 0 or tc == 0:
        return
    with nogil:
        for b in range(nb):
            lo = 0
            while lo < n:
                m = min(<Py_ssize_t>BLOCK, n - lo)
                for k in range(tc):
                    r = &raw[b, k, lo]
                    if has_extra:
                        row = rows[b * tc + k] if has_rows else b * tc + k
                        if row >= 0:
                            _add(acc, r, &extra[row, lo], m)
                            r = acc
                    if plain:
                        _plain(r, &bias[lo], &v[b, lo], &theta[lo], &spikes[b, k, lo], m, sign)
                    else:
                        _general(r, &bias[lo], &v[b, lo], &theta[lo], &spikes[b, k, lo], m, sign,
                                 leak, <floating>keep, reset_zero, has_min, <floating>v_min, has_max,
                                 <floating>v_max)
                lo += m


def _check_extra(Py_ssize_t n_rows, Py_ssize_t width, Py_ssize_t n, Py_ssize_t frames, rows):
    if width != n:
        raise ValueError("fire_chunk: extra must have one column per neuron")
    if rows is None:
        if n_rows != frames:
            raise ValueError("fire_chunk: without rows, extra needs one row per frame")
        return
    import numpy as np

    rows = np.asarray(rows)
    if rows.shape[0] != frames or (frames and (rows.max() >= n_rows or rows.min() < -1)):
        raise ValueError("fire_chunk: rows must name a row of extra (or -1) for every frame")


cdef inline void _difference_row(const unsigned char* q, const unsigned char* m, const floating* r,
                                 floating* out, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, j, p
    for p in range(n // c):
        i = p * c
        for j in range(c):
            out[i + j] = <floating>q[i + j] - <floating>m[i + j] * r[j]


def pair_difference(const unsigned char[:, :, :] plus, const unsigned char[:, :, :] minus, const floating[::1] r,
                    floating[:, :, :] out):
    """``out = plus - minus * r`` (``r`` per channel, the last of the ``N = H·W·C`` values of a frame): a signed
    pair's spike frames ``(B, T, N)`` as one op reads them (:func:`itnet_neuro.sim.fast._pair_inputs`), in one
    pass. numpy's arithmetic: the spike as a float times ``r``, rounded, subtracted from the other spike.
    The frames may be slices along B and T (a delay tail, a chunk's first ticks); each frame is contiguous."""
    cdef Py_ssize_t nb = plus.shape[0], t = plus.shape[1], n = plus.shape[2], c = r.shape[0]
    cdef Py_ssize_t b, k
    if minus.shape[0] != nb or minus.shape[1] != t or minus.shape[2] != n or out.shape[0] != nb \
            or out.shape[1] != t or out.shape[2] != n or c == 0 or n % c:
        raise ValueError("pair_difference: plus, minus, out and r disagree in shape")
    if n > 1 and (plus.strides[2] != 1 or minus.strides[2] != 1 or out.strides[2] != sizeof(floating)):
        raise ValueError("pair_difference: each frame must be contiguous")
    if n == 0:
        return
    with nogil:
        for b in range(nb):
            for k in range(t):
                _difference_row(&plus[b, k, 0], &minus[b, k, 0], &r[0], &out[b, k, 0], n, c)
