"""nengo transforms per op, for the ``nengo`` and ``nengo-dl`` backends.

A kernel is ``kernel(conn, pre_shape, post_shape, sparse_only) -> transform`` for a neurons→neurons
``nengo.Connection`` into the driven channels of ``post`` (:func:`transform` adds that slice):
``nengo.Convolution`` (``groups`` for grouped and depthwise convolutions, ``channels_last=False``)
where the IR's padding is TensorFlow's ``"same"`` or ``"valid"``; a matrix for dense; otherwise a
``nengo.Sparse`` transform built from the op table's synapse list
(:func:`itnet_neuro.ir.ops.connection_matrix`).
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.errors import require
from itnet_neuro.ir.graph import same_padding
from itnet_neuro.ir.ops import connection_matrix
from itnet_neuro.ir.ops import spec as op_spec
from itnet_neuro.sim.kernels import KernelRegistry

#: The ``nengo``/``nengo-dl`` backends' transforms, by op.
NENGO = KernelRegistry("nengo")


def transform(net, conn, sparse_only: bool = False):
    """``(transform, post_slice)`` of ``conn`` of ``net``: the slice of ``post``'s neurons it drives."""
    pre, post = tuple(net.shape_of(conn.pre)), tuple(net.shape_of(conn.post))
    return NENGO(conn.op)(conn, pre, post, sparse_only), _driven(conn, post)


def _driven(conn, post) -> slice:
    hw = post[1] * post[2]
    return slice(conn.post_offset * hw, (conn.post_offset + op_spec(conn.op).out_channels(conn, post)) * hw)


def _sparse(conn, pre, post):
    nengo = require("nengo", "nengo")
    m = connection_matrix(conn, pre, post)[_driven(conn, post)]
    return nengo.Sparse((m.shape[0], m.shape[1]), init=m)


def _convolution(conn, pre, post, sparse_only, groups):
    nengo = require("nengo", "nengo")
    same = same_padding(pre[1], conn.kernel[0], conn.stride[0]) + same_padding(pre[2], conn.kernel[1], conn.stride[1])
    padding = "valid" if not any(conn.padding) else ("same" if tuple(conn.padding) == same else None)
    if sparse_only or padding is None:
        return _sparse(conn, pre, post)
    kernel = np.transpose(conn.weight, (2, 3, 1, 0)).astype(np.float64)
    return nengo.Convolution(conn.out_channels, pre, kernel_size=conn.kernel, strides=conn.stride, padding=padding,
                             channels_last=False, init=kernel, groups=groups)


@NENGO.register("conv2d")
def conv2d(conn, pre, post, sparse_only):
    return _convolution(conn, pre, post, sparse_only, conn.groups)


@NENGO.register("depthwise")
def depthwise(conn, pre, post, sparse_only):
    return _convolution(conn, pre, post, sparse_only, pre[0])


@NENGO.register("dense")
def dense(conn, pre, post, sparse_only):
    return conn.weight.astype(np.float64)


@NENGO.register("avgpool", "resize", "identity", "sparse")
def sparse_matrix(conn, pre, post, sparse_only):
    return _sparse(conn, pre, post)
