"""IR → NIR → ``nir.read`` round trips (plain read, with type checking), simulated back."""

import dataclasses

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
    assert w.shape[:2] == (8, 4) and w.shape[2] == w.shape[3]  # block-diagonal dense, square kernel
    src = net.connections[0].weight
    for o in range(8):
        taps = w[o, o // 2]
        nz = np.argwhere(np.abs(taps) > 0)
        (y0, x0), (y1, x1) = nz.min(axis=0), nz.max(axis=0)
        np.testing.assert_allclose(taps[y0:y0 + 3, x0:x0 + 3], src[o, 0])
        assert not np.any(np.delete(w[o], o // 2, axis=0))
    fc = np.asarray(g.nodes["fc"].weight)  # dense: a full-window Conv2d, output (5, 1, 1)
    np.testing.assert_allclose(fc.reshape(5, -1), net.connections[1].weight)
    np.testing.assert_array_equal(g.nodes["fc"].output_type["output"], [5, 1, 1])
    np.testing.assert_allclose(np.asarray(g.nodes["a"].v_threshold)[:, 0, 0], 1.0)
    assert g.nodes["a"].metadata["reset"] == "subtract"
    assert any(isinstance(n, nir.Output) for n in g.nodes.values())


def test_shared_block_is_unrolled_with_groups(tmp_path):
    net = tiny_iterative_network()
    g = nir.read(str(export_nir(net, tmp_path / "tiny.nir")))
    unrolled = net.unroll()
    ifs = [k for k, n in g.nodes.items() if isinstance(n, nir.IF)]
    assert sorted(ifs) == sorted(p.name for p in unrolled.populations)
    conns = [k for k, n in g.nodes.items() if isinstance(n, (nir.Conv2d, nir.Affine))
             and not k.startswith(("readout", "bias:", "resample:"))]
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


def _round_trip(net, tmp_path, ticks, batch=2):
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.metrics import decode
    from itnet_neuro.sim.nir_graph import simulate_nir
    from itnet_neuro.sim.testnets import dyadic_input

    x = dyadic_input((batch,) + net.input.shape, seed=3)
    graph = nir.read(str(export_nir(net, tmp_path / "net.nir")))
    run = simulate_nir(graph, x, ticks)
    ref = simulate(net, x, ticks, backend="reference", record=True, grid=[ticks])
    for name, train in ref.trains.items():  # (flat populations: the same neurons in CHW order)
        np.testing.assert_array_equal(run.spikes[name], train.reshape(run.spikes[name].shape), err_msg=name)
    unet = net.unroll()
    for r in unet.readouts:  # a NIR Output summed over the ticks / ticks = the readout's logits
        want = decode(ref, unet, dataclasses.replace(r, out_size=None), 0, decoder="cumulative")
        logits = run.outputs[f"readout:{r.name}"].mean(axis=1).reshape(want.shape)
        np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
    return graph, ref


def test_every_op_round_trips_spike_for_spike(tmp_path):
    """export → nir.read → the NIR reference simulator = the IR's reference simulator, every spike.

    random_convnet has every IR op (grouped/strided conv, depthwise, avgpool, bilinear and nearest
    resize, identity, concatenation, dense, a leaky population, a delay-2 connection, feedback)."""
    from itnet_neuro.sim.testnets import random_convnet

    graph, ref = _round_trip(random_convnet(1, iterations=3), tmp_path, ticks=32)
    assert sum(t.sum() for t in ref.trains.values()) > 1000
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert kinds <= {"Input", "Conv2d", "Affine", "IF", "LIF", "Output"}
    for n in graph.nodes.values():  # nir 1.0.8 infers Conv2d shapes from weight.shape[2]: square kernels
        if isinstance(n, nir.Conv2d):
            assert n.weight.shape[2] == n.weight.shape[3]


def test_resampling_is_exact_and_small():
    from itnet_neuro.export.nir_export import resample_chain
    from itnet_neuro.sim.nir_graph import apply_linear
    from itnet_neuro.ir.ops import resize_matrix

    rng = np.random.default_rng(0)
    for (h, w), (ho, wo), mode in [((3, 4), (12, 16), "bilinear"), ((12, 16), (6, 8), "bilinear"),
                                   ((5, 7), (9, 3), "nearest"), ((4, 6), (4, 9), "bilinear")]:
        x = rng.normal(size=(2, 5, h, w))
        y = x
        for _, node in resample_chain(nir, "p", (5, h, w), (ho, wo), mode):
            y = apply_linear(node, y)
        want = np.einsum("oh,bchw,pw->bcop", resize_matrix(h, ho, mode), x, resize_matrix(w, wo, mode))
        np.testing.assert_allclose(y, want, atol=1e-6)  # float32 weights; dyadic ratios are exact
    chain = resample_chain(nir, "p", (16, 6, 8), (12, 16), "bilinear")
    dense = (16 * 6 * 8) * (16 * 12 * 16)  # one dense matrix
    assert sum(np.asarray(n.weight).size for _, n in chain) < dense / 5


@pytest.mark.slow
def test_shipped_model_round_trips(tmp_path):
    """The shipped ItNet: exported whole (no dense blow-up) and identical spikes after nir.read."""
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL

    net = convert_model(SHIPPED_MODEL, n_calibration=4).network
    graph, ref = _round_trip(net, tmp_path, ticks=12, batch=1)
    assert max(np.asarray(getattr(n, "weight", 0)).size for n in graph.nodes.values()) < 1_000_000


def test_per_neuron_thresholds_written_and_saturation_refused(tmp_path):
    import dataclasses

    from itnet_neuro.errors import ConversionError

    net = _depthwise_net()
    tmap = np.random.default_rng(3).uniform(0.5, 1.5, (1, 8, 4, 4))
    a = dataclasses.replace(net.population("a"), threshold_map=tmap)
    mapped = dataclasses.replace(net, populations=(a, net.population("b")))
    g = nir.read(str(export_nir(mapped, tmp_path / "map.nir")))
    np.testing.assert_allclose(np.asarray(g.nodes["a"].v_threshold), tmap[0].astype(np.float32))
    for change, feature in ((dict(v_max=4.0), "membrane saturation"),
                            (dict(bias_map=np.zeros((1, 8, 4, 4))), "per-neuron biases")):
        bad = dataclasses.replace(net, populations=(dataclasses.replace(a, **change), net.population("b")))
        with pytest.raises(ConversionError, match=f"population 'a' has {feature}"):
            export_nir(bad, tmp_path / "bad.nir")


def test_reset_to_zero_and_threshold_maps_round_trip(tmp_path):
    """NEURON's reset='zero' is NIR's own reset (v = v_reset = 0); a threshold_map is NIR's per-neuron θ."""
    from itnet_neuro.sim.testnets import random_convnet

    net = random_convnet(3, iterations=2)
    rng = np.random.default_rng(5)
    pops = tuple(dataclasses.replace(p, reset="zero") if p.name in ("a", "mix") else
                 dataclasses.replace(p, threshold_map=np.round(rng.uniform(0.75, 1.25, (p.rows,) + p.shape) * 8) / 8)
                 if p.name == "b" else p for p in net.populations)
    _round_trip(dataclasses.replace(net, populations=pops), tmp_path, ticks=24)


def test_sparse_connections_round_trip_through_flat_populations(tmp_path):
    """A sparse connection into a spatial map is an Affine on flattened maps; its post and everything
    downstream go flat (the Affine form of every op), and the spikes still match the IR's."""
    from itnet_neuro.ir.ops import to_sparse
    from itnet_neuro.sim.testnets import random_convnet

    net = random_convnet(4, iterations=2)
    conns = tuple(to_sparse(net, c) if c.name == "a_low" else c for c in net.connections)
    graph, _ = _round_trip(dataclasses.replace(net, connections=conns), tmp_path, ticks=20)
    assert graph.nodes["low"].v_threshold.ndim == 1 and isinstance(graph.nodes["a_low"], nir.Affine)
