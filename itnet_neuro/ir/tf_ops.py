"""The linear map of every IR connection, in TensorFlow: the one implementation of op semantics.

The converter's rate check, the ``fast`` simulator and the tests all apply connections through
:func:`apply_connection`, so an op means the same everywhere. Tensors are **NHWC** here (what
TensorFlow's CPU kernels want); the IR stores channels-first weights and this module transposes them
once per connection (:func:`prepare`). Imported lazily: never by ``mapping`` or at CLI start-up.

Semantics per op (input ``x`` of ``pre``, output drives ``post`` channels
``[post_offset, post_offset + C_out)``):

* ``conv2d``: zero padding ``(top, bottom, left, right)``, then a valid cross-correlation with
  ``weight[o, i, ky, kx]`` and ``groups`` channel groups (TensorFlow/Keras ``Conv2D`` semantics).
* ``depthwise``: output channel ``o = c·m + j`` (``m`` = multiplier) sees input channel ``c``
  (Keras ``DepthwiseConv2D`` order).
* ``dense``: ``y = W @ flatten_CHW(x)``.
* ``avgpool``: mean over the window's elements that lie inside the input (padding is not counted,
  as in TensorFlow's ``AveragePooling2D(padding="same")``), times the per-channel gain.
* ``resize``: ``tf.image.resize`` to post's H×W (bilinear or nearest, half-pixel centres, no
  antialiasing — what Keras ``UpSampling2D`` and ``Resizing`` compute), times the gain.
* ``identity``: the per-channel gain.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from itnet_neuro.ir.graph import Connection, Network
from itnet_neuro.utils import import_tf


@lru_cache(maxsize=None)
def _tf():
    return import_tf()


class PreparedConnection:
    """A connection with its weights laid out for TensorFlow (built once, applied many times)."""

    def __init__(self, conn: Connection, pre_shape: tuple[int, int, int], post_shape: tuple[int, int, int]):
        tf = _tf()
        self.conn = conn
        self.pre_shape = tuple(pre_shape)
        self.post_hw = tuple(post_shape[1:])
        w = conn.weight
        top, bottom, left, right = conn.padding
        self._paddings = [[0, 0], [top, bottom], [left, right], [0, 0]]
        self._pad = any(conn.padding)
        if conn.op == "conv2d":
            g = conn.groups
            hwio = np.transpose(w, (2, 3, 1, 0))  # kH, kW, C_in/g, C_out
            per = w.shape[0] // g
            self._filters = [tf.constant(hwio[..., k * per:(k + 1) * per]) for k in range(g)]
        elif conn.op == "depthwise":
            c_in = pre_shape[0]
            m = w.shape[0] // c_in
            self._filter = tf.constant(np.transpose(w[:, 0].reshape(c_in, m, *w.shape[2:]), (2, 3, 0, 1)))
        elif conn.op == "dense":
            self._matrix = tf.constant(np.ascontiguousarray(w.T))  # N_in × N_out
        elif conn.op == "avgpool":
            kh, kw = conn.kernel
            c = pre_shape[0]
            ones = np.ones((1, pre_shape[1], pre_shape[2], 1), np.float32)
            ones = np.pad(ones, [(0, 0), (top, bottom), (left, right), (0, 0)])
            box = tf.constant(np.ones((kh, kw, 1, 1), np.float32))
            count = tf.nn.conv2d(ones, box, strides=[1, *conn.stride, 1], padding="VALID")
            self._inv_count = 1.0 / tf.maximum(count, 1.0)
            self._box = tf.constant(np.ones((kh, kw, c, 1), np.float32))
            self._gain = tf.constant(w.reshape(1, 1, 1, -1))
        else:
            self._gain = tf.constant(w.reshape(1, 1, 1, -1))

    def __call__(self, x):
        """Apply to ``x`` of shape ``(B, H_pre, W_pre, C_pre)``; returns ``(B, H_post, W_post, C_out)``."""
        tf = _tf()
        conn = self.conn
        op = conn.op
        if self._pad and op in ("conv2d", "depthwise", "avgpool"):
            x = tf.pad(x, self._paddings)
        strides = [1, *conn.stride, 1]
        if op == "conv2d":
            if len(self._filters) == 1:
                return tf.nn.conv2d(x, self._filters[0], strides=strides, padding="VALID")
            parts = tf.split(x, len(self._filters), axis=-1)
            return tf.concat([tf.nn.conv2d(p, f, strides=strides, padding="VALID")
                              for p, f in zip(parts, self._filters)], axis=-1)
        if op == "depthwise":
            return depthwise_valid(x, self._filter, conn.stride)
        if op == "dense":
            flat = tf.reshape(tf.transpose(x, (0, 3, 1, 2)), (tf.shape(x)[0], -1))
            y = tf.matmul(flat, self._matrix)
            return tf.reshape(y, (-1, 1, 1, y.shape[-1]))
        if op == "avgpool":
            s = depthwise_valid(x, self._box, conn.stride)
            return s * self._inv_count * self._gain
        if op == "resize":
            if tuple(x.shape[1:3]) != self.post_hw:
                method = "bilinear" if conn.mode == "bilinear" else "nearest"
                x = tf.image.resize(x, self.post_hw, method=method)
            return x * self._gain
        return x * self._gain  # identity


def depthwise_valid(x, kernel, stride: tuple[int, int]):
    """Valid depthwise cross-correlation of NHWC ``x`` with ``stride = (sh, sw)`` on every CPU kernel.

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

    Returns
    -------
    tensor, shape (B, (H - kH)//sh + 1, (W - kW)//sw + 1, C·m)
    """
    tf = _tf()
    sh, sw = (int(s) for s in stride)
    g = math.gcd(sh, sw)
    y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, g, g, 1], padding="VALID")
    if sh == sw:
        return y
    return y[:, ::sh // g, ::sw // g]


def prepare(net: Network, conn: Connection) -> PreparedConnection:
    """Prepare ``conn`` of ``net`` for repeated application."""
    return PreparedConnection(conn, net.shape_of(conn.pre), net.shape_of(conn.post))


def apply_connection(net: Network, conn: Connection, x):
    """One-shot :class:`PreparedConnection` application (``x`` NHWC)."""
    return prepare(net, conn)(x)


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """``(B, C, H, W)`` → ``(B, H, W, C)``."""
    return np.transpose(x, (0, 2, 3, 1))


def to_nchw(x) -> np.ndarray:
    """``(B, H, W, C)`` → ``(B, C, H, W)`` as numpy."""
    return np.transpose(np.asarray(x), (0, 3, 1, 2))
