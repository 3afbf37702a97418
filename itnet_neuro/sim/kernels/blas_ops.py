"""numpy (BLAS) kernels of the ``fast`` simulator: every op's linear map in NHWC, without TensorFlow.

The same factory interface as :mod:`itnet_neuro.sim.kernels.tf_ops` — ``factory(conn, pre_shape,
post_shape, dtype)`` returning a callable from ``x`` ``(B, H_pre, W_pre, C_pre)`` to ``(B, H_post,
W_post, C_out)`` — and the same semantics (that module's docstring; the op table
:mod:`itnet_neuro.ir.ops` is the reference), written with numpy's matrix product so that a run
needs no TensorFlow: importing it costs 4–7 s on 2 cores, more than simulating the shipped model for
a few hundred ticks (issue 17). A convolution is one matrix product per kernel tap
(``(B·H_out·W_out, C_in) @ (C_in, C_out)``), summed; a depthwise convolution (and average pooling) one
multiply-add per tap; resampling two small matrix products. Where ``pip install`` built
:mod:`itnet_neuro.sim.kernels._ops`, resampling (two taps per axis and output pixel) and the depthwise windows
of :data:`WINDOW_LANES` channels or more run its compiled loops instead.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.sim.kernels import KernelRegistry
from itnet_neuro.sim.kernels.buffers import aligned_empty

#: The ``fast`` simulator's numpy kernels, by op (:func:`itnet_neuro.sim.fast.run`, ``kernels="numpy"``).
BLAS = KernelRegistry("fast (numpy kernels)")


def prepare(net, conn, dtype=np.float32):
    """The kernel of ``conn`` of ``net``, prepared for repeated application in ``dtype`` (NHWC)."""
    return BLAS(conn.op)(conn, tuple(net.shape_of(conn.pre)), tuple(net.shape_of(conn.post)), np.dtype(dtype))


def _pad(conn, x: np.ndarray) -> np.ndarray:
    top, bottom, left, right = conn.padding
    if not any(conn.padding):
        return x
    return np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)])


def _taps(conn, out_hw):
    """``(ky, kx, slice_h, slice_w)`` per tap: the padded input pixels that tap reads for every output."""
    (kh, kw), (sh, sw) = conn.kernel, conn.stride
    ho, wo = out_hw
    return [(ky, kx, slice(ky, ky + sh * (ho - 1) + 1, sh), slice(kx, kx + sw * (wo - 1) + 1, sw))
            for ky in range(kh) for kx in range(kw)]


@BLAS.register("conv2d")
def conv2d(conn, pre, post, dtype):
    g = conn.groups
    c_out, cin = conn.weight.shape[:2]
    per = c_out // g
    # rows (ky, kx, c_in of the group), columns the group's outputs: the im2col layout of _patches
    mats = [np.ascontiguousarray(np.transpose(conn.weight[k * per:(k + 1) * per], (2, 3, 1, 0)).reshape(-1, per),
                                 dtype) for k in range(g)]
    taps, out_hw = _taps(conn, post[1:]), tuple(post[1:])

    def apply(x):
        xp = _pad(conn, np.asarray(x, dtype))
        n = xp.shape[0] * out_hw[0] * out_hw[1]
        outs = []
        for k in range(g):
            part = xp if g == 1 else xp[..., k * cin:(k + 1) * cin]
            outs.append(_patches(part, taps, n) @ mats[k])
        out = outs[0] if g == 1 else np.concatenate(outs, axis=-1)
        return out.reshape((xp.shape[0],) + out_hw + (c_out,))

    return apply


def _patches(xp: np.ndarray, taps, n: int) -> np.ndarray:
    """``(n, taps · C)``: every output pixel's receptive field, tap-major (im2col); no copy for a 1×1 tap."""
    if len(taps) == 1 and taps[0][2] == slice(0, None, 1) and taps[0][3] == slice(0, None, 1):
        return xp.reshape(n, -1)
    c = xp.shape[3]
    cols = np.empty((n, len(taps) * c), xp.dtype)
    for i, (_, _, hs, ws) in enumerate(taps):
        cols[:, i * c:(i + 1) * c].reshape(xp.shape[0], -1, c)[...] = xp[:, hs, ws].reshape(xp.shape[0], -1, c)
    return cols


