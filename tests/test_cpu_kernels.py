"""Every TensorFlow CPU kernel runs the IR's ops (issue 14 §1).

TensorFlow's default (Eigen) CPU kernel of ``DepthwiseConv2dNative`` refuses unequal strides; the
oneDNN kernel accepts them, and which one a machine gets depends on its CPU. These tests compare the
TensorFlow implementation of the ops with the numpy reference loop (:func:`itnet_neuro.sim.reference.apply_op`)
for unequal strides, once in this process (whatever kernel it got) and once in a subprocess forced onto
the Eigen kernels with ``TF_ENABLE_ONEDNN_OPTS=0``.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

ROOT = Path(__file__).resolve().parents[1]
CASES = [("depthwise", (1, 2), (1, 2)), ("depthwise", (2, 1), (2, 1)), ("depthwise", (2, 3), (3, 3)),
         ("avgpool", (1, 2), (2, 2)), ("depthwise", (2, 2), (2, 2))]


def _net(op, stride, kernel, c=3, h=7, w=9):
    rng = np.random.default_rng(1)
    pad = (0, 1, 0, 1)
    ho = (h + 1 - kernel[0]) // stride[0] + 1
    wo = (w + 1 - kernel[1]) // stride[1] + 1
    weight = rng.normal(size=(2 * c, 1, *kernel)) if op == "depthwise" else rng.uniform(0.5, 2.0, c)
    c_out = weight.shape[0] if op == "depthwise" else c
    conn = Connection("c", "x", "y", op, weight.astype(np.float32), kernel=kernel, stride=stride, padding=pad)
    post = Population("y", (c_out, ho, wo), threshold=1.0, bias=0.0, decode_scale=1.0)
    ro = Readout("r", 0, (ReadoutTerm("y", np.ones((1, c_out))),), np.zeros(1))
    return Network("t", InputSpec("x", (c, h, w)), (post,), (conn,), (ro,))


def check_case(op, stride, kernel):
    """Assert the TensorFlow op equals the numpy reference for one case."""
    from itnet_neuro.sim.kernels.tf_ops import apply_connection, to_nchw, to_nhwc
    from itnet_neuro.sim.reference import apply_op

    net = _net(op, stride, kernel)
    x = np.random.default_rng(2).normal(size=(2, *net.input.shape)).astype(np.float32)
    out = to_nchw(apply_connection(net, net.connections[0], to_nhwc(x)))
    np.testing.assert_allclose(out, apply_op(net, net.connections[0], x), rtol=1e-5, atol=1e-5)


def check_padding_in_the_op():
    """Assert the kernels' padding inside the op (one call) equals ``tf.pad`` then a valid op, bit for bit,
    for convolutions (grouped too), depthwise and average pooling, symmetric and not, strided and not."""
    import tensorflow as tf

    from itnet_neuro.sim.kernels.tf_ops import apply_connection

    rng = np.random.default_rng(3)
    x = (rng.random((5, 7, 9, 4)) < 0.3).astype(np.float32) * rng.normal(size=(5, 7, 9, 4)).astype(np.float32)
    for op, stride, pad, groups in [("conv2d", (1, 1), (1, 1, 1, 1), 1), ("conv2d", (2, 2), (0, 1, 1, 0), 1),
                                    ("conv2d", (1, 1), (1, 1, 1, 1), 2), ("depthwise", (1, 1), (1, 1, 1, 1), 1),
                                    ("depthwise", (1, 2), (0, 1, 0, 1), 1)]:
        kernel = (3, 3)
        shape = (6, 4 // groups, *kernel) if op == "conv2d" else (8, 1, *kernel)
        conn = Connection("c", "x", "y", op, rng.normal(size=shape).astype(np.float32), kernel=kernel, stride=stride,
                          padding=pad, groups=groups)
        top, bottom, left, right = pad
        unpadded = Connection("c", "x", "y", op, conn.weight, kernel=kernel, stride=stride, padding=(0, 0, 0, 0),
                              groups=groups)
        xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]).numpy()
        net, net_p = _one_op_net(conn, x.shape), _one_op_net(unpadded, xp.shape)
        got = np.asarray(apply_connection(net, conn, x))
        want = np.asarray(apply_connection(net_p, unpadded, xp))
        assert np.array_equal(got, want), (op, stride, pad, groups)


def _one_op_net(conn, nhwc):
    from itnet_neuro.ir.ops import conv_output_hw

    shape = (nhwc[3], nhwc[1], nhwc[2])
    post_shape = (conn.weight.shape[0], *conv_output_hw(nhwc[1], nhwc[2], conn.kernel, conn.stride, conn.padding))
    post = Population("y", post_shape, threshold=1.0, bias=0.0, decode_scale=1.0)
    ro = Readout("r", 0, (ReadoutTerm("y", np.ones((1, post_shape[0]))),), np.zeros(1))
    return Network("t", InputSpec("x", shape), (post,), (conn,), (ro,))


def test_padding_inside_the_op_is_bitwise_tf_pad():
    check_padding_in_the_op()


@pytest.mark.parametrize("op,stride,kernel", CASES)
def test_unequal_strides_match_reference(op, stride, kernel):
    check_case(op, stride, kernel)


def test_unequal_strides_run_on_the_eigen_kernels():
    code = ("import sys; sys.path.insert(0, 'tests'); import test_cpu_kernels as t\n"
            "for case in t.CASES: t.check_case(*case)\nt.check_padding_in_the_op()\nprint('ok')")
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
