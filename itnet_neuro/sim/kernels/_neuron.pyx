# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The IF neuron update of a whole chunk in one compiled pass (issue 17; used by :mod:`itnet_neuro.sim.fast`).

numpy runs :func:`itnet_neuro.sim.fast.fire` as four or five whole-array passes per tick (add the bias, add the
current, compare, reset), each a separate call; here a block of ``BLOCK`` neurons is updated for every
tick of the chunk while its membranes, thresholds and biases stay in the L1 cache. The arithmetic is the
numpy path's, operation for operation, in the same order and precision, so spikes and membranes are bit
for bit the same (setup.py compiles with ``-ffp-contract=off``: no fused multiply-add may merge two
roundings into one):

    raw = ((raw + y₁) + y₂) + …   (only with ``terms``: the ops' outputs the update adds as it reads, fire_chunk)
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
    Py_ssize_t itnet_plain_f32(const float* r, const float* bias, float* v, const float* th, unsigned char* s,
                               Py_ssize_t m, float sign)
    Py_ssize_t itnet_plain_f64(const double* r, const double* bias, double* v, const double* th,
                               unsigned char* s, Py_ssize_t m, double sign)
    void itnet_add_f32(float* acc, const float* r, const float* e, Py_ssize_t m)
    void itnet_add_f64(double* acc, const double* r, const double* e, Py_ssize_t m)
    void itnet_add_gain_f32(float* acc, const float* r, const float* e, const float* g, Py_ssize_t m)
    void itnet_add_gain_f64(double* acc, const double* r, const double* e, const double* g, Py_ssize_t m)
    void itnet_scale_f32(float* acc, const float* e, const float* g, Py_ssize_t m)
    void itnet_scale_f64(double* acc, const double* e, const double* g, Py_ssize_t m)

cdef enum:
    MAX_TERMS = 8  # op outputs fire_chunk adds as it reads


cdef inline void _add(floating* acc, const floating* r, const floating* e, const floating* g,
                      Py_ssize_t m) noexcept nogil:
    """acc = r + e (g NULL) or r + e·g."""
    if floating is float:
        if g == NULL:
            itnet_add_f32(acc, r, e, m)
        else:
            itnet_add_gain_f32(acc, r, e, g, m)
    else:
        if g == NULL:
            itnet_add_f64(acc, r, e, m)
        else:
            itnet_add_gain_f64(acc, r, e, g, m)


cdef inline void _scale(floating* acc, const floating* e, const floating* g, Py_ssize_t m) noexcept nogil:
    if floating is float:
        itnet_scale_f32(acc, e, g, m)
    else:
        itnet_scale_f64(acc, e, g, m)


cdef inline const floating* _summed(const floating* base, Py_ssize_t nt, const floating** ys,
                                    const long long** rows, const floating** gains, Py_ssize_t f, Py_ssize_t n,
                                    Py_ssize_t lo, Py_ssize_t m, floating* zeros, floating* buf0,
                                    floating* buf1) noexcept nogil:
    """The sum one block of frame ``f`` integrates: ``base`` (NULL: nothing yet) plus every term present on the
    frame, in numpy's order and roundings (fast._add_term): the first term with no ``rows`` and no base is taken
    as it is (numpy copies it); a frame that a term with ``rows`` skips gets nothing from it, a sum that has
    nothing yet starts from 0 (numpy's zero fill). ``buf0``/``buf1`` alternate so no loop reads what it writes."""
    cdef const floating* src = base
    cdef floating* dst
    cdef Py_ssize_t t, row
    cdef bint which = 0
    for t in range(nt):
        row = rows[t][f] if rows[t] != NULL else f
        if row < 0:
            if src == NULL:
                src = zeros
            continue
        if src == NULL:
            if rows[t] == NULL and gains[t] == NULL:
                src = ys[t] + row * n + lo
                continue
            if rows[t] == NULL:
                _scale(buf0, ys[t] + row * n + lo, gains[t] + lo, m)
                src, which = buf0, 1
                continue
            src = zeros
        dst = buf1 if which else buf0
        which = not which
        _add(dst, src, ys[t] + row * n + lo, gains[t] + lo if gains[t] != NULL else NULL, m)
        src = dst
    return zeros if src == NULL else src


cdef inline Py_ssize_t _plain(const floating* r, const floating* bias, floating* v, const floating* theta,
                              unsigned char* s, Py_ssize_t m, floating sign) noexcept nogil:
    if floating is float:
        return itnet_plain_f32(r, bias, v, theta, s, m, sign)
    else:
        return itnet_plain_f64(r, bias, v, theta, s, m, sign)


cdef inline Py_ssize_t _general(const floating* r, const floating* bias, floating* v, const floating* theta,
                                unsigned char* s, Py_ssize_t m, floating sign, bint leak, floating keep,
                                bint reset_zero, bint has_min, floating v_min, bint has_max,
                                floating v_max) noexcept nogil:
    """Every neuron option of itnet_neuro.ir.graph (leak, bounds, reset to zero); returns the spikes' number."""
    cdef Py_ssize_t i, total = 0
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
        total += s[i]
    return total


def fire_chunk(const floating[:, :, ::1] raw, const floating[::1] bias, bint negate, floating[:, ::1] v,
               const floating[::1] theta, unsigned char[:, :, ::1] spikes, double keep, bint leak,
               bint reset_zero, bint has_min, double v_min, bint has_max, double v_max,
               list terms=None, bint has_base=True):
    """Spikes of one chunk into ``spikes`` ``(B, Tc, N)`` (0/1) from the ops' sum ``raw`` ``(B, Tc, N)`` (``negate``:
    minus it); ``v`` ``(B, N)`` is updated in place; ``keep`` = 1 - leak.

    ``terms``: more ops' outputs ``(y, rows, gain)``, added to ``raw`` in order as it is read (numpy's
    ``raw += y`` without its pass over memory): ``y`` ``(R, N)``, its row ``rows[b·Tc + k]`` on frame ``(b, k)``,
    -1 where the op skipped the frame (``rows`` None: row ``b·Tc + k``), times ``gain`` ``(N,)`` if not None
    (an identity op: numpy's ``x * gain`` rounded before the addition). ``has_base`` False: ``raw``'s values are
    not read (only its shape), the terms are the whole sum. Returns the number of spikes."""
    cdef Py_ssize_t nb = raw.shape[0], tc = raw.shape[1], n = raw.shape[2]
    cdef Py_ssize_t b, k, lo, m, nt = 0, fired = 0
    cdef floating sign = -1 if negate else 1
    cdef bint plain = not (leak or reset_zero or has_min or has_max)
    cdef floating zeros[BLOCK]
    cdef floating buf0[BLOCK]
    cdef floating buf1[BLOCK]
    cdef const floating* ys[MAX_TERMS]
    cdef const long long* rows[MAX_TERMS]
    cdef const floating* gains[MAX_TERMS]
    cdef const floating* r
    cdef const floating[:, ::1] yv
    cdef const long long[::1] rv
    cdef const floating[::1] gv
    if v.shape[0] != nb or v.shape[1] != n or spikes.shape[0] != nb or spikes.shape[1] != tc \
            or spikes.shape[2] != n or bias.shape[0] != n or theta.shape[0] != n:
        raise ValueError("fire_chunk: raw, v, spikes, bias and theta disagree in shape")
    views = _term_views(terms or [], raw, n, nb * tc)  # kept alive for the pointers below
    nt = len(views)
    for k in range(nt):
        yv = views[k][0]
        ys[k], rows[k], gains[k] = &yv[0, 0] if yv.shape[0] else NULL, NULL, NULL
        if views[k][1] is not None:
            rv = views[k][1]
            rows[k] = &rv[0] if rv.shape[0] else NULL
        if views[k][2] is not None:
            gv = views[k][2]
            gains[k] = &gv[0]
    if n == 0 or tc == 0:
        return 0
    for k in range(BLOCK):
        zeros[k] = 0
    with nogil:
        for b in range(nb):
            lo = 0
            while lo < n:
                m = min(<Py_ssize_t>BLOCK, n - lo)
                for k in range(tc):
                    r = _summed(&raw[b, k, lo] if has_base else NULL, nt, ys, rows, gains, b * tc + k, n, lo, m,
                                zeros, buf0, buf1)
                    if plain:
                        fired += _plain(r, &bias[lo], &v[b, lo], &theta[lo], &spikes[b, k, lo], m, sign)
                    else:
                        fired += _general(r, &bias[lo], &v[b, lo], &theta[lo], &spikes[b, k, lo], m, sign,
                                          leak, <floating>keep, reset_zero, has_min, <floating>v_min, has_max,
                                          <floating>v_max)
                lo += m
    return fired


def _term_views(list terms, like, Py_ssize_t n, Py_ssize_t frames):
    """Check ``fire_chunk``'s terms; ``(y, rows, gain)`` as contiguous arrays of ``like``'s float type."""
    import numpy as np

    if len(terms) > MAX_TERMS:
        raise ValueError(f"fire_chunk: at most {MAX_TERMS} terms")
    dtype, out = np.asarray(like).dtype, []
    for y, rows, gain in terms:
        y = np.asarray(y)
        if y.dtype != dtype or y.ndim != 2 or y.shape[1] != n or not y.flags.c_contiguous:
            raise ValueError("fire_chunk: a term must be a C-contiguous (rows, N) array of raw's dtype")
        if rows is None:
            if y.shape[0] != frames:
                raise ValueError("fire_chunk: without rows, a term needs one row per frame")
        else:
            rows = np.ascontiguousarray(rows, np.int64)
            if rows.shape != (frames,) or (frames and (rows.max() >= y.shape[0] or rows.min() < -1)):
                raise ValueError("fire_chunk: rows must name a row of its term (or -1) for every frame")
        if gain is not None:
            gain = np.ascontiguousarray(gain, dtype)
            if gain.shape != (n,):
                raise ValueError("fire_chunk: a term's gain needs one value per neuron")
        out.append((y, rows, gain))
    return out


cdef inline bint _difference_row(const unsigned char* q, const unsigned char* m, const floating* r,
                                 floating* out, Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t i, j, p
    cdef unsigned char any = 0
    for p in range(n // c):
        i = p * c
        for j in range(c):
            out[i + j] = <floating>q[i + j] - <floating>m[i + j] * r[j]
            any |= q[i + j] | m[i + j]
    return any != 0


def pair_difference(const unsigned char[:, :, :] plus, const unsigned char[:, :, :] minus, const floating[::1] r,
                    floating[:, :, :] out, unsigned char[:, :] nonempty=None):
    """``out = plus - minus * r`` (``r`` per channel, the last of the ``N = H·W·C`` values of a frame): a signed
    pair's spike frames ``(B, T, N)`` as one op reads them (:func:`itnet_neuro.sim.fast._pair_inputs`), in one
    pass. numpy's arithmetic: the spike as a float times ``r``, rounded, subtracted from the other spike.
    The frames may be slices along B and T (a delay tail, a chunk's first ticks); each frame is contiguous.
    ``nonempty`` ``(B, T)``, if given: 1 where either half spiked in the frame. Returns those frames' number."""
    cdef Py_ssize_t nb = plus.shape[0], t = plus.shape[1], n = plus.shape[2], c = r.shape[0]
    cdef Py_ssize_t b, k, count = 0
    cdef bint flags = nonempty is not None
    cdef bint hit
    if minus.shape[0] != nb or minus.shape[1] != t or minus.shape[2] != n or out.shape[0] != nb \
            or out.shape[1] != t or out.shape[2] != n or c == 0 or n % c \
            or (flags and (nonempty.shape[0] != nb or nonempty.shape[1] != t)):
        raise ValueError("pair_difference: plus, minus, out, nonempty and r disagree in shape")
    if n > 1 and (plus.strides[2] != 1 or minus.strides[2] != 1 or out.strides[2] != sizeof(floating)):
        raise ValueError("pair_difference: each frame must be contiguous")
    if n == 0:
        return 0
    with nogil:
        for b in range(nb):
            for k in range(t):
                hit = _difference_row(&plus[b, k, 0], &minus[b, k, 0], &r[0], &out[b, k, 0], n, c)
                count += hit
                if flags:
                    nonempty[b, k] = hit
    return count
