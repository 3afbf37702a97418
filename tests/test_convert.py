"""Conversion: generic Keras CNNs and the ItNet, checked against Keras (rate level and spiking)."""

import numpy as np
import pytest

from itnet_neuro.convert import convert_file, convert_model
from itnet_neuro.errors import UnsupportedLayerError
from itnet_neuro.ir import load_network, save_network
from itnet_neuro.utils import import_tf

tf = import_tf()
kl = tf.keras.layers
RNG = np.random.default_rng(0)


def _randomize_bn(model, rng, negative=()):
    for layer in model.layers:
        if isinstance(layer, kl.BatchNormalization):
            c = layer.gamma.shape[0]
            gamma = rng.uniform(0.5, 1.5, c)
            if layer.name in negative:
                gamma[0] = -gamma[0]
            layer.set_weights([gamma, rng.normal(0, .1, c), rng.normal(0, .1, c), rng.uniform(.5, 2, c)])


def _generic_cnn():
    tf.keras.utils.set_random_seed(0)
    x = kl.Input((16, 16, 3), name="img")
    h = kl.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    h = kl.BatchNormalization()(h)
    h = kl.ReLU()(h)
    a = kl.AveragePooling2D(2, padding="same")(x)
    h = kl.Concatenate()([h, a])
    h2 = kl.DepthwiseConv2D(3, padding="same")(h)
    h2 = kl.ReLU(max_value=6.0)(h2)
    h3 = kl.Conv2D(11, 1)(h2)
    h4 = kl.Add(name="add")([h3, h])
    h5 = kl.Conv2D(8, 3, padding="same", activation="relu")(h4)
    u = kl.UpSampling2D(2, interpolation="bilinear")(h5)
    g = kl.GlobalAveragePooling2D()(h5)
    o = kl.Softmax()(kl.Dense(5)(g))
    m = tf.keras.Model(x, [o, u])
    _randomize_bn(m, np.random.default_rng(1))
    return m


def _mobilenet_like():
    """A MobileNetV2-style classifier: inverted residuals, DepthwiseConv2D, GAP, Dense."""
    tf.keras.utils.set_random_seed(1)
    x = kl.Input((24, 24, 3))
    h = kl.ReLU(6.0)(kl.BatchNormalization()(kl.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)))
    for expand, stride in ((4, 1), (4, 2)):
        y = kl.ReLU(6.0)(kl.BatchNormalization()(kl.Conv2D(8 * expand, 1, use_bias=False)(h)))
        y = kl.ReLU(6.0)(kl.BatchNormalization()(kl.DepthwiseConv2D(3, strides=stride, padding="same",
                                                                    use_bias=False)(y)))
        y = kl.BatchNormalization()(kl.Conv2D(8, 1, use_bias=False)(y))
        h = kl.Add()([h, y]) if stride == 1 else y
    h = kl.ReLU(6.0)(kl.BatchNormalization()(kl.Conv2D(16, 1, use_bias=False)(h)))
    out = kl.Dense(10)(kl.Dropout(0.2)(kl.GlobalAveragePooling2D()(h)))
    m = tf.keras.Model(x, out)
    _randomize_bn(m, np.random.default_rng(2))
    return m


def _images(shape, n=8):
    return RNG.uniform(0, 1, (n,) + shape).astype(np.float32)


def test_generic_cnn_converts_and_verifies():
    res = convert_model(_generic_cnn(), calibration=_images((16, 16, 3)))
    net = res.network
    assert net.block is None
    assert {p.name for p in net.populations} >= {"add_pos", "add_neg"}  # the residual sum read twice
    assert net.population("add_pos").pair == "add_neg"
    ro = {r.name: r for r in net.readouts}
    assert ro["output0"].terms[0].pool == "global_avg"
    assert ro["output1"].out_size == (16, 16)
    rep = res.verify(spiking_ticks=128)
    assert rep.passed, rep.table()
    assert min(rep.spiking[128].values()) >= 0.85  # 8 images: output0 is one argmax each
    assert "signed pairs" in res.summary()