@BLAS.register("depthwise")
def depthwise(conn, pre, post, dtype):
    c_in = pre[0]
    m = conn.weight.shape[0] // c_in
    w = np.transpose(conn.weight[:, 0], (1, 2, 0)).astype(dtype)  # kH, kW, C·m
    taps, out_hw = _taps(conn, post[1:]), tuple(post[1:])
    if compiled_window_fits(conn, pre, dtype):
        return _compiled_window(compiled_ops(), conn, np.ascontiguousarray(w), m, out_hw)

    def apply(x):
        xp = _pad(conn, np.asarray(x, dtype))
        if m > 1:
            xp = np.repeat(xp, m, axis=3)  # output channel c·m + j reads input channel c
        out = np.zeros((xp.shape[0],) + out_hw + (c_in * m,), dtype)
        tmp = np.empty_like(out)
        for ky, kx, hs, ws in taps:
            np.multiply(xp[:, hs, ws], w[ky, kx], out=tmp)
            out += tmp
        return out

    return apply


#: The compiled depthwise window keeps this many channels of an output pixel in registers; with fewer
#: channels it runs a scalar loop, slower than TensorFlow's kernel and numpy's (256 frames of 48×64×8:
#: 32 ms against 4 ms for TensorFlow's) — with 48 channels it is the faster (128 frames of 12×16: 0.70 ms
#: against 0.99, of 3×4: 0.03 against 0.39; issue 17, hand measurements).
WINDOW_LANES = 16


def compiled_dtype(dtype) -> bool:
    """Whether the compiled ops (:func:`compiled_ops`) take ``dtype``: float32 or float64."""
    return np.dtype(dtype) in (np.float32, np.float64)


def compiled_window_fits(conn, pre, dtype) -> bool:
    """Whether the compiled window loop (:func:`_compiled_window`) runs ``conn`` (depthwise or avgpool): built,
    a float dtype, at least :data:`WINDOW_LANES` output channels."""
    c_out = conn.weight.shape[0] if conn.op == "depthwise" else pre[0]
    return compiled_ops() is not None and compiled_dtype(dtype) and c_out >= WINDOW_LANES


def _compiled_window(compiled, conn, w: np.ndarray, m: int, out_hw):
    """A depthwise window op (``w`` ``(kH, kW, C·m)``) by the compiled loop of
    :func:`itnet_neuro.sim.kernels._ops.window`: the taps inside the input, in numpy's order (the same sums)."""
    (sh, sw), (top, _, left, _) = conn.stride, conn.padding

    def apply(x):
        x = np.ascontiguousarray(x, w.dtype)
        if m > 1:
            x = np.repeat(x, m, axis=3)  # output channel c·m + j reads input channel c
        out = aligned_empty((x.shape[0],) + out_hw + (x.shape[3],), w.dtype)
        compiled.window(x, w, sh, sw, top, left, out)
        return out

    return apply


@BLAS.register("dense")
def dense(conn, pre, post, dtype):
    matrix = np.ascontiguousarray(conn.weight.T, dtype)  # N_in (CHW order) × N_out

    def apply(x):
        flat = np.transpose(np.asarray(x, dtype), (0, 3, 1, 2)).reshape(x.shape[0], -1)
        return (flat @ matrix).reshape(x.shape[0], 1, 1, -1)

    return apply


@BLAS.register("avgpool")
def avgpool(conn, pre, post, dtype):
    taps, out_hw = _taps(conn, post[1:]), tuple(post[1:])
    ones = _pad(conn, np.ones((1, pre[1], pre[2], 1)))
    count = sum(ones[:, hs, ws] for _, _, hs, ws in taps)
    scale = (conn.weight.reshape(1, 1, 1, -1) / np.maximum(count, 1.0)).astype(dtype)
    if compiled_window_fits(conn, pre, dtype):
        window = _compiled_window(compiled_ops(), conn, np.ones(tuple(conn.kernel) + (pre[0],), dtype), 1,
                                  tuple(post[1:]))

        def pooled(x):
            out = window(x)
            out *= scale
            return out

        return pooled

    def apply(x):
        xp = _pad(conn, np.asarray(x, dtype))
        out = np.zeros((xp.shape[0],) + out_hw + (xp.shape[3],), dtype)
        for _, _, hs, ws in taps:
            out += xp[:, hs, ws]
        out *= scale
        return out

    return apply


