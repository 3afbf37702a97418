"""Every IR op against the Keras layer it stands for (the reference)."""

import numpy as np
import pytest

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm, same_padding
from itnet_neuro.sim.kernels.tf_ops import apply_connection
from itnet_neuro.utils import import_tf

tf = import_tf()
RNG = np.random.default_rng(0)


def _net(conn, pre_shape, post_shape):
    inp = InputSpec("x", pre_shape)
    post = Population("y", post_shape, threshold=1.0, bias=0.0, decode_scale=1.0)
    ro = Readout("r", 0, (ReadoutTerm("y", np.ones((1, post_shape[0]))),), np.zeros(1))
    return Network("t", inp, (post,), (conn,), (ro,))


def _check(keras_layer, conn, x_nhwc):
    ref = keras_layer(x_nhwc).numpy()
    pre = (x_nhwc.shape[3], x_nhwc.shape[1], x_nhwc.shape[2])
    post = (ref.shape[3], ref.shape[1], ref.shape[2])
    out = apply_connection(_net(conn, pre, post), conn, x_nhwc).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h,w,k,s,groups", [(7, 9, 3, 2, 1), (8, 8, 3, 1, 1), (6, 5, 1, 1, 1), (7, 7, 3, 2, 2)])
def test_conv2d_same_padding_matches_keras(h, w, k, s, groups):
    x = RNG.normal(size=(2, h, w, 4)).astype(np.float32)
    layer = tf.keras.layers.Conv2D(6, k, strides=s, padding="same", use_bias=False, groups=groups)
    layer.build(x.shape)
    if groups > 1:  # Keras' CPU kernel has no grouped conv; compare group by group
        kernel = layer.kernel.numpy()
        ref = np.concatenate([tf.nn.conv2d(np.pad(x[..., 2 * g:2 * g + 2], [(0, 0)] + [same_padding(h, k, s)]
                                                  + [same_padding(w, k, s)] + [(0, 0)]),
                                           kernel[..., 3 * g:3 * g + 3], s, "VALID").numpy() for g in range(2)], -1)
        conn = Connection("c", "x", "y", "conv2d", np.transpose(kernel, (3, 2, 0, 1)), stride=(s, s),
                          padding=same_padding(h, k, s) + same_padding(w, k, s), groups=2)
        out = apply_connection(_net(conn, (4, h, w), (6, *ref.shape[1:3])), conn, x).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        return
    conn = Connection("c", "x", "y", "conv2d", np.transpose(layer.kernel.numpy(), (3, 2, 0, 1)), stride=(s, s),
                      padding=same_padding(h, k, s) + same_padding(w, k, s))
    _check(layer, conn, x)


@pytest.mark.parametrize("mult", [1, 2])
def test_depthwise_matches_keras(mult):
    x = RNG.normal(size=(2, 7, 6, 3)).astype(np.float32)
    layer = tf.keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=mult, use_bias=False)
    layer.build(x.shape)
    k = layer.depthwise_kernel.numpy()  # kH, kW, C, m
    weight = np.transpose(k, (2, 3, 0, 1)).reshape(3 * mult, 1, 3, 3)
    conn = Connection("c", "x", "y", "depthwise", weight, padding=same_padding(7, 3, 1) + same_padding(6, 3, 1))
    _check(layer, conn, x)


def test_avgpool_same_excludes_padding_like_keras():
    x = RNG.normal(size=(1, 5, 7, 3)).astype(np.float32)
    layer = tf.keras.layers.AveragePooling2D(2, padding="same")
    conn = Connection("c", "x", "y", "avgpool", np.ones(3), kernel=(2, 2), stride=(2, 2),
                      padding=same_padding(5, 2, 2) + same_padding(7, 2, 2))
    _check(layer, conn, x)


@pytest.mark.parametrize("mode,layer", [
    ("bilinear", lambda: tf.keras.layers.UpSampling2D(2, interpolation="bilinear")),
    ("nearest", lambda: tf.keras.layers.UpSampling2D(2, interpolation="nearest")),
    ("bilinear", lambda: tf.keras.layers.Resizing(3, 4, interpolation="bilinear")),
])
def test_resize_matches_keras(mode, layer):
    x = RNG.normal(size=(1, 5, 7, 2)).astype(np.float32)
    conn = Connection("c", "x", "y", "resize", np.ones(2), mode=mode)
    _check(layer(), conn, x)


def test_dense_flattens_channels_first():
    x = RNG.normal(size=(3, 2, 2, 3)).astype(np.float32)
    w = RNG.normal(size=(5, 12)).astype(np.float32)
    conn = Connection("c", "x", "y", "dense", w)
    out = apply_connection(_net(conn, (3, 2, 2), (5, 1, 1)), conn, x).numpy()
    ref = np.transpose(x, (0, 3, 1, 2)).reshape(3, -1) @ w.T
    np.testing.assert_allclose(out.reshape(3, 5), ref, rtol=1e-5, atol=1e-5)
