"""IR → NIR → ``nir.read`` round trips (plain read, with type checking)."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from itnet_neuro.export import export_nir  # noqa: E402
from itnet_neuro.ir.examples import tiny_iterative_network  # noqa: E402
from itnet_neuro.ir.graph import (Connection, InputSpec, Network, Population, Readout,  # noqa: E402
                                  ReadoutTerm, same_padding)


def _depthwise_net():
    rng = np.random.default_rng(0)
    inp = InputSpec("x", (4, 7, 7))
    pad = same_padding(7, 3, 2) + same_padding(7, 3, 2)  # asymmetric: (1, 1) for 7 → 4
    a = Population("a", (8, 4, 4), threshold=1.0, bias=0.1, decode_scale=1.0)
    b = Population("b", (5, 1, 1), threshold=1.0, bias=0.0, decode_scale=2.0)
    conns = (Connection("dw", "x", "a", "depthwise", rng.normal(size=(8, 1, 3, 3)), stride=(2, 2), padding=pad),
             Connection("fc", "a", "b", "dense", rng.normal(size=(5, 128))))
    ro = Readout("out", 0, (ReadoutTerm("b", rng.normal(size=(3, 5))),), np.zeros(3))
    return Network("dw", inp, (a, b), conns, (ro,))


def test_depthwise_and_dense_round_trip(tmp_path):
    net = _depthwise_net()
    g = nir.read(str(export_nir(net, tmp_path / "dw.nir")))  # plain read type-checks
    assert sum(isinstance(n, nir.IF) for n in g.nodes.values()) == 2
    conv = g.nodes["dw"]
    assert isinstance(conv, nir.Conv2d) and int(conv.groups) == 1
    w = np.asarray(conv.weight)
    assert w.shape[:2] == (8, 4)  # depthwise expanded to a block-diagonal dense weight
    src = net.connections[0].weight
    for o in range(8):
        np.testing.assert_allclose(w[o, o // 2][-3:, -3:] if w.shape[2] > 3 else w[o, o // 2], src[o, 0])
        others = np.delete(w[o], o // 2, axis=0)
        assert not np.any(others)
    np.testing.assert_allclose(np.asarray(g.nodes["fc"].weight), net.connections[1].weight)
    np.testing.assert_allclose(np.asarray(g.nodes["a"].v_threshold)[:, 0, 0], 1.0)
    assert g.nodes["a"].metadata["reset"] == "subtract"
    assert any(isinstance(n, nir.Output) for n in g.nodes.values())


def test_shared_block_is_unrolled_with_groups(tmp_path):
    net = tiny_iterative_network()
    g = nir.read(str(export_nir(net, tmp_path / "tiny.nir")))
    unrolled = net.unroll()
    ifs = [k for k, n in g.nodes.items() if isinstance(n, nir.IF)]
    assert sorted(ifs) == sorted(p.name for p in unrolled.populations)
    conns = [k for k, n in g.nodes.items() if isinstance(n, (nir.Conv2d, nir.Affine)) and not k.startswith("readout")]
    assert sorted(conns) == sorted(c.name for c in unrolled.connections)
    import json

    groups = json.loads(g.metadata["shared_parameter_groups"])
    assert groups["hidden_to_state"] == [f"hidden_to_state@{n}" for n in (1, 2, 3)]
    for n in (1, 2, 3):
        np.testing.assert_allclose(np.asarray(g.nodes[f"hidden_to_state@{n}"].weight),
                                   net.connections[3].weight)


def test_converted_itnet_exports(tmp_path):
    itnet = pytest.importorskip("itnet_neuro.model")
    from itnet_neuro.convert import convert_model

    cfg = itnet.get_preset("tiny")
    res = convert_model(itnet.build_itnet(cfg), itnet_config=cfg, n_calibration=2)
    g = nir.read(str(export_nir(res.network, tmp_path / "itnet.nir")))
    assert sum(isinstance(n, nir.IF) for n in g.nodes.values()) == len(res.network.unroll().populations)
    outs = [k for k, n in g.nodes.items() if isinstance(n, nir.Output) and k.startswith("readout:")]
    assert len(outs) == cfg.iterations


def test_per_neuron_thresholds_written_and_chip_neuron_refused(tmp_path):
    import dataclasses

    from itnet_neuro.errors import ConversionError

    net = _depthwise_net()
    tmap = np.random.default_rng(3).uniform(0.5, 1.5, (1, 8, 4, 4))
    a = dataclasses.replace(net.population("a"), threshold_map=tmap)
    mapped = dataclasses.replace(net, populations=(a, net.population("b")))
    g = nir.read(str(export_nir(mapped, tmp_path / "map.nir")))
    np.testing.assert_allclose(np.asarray(g.nodes["a"].v_threshold), tmap[0].astype(np.float32))
    for change, feature in ((dict(reset="zero"), "reset to zero"), (dict(v_max=4.0), "membrane saturation"),
                            (dict(bias_map=np.zeros((1, 8, 4, 4))), "per-neuron biases")):
        bad = dataclasses.replace(net, populations=(dataclasses.replace(a, **change), net.population("b")))
        with pytest.raises(ConversionError, match=f"population 'a' has {feature}"):
            export_nir(bad, tmp_path / "bad.nir")