def test_mobilenet_style_classifier():
    res = convert_model(_mobilenet_like(), calibration=_images((24, 24, 3)), n_calibration=8)
    rep = res.verify()
    assert rep.passed, rep.table()
    ops = {c.op for c in res.network.connections}
    assert "depthwise" in ops
    assert res.network.readouts[0].terms[0].pool == "global_avg"


def test_max_pooling_is_exact_at_rate_level():
    x = kl.Input((9, 10, 3))
    h = kl.Conv2D(4, 3, padding="same", activation="relu")(x)
    p = kl.MaxPooling2D(2, padding="same")(h)
    q = kl.MaxPooling2D(2, padding="same")(x)
    out = kl.Conv2D(3, 1)(kl.Concatenate()([p, q]))
    res = convert_model(tf.keras.Model(x, out), calibration=_images((9, 10, 3)))
    rep = res.verify()
    pools = [l for l in rep.layers if "max_pooling" in l.source]
    assert pools and max(l.rel_error for l in pools) < 0.02, rep.table()
    assert rep.passed


def test_unsupported_activation_is_listed():
    x = kl.Input((8, 8, 3))
    m = tf.keras.Model(x, kl.Conv2D(2, 1, activation="tanh", name="c")(x))
    with pytest.raises(UnsupportedLayerError, match=r"'c' \(Conv2D\).*tanh"):
        convert_model(m, calibration=_images((8, 8, 3)))


def test_max_pool_of_signed_value_is_refused():
    x = kl.Input((8, 8, 3))
    m = tf.keras.Model(x, kl.Conv2D(2, 1)(kl.MaxPooling2D(2)(kl.Conv2D(2, 1)(x))))
    with pytest.raises(UnsupportedLayerError, match="AveragePooling2D"):
        convert_model(m, calibration=_images((8, 8, 3)))


def test_ir_file_round_trip(tmp_path):
    res = convert_model(_generic_cnn(), calibration=_images((16, 16, 3)))
    path = save_network(res.network, tmp_path / "m.snn.h5")
    back = load_network(path)
    assert [p.name for p in back.populations] == [p.name for p in res.network.populations]
    for a, b in zip(back.connections, res.network.connections):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert back.metadata["percentile"] == res.network.metadata["percentile"]


# ---------------------------------------------------------------------------------------- ItNet
itnet = pytest.importorskip("itnet_neuro.model")


def _tiny_itnet(shared=True, negative=(), pooling="avg"):
    cfg = itnet.get_preset("tiny").replace(shared=shared, pooling=pooling)
    m = itnet.build_itnet(cfg)
    _randomize_bn(m, np.random.default_rng(3), negative=negative)
    return m, cfg


def test_itnet_shared_block_keeps_weights_shared(tmp_path):
    m, cfg = _tiny_itnet()
    path = tmp_path / "tiny.h5"
    itnet.save_itnet(m, cfg, path)
    res = convert_file(path, tmp_path / "tiny.snn.h5", n_calibration=2)
    net = res.network
    assert net.block is not None and net.block.iterations == cfg.iterations
    for name in net.block.populations:
        assert net.population(name).rows == cfg.iterations
    assert set(net.block.state) == {f"it_bn_s{l}_{s}" for l in (1, 2, 3) for s in ("pos", "neg")}
    # the expand conv of scale 1 exists once (from the state pair, fed back) plus once from the data block
    expand_in = [c for c in net.connections if c.post == "it_brb1_s1_expand_act"]
    assert all(c.iterations in (None, (1,), tuple(range(2, cfg.iterations + 1))) for c in expand_in)
    assert [r.iteration for r in net.readouts] == list(range(1, cfg.iterations + 1))
    rep = res.verify()
    assert rep.passed, rep.table()
    assert load_network(tmp_path / "tiny.snn.h5").block == net.block
    assert "per-iteration tables" in res.summary()


def test_itnet_independent_is_unrolled():
    m, cfg = _tiny_itnet(shared=False)
    res = convert_model(m, itnet_config=cfg, n_calibration=4)
    assert res.network.block is None
    assert res.verify().passed


def test_itnet_bn_sign_change_is_reported_and_exact():
    m, cfg = _tiny_itnet(negative=("it_bn_s1_n2",))
    res = convert_model(m, itnet_config=cfg, n_calibration=4)
    changes = res.report["sign_changes"]
    assert any(s["population"] == "it_bn_s1_pos" and 0 in s["channels"] for s in changes)
    assert res.report["unshared_connections"]
    assert "changes sign" in res.summary()
    rep = res.verify()
    assert rep.passed, rep.table()