@BLAS.register("resize")
def resize(conn, pre, post, dtype):
    from itnet_neuro.ir.ops import resize_matrix

    gain = conn.weight.reshape(1, 1, 1, -1).astype(dtype)
    if tuple(pre[1:]) == tuple(post[1:]):
        return lambda x: np.asarray(x, dtype) * gain
    ah = resize_matrix(pre[1], post[1], conn.mode).astype(dtype)  # H_out × H_in
    aw = resize_matrix(pre[2], post[2], conn.mode).astype(dtype)  # W_out × W_in
    compiled = compiled_ops()
    if compiled is not None and compiled_dtype(dtype):
        return _two_taps(compiled, ah, aw, gain.reshape(-1))

    def apply(x):
        x = np.asarray(x, dtype)
        y = np.matmul(aw, x)  # (B, H_in, W_out, C): W resampled, one (W_out × W_in) product per row
        y = np.matmul(ah, y.reshape(y.shape[0], y.shape[1], -1))  # (B, H_out, W_out·C)
        return y.reshape(x.shape[0], post[1], post[2], x.shape[3]) * gain

    return apply


def compiled_ops():
    """:mod:`itnet_neuro.sim.kernels._ops` where ``pip install`` built it, else None."""
    try:
        from itnet_neuro.sim.kernels import _ops
    except ImportError:
        return None
    return _ops


def taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two input indices and weights per output of a resampling ``matrix`` ``(n_out, n_in)`` with at most
    two nonzeros per row (bilinear or nearest, no antialiasing); a row with one tap repeats it, weight 0."""
    idx = np.zeros((matrix.shape[0], 2), np.int64)
    w = np.zeros((matrix.shape[0], 2), matrix.dtype)
    for o, row in enumerate(matrix):
        nz = np.flatnonzero(row)
        if not 1 <= nz.size <= 2:
            raise ValueError(f"resampling row {o} has {nz.size} taps; the compiled resampling takes 1 or 2")
        idx[o, :nz.size], w[o, :nz.size] = nz, row[nz]
        idx[o, nz.size:] = nz[0]
    return idx, w


def _two_taps(compiled, ah: np.ndarray, aw: np.ndarray, gain: np.ndarray):
    """Resampling by the compiled loop: each output pixel's two width taps, then its two height taps. numpy's
    separable products took 2.1–8.2 ms for 256 frames of 6×8×16 → 12×16 on 2 cores, mostly the overhead of
    thousands of tiny products; this loop 0.48 ms (issue 17, hand measurements)."""
    (rows, row_w), (cols, col_w) = taps(ah), taps(aw)
    out_hw = (ah.shape[0], aw.shape[0])

    def apply(x):
        x = np.ascontiguousarray(x, gain.dtype)
        out = aligned_empty((x.shape[0],) + out_hw + (x.shape[3],), gain.dtype)
        compiled.resample(x, rows, row_w, cols, col_w, gain, out)
        return out

    return apply


@BLAS.register("identity")
def identity(conn, pre, post, dtype):
    gain = conn.weight.reshape(1, 1, 1, -1).astype(dtype)
    return lambda x: np.asarray(x, dtype) * gain


@BLAS.register("sparse")
def sparse(conn, pre, post, dtype):
    """``y = M x`` with the ``(post, pre)`` CSR matrix (duplicated pairs summed), renumbered to NHWC."""
    from itnet_neuro.ir.ops import connection_matrix
    from itnet_neuro.sim.kernels.tf_ops import _nhwc_index

    m = connection_matrix(conn, pre, post).tocoo()
    import scipy.sparse as sp

    mt = sp.csr_matrix((m.data.astype(dtype), (_nhwc_index(m.col, pre), _nhwc_index(m.row, post))),
                       shape=(m.shape[1], m.shape[0]))  # pre × post: frames @ M^T
    hwc = (post[1], post[2], post[0])

    def apply(x):
        flat = np.asarray(x, dtype).reshape(x.shape[0], -1)
        return np.asarray(flat @ mt).reshape((-1,) + hwc)

    return apply
