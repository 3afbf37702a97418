"""TensorFlow kernels: every op's linear map for the ``fast`` simulator and the converter's rate check.

Tensors are **NHWC** here (what TensorFlow's CPU kernels want); the IR stores channels-first weights
and each kernel transposes them once, when it is prepared (:func:`prepare`), then is applied many
times. A kernel is registered per op as a factory ``factory(conn, pre_shape, post_shape, dtype)``
returning a callable from ``x`` ``(B, H_pre, W_pre, C_pre)`` to ``(B, H_post, W_post, C_out)`` (a
tensor or an array; callers take ``np.asarray``). Imported lazily: never by ``mapping`` or at start-up.

Semantics per op (``x`` of ``pre``; the output drives ``post`` channels ``[post_offset, post_offset + C_out)``;
the op table :mod:`itnet_neuro.ir.ops` is the reference):

* ``conv2d``: zero padding ``(top, bottom, left, right)``, then a valid cross-correlation with
  ``weight[o, i, ky, kx]`` and ``groups`` channel groups (TensorFlow/Keras ``Conv2D`` semantics).
* ``depthwise``: output channel ``o = c·m + j`` (``m`` = multiplier) sees input channel ``c``
  (Keras ``DepthwiseConv2D`` order).
* ``dense``: ``y = W @ flatten_CHW(x)``.
* ``avgpool``: mean over the window's elements that lie inside the input (padding is not counted,
  as in TensorFlow's ``AveragePooling2D(padding="same")``), times the per-channel gain.
* ``resize``: ``tf.image.resize`` to post's H×W (bilinear or nearest, half-pixel centres, no
  antialiasing — what Keras ``UpSampling2D`` and ``Resizing`` compute), times the gain; in float64
  the same resampling as separable numpy matrices (``tf.image.resize`` always returns float32).
* ``identity``: the per-channel gain.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from itnet_neuro.sim.kernels import KernelRegistry
from itnet_neuro.utils import import_tf

#: Kernels of the ``fast`` backend (and the converter's rate check), by op.
TF = KernelRegistry("fast")


@lru_cache(maxsize=None)
def _tf():
    return import_tf()


def prepare(net, conn, dtype=np.float32):
    """The kernel of ``conn`` of ``net``, prepared for repeated application in ``dtype`` (NHWC)."""
    return TF(conn.op)(conn, tuple(net.shape_of(conn.pre)), tuple(net.shape_of(conn.post)), np.dtype(dtype))


def apply_connection(net, conn, x, dtype=np.float32):
    """One-shot application of :func:`prepare` (``x`` NHWC)."""
    return prepare(net, conn, dtype)(x)


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """``(B, C, H, W)`` → ``(B, H, W, C)``."""
    return np.transpose(x, (0, 2, 3, 1))


def to_nchw(x) -> np.ndarray:
    """``(B, H, W, C)`` → ``(B, C, H, W)`` as numpy."""
    return np.transpose(np.asarray(x), (0, 3, 1, 2))


def _const(a, dtype):
    return _tf().constant(np.asarray(a, dtype))


def _padding(conn):
    """``conn``'s zero padding as the ``padding`` argument of TensorFlow's convolutions: ``"VALID"`` or the
    explicit NHWC list. Padding inside the op rather than with ``tf.pad`` first saves a copy of the input:
    a 3×3 convolution of 128 frames of 12×16×16 took 0.81 ms against 1.43 ms with ``tf.pad`` (issue 17,
    hand measurement, 2 cores); the outputs are equal bit for bit (tests/test_tf_ops.py)."""
    top, bottom, left, right = (int(q) for q in conn.padding)
    return [[0, 0], [top, bottom], [left, right], [0, 0]] if any(conn.padding) else "VALID"


def depthwise_valid(x, kernel, stride: tuple[int, int], padding="VALID"):
    """Depthwise cross-correlation of NHWC ``x`` zero-padded by ``padding`` (``"VALID"``: none; or the explicit
    list of :func:`_padding`) with ``stride = (sh, sw)`` on every CPU kernel.

    TensorFlow's default (Eigen) CPU kernel of ``DepthwiseConv2dNative`` refuses ``sh != sw``
    ("only supports equal length strides"); the oneDNN kernel that some CPUs get by default accepts
    them, so a network could pass on one machine and fail on another (issue 14). Unequal strides (the
    1×2 / 2×1 taps of :mod:`itnet_neuro.convert.maxpool`) therefore run with the equal stride
    ``g = gcd(sh, sw)`` and keep every ``(sh/g, sw/g)``-th output: the same values, since a valid
    correlation's output ``i`` at stride ``s`` is its output ``i·s`` at stride 1, at ``sh·sw/g²``
    times the arithmetic of that one connection.

    Parameters
    ----------
    x : tensor, shape (B, H, W, C)
    kernel : tensor, shape (kH, kW, C, m)
    stride : (int, int)
        ``(sh, sw)`` in input pixels.
    padding : "VALID" or list
        ``[[0, 0], [top, bottom], [left, right], [0, 0]]``.

    Returns
    -------
    tensor, shape (B, (H' - kH)//sh + 1, (W' - kW)//sw + 1, C·m), ``H'``, ``W'`` the padded size
    """
    tf = _tf()
    sh, sw = (int(s) for s in stride)
    g = math.gcd(sh, sw)
    y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, g, g, 1], padding=padding)
    if sh == sw:
        return y
    return y[:, ::sh // g, ::sw // g]


@TF.register("conv2d")
def conv2d(conn, pre, post, dtype):
    tf = _tf()
    pad, strides, g = _padding(conn), [1, *conn.stride, 1], conn.groups
    hwio = np.transpose(conn.weight, (2, 3, 1, 0))  # kH, kW, C_in/g, C_out
    per = conn.weight.shape[0] // g
    filters = [_const(hwio[..., k * per:(k + 1) * per], dtype) for k in range(g)]

    def apply(x):
        if g == 1:
            return tf.nn.conv2d(x, filters[0], strides=strides, padding=pad)
        parts = tf.split(x, g, axis=-1)
        return tf.concat([tf.nn.conv2d(p, f, strides=strides, padding=pad) for p, f in zip(parts, filters)], -1)

    return apply


@TF.register("depthwise")
def depthwise(conn, pre, post, dtype):
    w, c_in = conn.weight, pre[0]
    filt = _const(np.transpose(w[:, 0].reshape(c_in, w.shape[0] // c_in, *w.shape[2:]), (2, 3, 0, 1)), dtype)
    pad = _padding(conn)
    return lambda x: depthwise_valid(x, filt, conn.stride, pad)


@TF.register("dense")
def dense(conn, pre, post, dtype):
    tf = _tf()
    matrix = _const(np.ascontiguousarray(conn.weight.T), dtype)  # N_in × N_out

    def apply(x):
        flat = tf.reshape(tf.transpose(x, (0, 3, 1, 2)), (tf.shape(x)[0], -1))
        y = tf.matmul(flat, matrix)
        return tf.reshape(y, (-1, 1, 1, y.shape[-1]))

    return apply


@TF.register("avgpool")
def avgpool(conn, pre, post, dtype):
    tf = _tf()
    (kh, kw), strides, pad = conn.kernel, [1, *conn.stride, 1], _padding(conn)
    top, bottom, left, right = conn.padding
    ones = np.pad(np.ones((1, pre[1], pre[2], 1)), [(0, 0), (top, bottom), (left, right), (0, 0)])
    count = tf.nn.conv2d(_const(ones, dtype), _const(np.ones((kh, kw, 1, 1)), dtype), strides=strides, padding="VALID")
    scale = tf.reshape(_const(conn.weight, dtype), (1, 1, 1, -1)) / tf.maximum(count, 1.0)
    box = _const(np.ones((kh, kw, pre[0], 1)), dtype)
    return lambda x: depthwise_valid(x, box, conn.stride, pad) * scale


@TF.register("resize")
def resize(conn, pre, post, dtype):
    from itnet_neuro.ir.ops import resize_matrix

    tf = _tf()
    post_hw, same = tuple(post[1:]), tuple(pre[1:]) == tuple(post[1:])
    if dtype == np.float64:
        ah, aw = resize_matrix(pre[1], post[1], conn.mode), resize_matrix(pre[2], post[2], conn.mode)
        gain64 = conn.weight.astype(np.float64).reshape(1, 1, 1, -1)

        def apply64(x):
            x = np.asarray(x, np.float64)
            return (x if same else np.einsum("oh,bhwc,pw->bopc", ah, x, aw, optimize=True)) * gain64

        return apply64
    gain = _const(conn.weight.reshape(1, 1, 1, -1), dtype)
    method = "bilinear" if conn.mode == "bilinear" else "nearest"
    return lambda x: (x if same else tf.image.resize(x, post_hw, method=method)) * gain


@TF.register("identity")
def identity(conn, pre, post, dtype):
    gain = _const(conn.weight.reshape(1, 1, 1, -1), dtype)
    return lambda x: x * gain


def _nhwc_index(flat: np.ndarray, shape) -> np.ndarray:
    """Flat channels-first indices into ``shape`` ``(C, H, W)`` → flat NHWC indices ``(h·W + w)·C + c``."""
    hw = shape[1] * shape[2]
    return (flat % hw) * shape[0] + flat // hw


@TF.register("sparse")
def sparse(conn, pre, post, dtype):
    """``y = M x`` for every frame at once: TensorFlow's CSR sparse-matrix product
    (``SparseMatrixMatMul``) of the ``(post, pre)`` matrix — duplicated pairs summed, rows and columns
    renumbered once to NHWC order — with the frames (time and images folded into the batch) as its
    columns. Measured against the convolution it replaces in ``benchmarks/bench_sparse_kernel.py``."""
    from itnet_neuro.ir.ops import connection_matrix

    tf = _tf()
    m = connection_matrix(conn, pre, post).tocoo()
    rows, cols = _nhwc_index(m.row, post), _nhwc_index(m.col, pre)
    order = np.lexsort((cols, rows))  # CSR wants row-major order
    matrix = tf.raw_ops.SparseTensorToCSRSparseMatrix(
        indices=np.stack([rows[order], cols[order]], 1), values=m.data[order].astype(dtype),
        dense_shape=np.array(m.shape, np.int64))
    hwc = (post[1], post[2], post[0])

    def apply(x):
        x = tf.convert_to_tensor(x, dtype=tf.as_dtype(dtype))
        y = tf.raw_ops.SparseMatrixMatMul(a=matrix, b=tf.reshape(x, (tf.shape(x)[0], -1)), transpose_b=True,
                                          transpose_output=True)
        return tf.reshape(y, (-1,) + hwc)

    return apply