def test_itnet_max_pooling():
    m, cfg = _tiny_itnet(shared=True, pooling="max")
    res = convert_model(m, itnet_config=cfg, n_calibration=4)
    assert any(p.name.endswith("_d1") for p in res.network.populations)
    assert res.verify().passed


def test_shipped_model_verifies():
    from itnet_neuro.convert import shipped_model_path

    if not shipped_model_path().is_file():
        pytest.skip("the shipped model is not in this checkout")
    res = convert_model(shipped_model_path(), n_calibration=8)
    assert res.network.block is not None and res.network.block.iterations == 6
    rep = res.verify(n_images=4)
    assert rep.passed, rep.table()


def _mobilenet_v1_head():
    """MobileNet (v1) idioms: ZeroPadding2D + strided valid DepthwiseConv2D, ReLU6, GAP(keepdims) →
    Dropout → 1×1 Conv2D → Reshape → softmax Activation; a ResNet stem: ZeroPadding2D + 3×3/2 MaxPooling2D."""
    tf.keras.utils.set_random_seed(3)
    x = kl.Input((20, 20, 2))
    h = kl.ReLU(6.0)(kl.BatchNormalization()(kl.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)))
    h = kl.ZeroPadding2D(((0, 1), (0, 1)))(h)
    h = kl.ReLU(6.0)(kl.BatchNormalization()(kl.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False)(h)))
    h = kl.Activation("relu6")(kl.SeparableConv2D(12, 3, padding="same")(h))
    r = kl.MaxPooling2D(3, strides=2, name="pool")(kl.ZeroPadding2D(1)(h))
    g = kl.GlobalAveragePooling2D(keepdims=True)(r)
    o = kl.Conv2D(5, 1)(kl.Dropout(0.1)(g))
    o = kl.Activation("softmax")(kl.Reshape((5,))(o))
    m = tf.keras.Model(x, o)
    _randomize_bn(m, np.random.default_rng(4))
    return m


def test_mobile_and_residual_cnn_layers_convert_exactly():
    model = _mobilenet_v1_head()
    images = _images((20, 20, 2))  # two input channels: calibration from the array
    res = convert_model(model, calibration=images)
    rep = res.verify(spiking_ticks=256)
    assert rep.passed, rep.table()
    relu6 = [p for p in res.network.populations if p.source.startswith("re_lu")]
    assert relu6 and all(np.allclose(p.decode_scale, 6.0) for p in relu6)  # clipped neuron: λ = the clip
    assert sum(p.name.startswith("pool_c0_d") for p in res.network.populations) == 8  # 3×3 tournament
    ro = res.network.readouts[0]
    assert ro.terms[0].pool == "global_avg" and ro.classes == 5
    assert rep.spiking[256]["output0"] >= 0.75


@pytest.mark.parametrize("act, why", [("swish", "multiplies two signals"), ("tanh", "negative outputs")])
def test_activations_without_spiking_form_say_why(act, why):
    x = kl.Input((8, 8, 3))
    m = tf.keras.Model(x, kl.Conv2D(2, 1)(kl.Activation(act, name="act")(kl.Conv2D(2, 1)(x))))
    with pytest.raises(UnsupportedLayerError, match=rf"'act' \(Activation\).*{why}.*ReLU"):
        convert_model(m, calibration=_images((8, 8, 3)))


def test_multiply_is_refused_by_name(tmp_path):
    x = kl.Input((8, 8, 3))
    h = kl.Conv2D(4, 1, activation="relu")(x)
    gate = kl.Dense(4, activation="sigmoid")(kl.GlobalAveragePooling2D()(h))
    m = tf.keras.Model(x, kl.Multiply(name="se_excite")([h, kl.Reshape((1, 1, 4))(gate)]))
    m.save(tmp_path / "se.h5", save_format="h5")
    with pytest.raises(UnsupportedLayerError, match=r"'se_excite' \(Multiply\): a product of two signals"):
        convert_model(tmp_path / "se.h5", calibration=_images((8, 8, 3)))
