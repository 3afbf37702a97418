"""DYNAP-CNN (conv-layer cores): pooling inside the convolution's core, core choice as a matching,
bias memory only for layers with a bias, no made-up chip for layers that do not fit."""

from __future__ import annotations

import numpy as np

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm
from mapping.allocate import plan
from mapping.chip import limits_of


def _pop(name, shape, bias=0.0):
    c = shape[0]
    return Population(name, shape, threshold=np.ones((1, c)), bias=np.full((1, c), bias), decode_scale=np.ones((1, c)))


def conv_pool_net(n_conv=6, bias=0.0):
    """conv → pool → conv → pool … (``n_conv`` convolutions, ``n_conv - 1`` 2×2 average poolings)."""
    rng = np.random.default_rng(0)
    shape, prev = (2, 64, 64), "x"
    pops, conns = [], []
    for i in range(n_conv):
        c = 8 * (i + 1)
        out = (c, shape[1], shape[2])
        pops.append(_pop(f"conv{i}", out, bias))
        conns.append(Connection(f"{prev}_conv{i}", prev, f"conv{i}", "conv2d", rng.normal(0, 1, (c, shape[0], 3, 3)),
                                padding=(1, 1, 1, 1)))
        prev, shape = f"conv{i}", out
        if i < n_conv - 1:
            pooled = (c, shape[1] // 2, shape[2] // 2)
            pops.append(_pop(f"pool{i}", pooled))
            conns.append(Connection(f"conv{i}_pool{i}", prev, f"pool{i}", "avgpool", np.ones(c), kernel=(2, 2),
                                    stride=(2, 2)))
            prev, shape = f"pool{i}", pooled
    out = Readout("r", 0, (ReadoutTerm(prev, np.ones((1, shape[0]))),), np.zeros(1))
    return Network("convpool", InputSpec("x", (2, 64, 64)), tuple(pops), tuple(conns), (out,))


def test_pooling_runs_inside_the_convolutions_core():
    """sinabs maps 6 convolutions with 5 poolings on 6 cores; a pooling is no layer of its own."""
    a = plan(conv_pool_net(), "dynapcnn", "unrolled")
    assert a.feasible, a.violations
    assert a.cores_used == 6 and a.chips_used == 1 and a.lower_bound == 6
    layers = {r["node"]: r for r in a.conv_layer["layers"]}
    for i in range(5):
        assert layers[f"pool{i}"]["pooled_into"] == f"conv{i}" and layers[f"pool{i}"]["pooling"] == 2
        tiles = {a.view.nodes[t].name: int(a.tile_core[t]) for t in range(len(a.tile_core))}
        assert tiles[f"pool{i}"] == tiles[f"conv{i}"]
        # conv i sends its pooled spikes to conv i+1: one destination
        assert layers[f"conv{i}"]["destinations"] == 1


def test_a_pooling_with_its_own_bias_stays_a_layer():
    net = conv_pool_net(n_conv=2)
    pops = tuple(_pop(p.name, p.shape, 0.1) if p.name == "pool0" else p for p in net.populations)
    net = Network(net.name, net.input, pops, net.connections, net.readouts)
    a = plan(net, "dynapcnn", "unrolled")
    assert a.cores_used == 3 and all(r["pooled_into"] is None for r in a.conv_layer["layers"])


def test_bias_words_only_for_layers_with_a_bias():
    a = plan(conv_pool_net(n_conv=2), "dynapcnn", "unrolled")
    b = plan(conv_pool_net(n_conv=2, bias=0.5), "dynapcnn", "unrolled")
    assert {r["bias_words"] for r in a.conv_layer["layers"]} == {0}
    assert [r["bias_words"] for r in b.conv_layer["layers"] if r["pooled_into"] is None] == [8, 16]


def _reqs(pairs):
    return [dict(population=f"l{i}", iteration=None, kernel_words=k, neuron_words=n, bias_words=8, pooled_into=None)
            for i, (k, n) in enumerate(pairs)]


def test_core_choice_is_a_maximum_matching():
    """Nine layers that fit the nine cores only one way round: the former greedy choice (largest kernel
    first, into the smallest core that holds it) left one unplaced."""
    from hardware_models.spec import load_chip
    from mapping.convlayer import assign_layers

    lim = limits_of(load_chip("dynapcnn"))
    reqs = _reqs([(2048, 4096), (8192, 16384), (8192, 2048), (65536, 16384), (1024, 32768), (32768, 2048),
                  (16384, 8192), (1024, 65536), (32768, 4096)])
    chip, slot, violations = assign_layers(reqs, lim)
    assert not violations and (chip == 0).all()
    assert sorted(slot.tolist()) == list(range(9))
    for r, s in zip(reqs, slot):
        assert r["kernel_words"] <= lim.kernel_memory_words[s] and r["neuron_words"] <= lim.neuron_memory_words[s]


def test_layers_beyond_the_chip_sit_on_no_chip_and_the_violation_says_so():
    """Ten convolutions on one nine-core chip: nine placed, one on no chip; no second chip is made up,
    no "chips" violation, and the hint does not speak of iterations (there is no iterative block)."""
    rng = np.random.default_rng(1)
    pops = tuple(_pop(f"l{i}", (4, 8, 8)) for i in range(10))
    conns = tuple(Connection(f"c{i}", "x" if i == 0 else f"l{i - 1}", f"l{i}", "conv2d",
                             rng.normal(0, 1, (4, 2 if i == 0 else 4, 3, 3)), padding=(1, 1, 1, 1)) for i in range(10))
    net = Network("ten", InputSpec("x", (2, 8, 8)), pops, conns,
                  (Readout("r", 0, (ReadoutTerm("l9", np.ones((1, 4))),), np.zeros(1)),))
    a = plan(net, "dynapcnn", "unrolled")
    assert a.cores_used == 9 and a.chips_used == 1
    assert [v.resource for v in a.violations] == ["layers"]
    v = a.violations[0]
    assert v.value == 10 and v.limit == 9 and "iteration" not in v.hint
    unplaced = [r for r in a.conv_layer["layers"] if r["chip"] < 0]
    assert len(unplaced) == 1


def test_alloc_json_of_unplaced_layers_lists_only_placed_cores(tmp_path):
    from mapping import allocfile
    from mapping.report import table

    a = plan(conv_pool_net(n_conv=6), "dynapcnn", "unrolled")
    back = allocfile.read(allocfile.write(a, tmp_path / "a.json"))
    assert back.cores_used == 6 and len(back.cores) == 6
    assert {t.population for c in back.cores for t in c.tiles} >= {"pool0", "conv0"}
    assert "cores 6 on 1 chip(s)" in table(a)
