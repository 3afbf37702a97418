"""numpy kernels of the ``reference`` simulator: each op's linear map, written plainly in float64.

Independent of the TensorFlow kernels (:mod:`itnet_neuro.sim.kernels.tf_ops`) and of the op table's
synapse lists (:func:`itnet_neuro.ir.ops.connection_matrix`), so that the tests can compare the three.
A kernel maps ``x`` ``(B, C_pre, H_pre, W_pre)`` to ``(B, C_out, H_post, W_post)`` — the channels the
connection drives, from ``post_offset`` on.
"""

from __future__ import annotations

import weakref

import numpy as np

from itnet_neuro.ir.ops import connection_matrix as _matrix
from itnet_neuro.ir.ops import resize_matrix
from itnet_neuro.sim.kernels import KernelRegistry

#: The ``reference`` backend's kernels: ``kernel(conn, x, pre_shape, post_shape) -> y``.
NUMPY = KernelRegistry("reference")


def apply_op(net, conn, x: np.ndarray) -> np.ndarray:
    """The linear map of ``conn`` of ``net`` on ``x`` ``(B, C_pre, H, W)`` → ``(B, C_out, H_post, W_post)``."""
    return NUMPY(conn.op)(conn, np.asarray(x, np.float64), net.shape_of(conn.pre), net.shape_of(conn.post))


def connection_matrix(net, conn):
    """``conn`` of ``net`` as a ``scipy.sparse.csr_matrix`` ``(post neurons, pre neurons)`` (CHW order).

    See :func:`itnet_neuro.ir.ops.connection_matrix` (the op table's synapse list)."""
    return _matrix(conn, net.shape_of(conn.pre), net.shape_of(conn.post))


def _patches(xp: np.ndarray, ky: int, kx: int, stride, out_hw):
    sh, sw = stride
    return xp[:, :, ky:ky + sh * (out_hw[0] - 1) + 1:sh, kx:kx + sw * (out_hw[1] - 1) + 1:sw]


def _padded(conn, x):
    top, bottom, left, right = conn.padding
    return np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])


@NUMPY.register("conv2d")
def conv2d(conn, x, pre, post):
    w = conn.weight.astype(np.float64)
    out_hw = tuple(post[1:])
    xp = _padded(conn, x)
    g, cin_g = conn.groups, w.shape[1]
    per = w.shape[0] // g
    out = np.zeros((x.shape[0], w.shape[0]) + out_hw)
    for ky in range(conn.kernel[0]):
        for kx in range(conn.kernel[1]):
            patch = _patches(xp, ky, kx, conn.stride, out_hw)
            for k in range(g):
                out[:, k * per:(k + 1) * per] += np.einsum(
                    "oi,bihw->bohw", w[k * per:(k + 1) * per, :, ky, kx], patch[:, k * cin_g:(k + 1) * cin_g])
    return out


@NUMPY.register("depthwise")
def depthwise(conn, x, pre, post):
    w = conn.weight.astype(np.float64)
    out_hw = tuple(post[1:])
    xp = _padded(conn, x)
    b, c_in = x.shape[:2]
    m = w.shape[0] // c_in
    out = np.zeros((b, c_in, m) + out_hw)
    for ky in range(conn.kernel[0]):
        for kx in range(conn.kernel[1]):
            out += _patches(xp, ky, kx, conn.stride, out_hw)[:, :, None] * w[:, 0, ky, kx].reshape(1, c_in, m, 1, 1)
    return out.reshape(b, c_in * m, *out_hw)


@NUMPY.register("avgpool")
def avgpool(conn, x, pre, post):
    """Window mean over the elements inside the input (padding not counted), times the gain."""
    out_hw = tuple(post[1:])
    xp = _padded(conn, x)
    ones = _padded(conn, np.ones((1, 1) + x.shape[2:]))
    s = np.zeros(x.shape[:2] + out_hw)
    cnt = np.zeros((1, 1) + out_hw)
    for ky in range(conn.kernel[0]):
        for kx in range(conn.kernel[1]):
            s += _patches(xp, ky, kx, conn.stride, out_hw)
            cnt += _patches(ones, ky, kx, conn.stride, out_hw)
    return s / np.maximum(cnt, 1.0) * conn.weight.astype(np.float64).reshape(1, -1, 1, 1)


@NUMPY.register("dense")
def dense(conn, x, pre, post):
    return (x.reshape(x.shape[0], -1) @ conn.weight.astype(np.float64).T).reshape(x.shape[0], -1, 1, 1)


@NUMPY.register("resize")
def resize(conn, x, pre, post):
    out_hw = tuple(post[1:])
    if tuple(x.shape[2:]) != out_hw:
        ah = resize_matrix(x.shape[2], out_hw[0], conn.mode)
        aw = resize_matrix(x.shape[3], out_hw[1], conn.mode)
        x = np.einsum("oh,bchw,pw->bcop", ah, x, aw, optimize=True)
    return x * conn.weight.astype(np.float64).reshape(1, -1, 1, 1)


@NUMPY.register("identity")
def identity(conn, x, pre, post):
    return x * conn.weight.astype(np.float64).reshape(1, -1, 1, 1)


_CSR: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@NUMPY.register("sparse")
def sparse(conn, x, pre, post):
    """``y = M x`` with the ``(post, pre)`` matrix of the index (duplicated pairs summed), every post channel."""
    m = _CSR.get(conn)
    if m is None:
        m = _CSR[conn] = _matrix(conn, pre, post)
    return (m @ x.reshape(x.shape[0], -1).T).T.reshape((x.shape[0],) + tuple(post))
