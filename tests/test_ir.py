"""The spiking IR: validation, file round trip, unrolling, counts."""

import dataclasses

import h5py
import numpy as np
import pytest

from itnet_neuro.errors import SchemaError, ValidationError
from itnet_neuro.ir import (Connection, InputSpec, Network, Population, Readout, ReadoutTerm, load_network,
                            save_network)
from itnet_neuro.ir.examples import tiny_iterative_network


def _same(a: Network, b: Network):
    assert a.name == b.name and a.input == b.input and a.block == b.block and a.metadata == b.metadata
    assert [p.name for p in a.populations] == [p.name for p in b.populations]
    for p, q in zip(a.populations, b.populations):
        for key in ("threshold", "bias", "decode_scale"):
            np.testing.assert_array_equal(getattr(p, key), getattr(q, key))
        assert (p.shape, p.v_init, p.leak, p.role, p.pair, p.sign, p.source, p.reset, p.v_min, p.v_max) == \
               (q.shape, q.v_init, q.leak, q.role, q.pair, q.sign, q.source, q.reset, q.v_min, q.v_max)
        for key in ("threshold_map", "bias_map"):
            assert (getattr(p, key) is None) == (getattr(q, key) is None), key
            if getattr(p, key) is not None:
                np.testing.assert_array_equal(getattr(p, key), getattr(q, key))
    for c, d in zip(a.connections, b.connections):
        np.testing.assert_array_equal(c.weight, d.weight)
        assert dataclasses.replace(c, weight=d.weight).__dict__.keys() == d.__dict__.keys()
        for f in dataclasses.fields(c):
            if f.name != "weight":
                assert getattr(c, f.name) == getattr(d, f.name), f.name
    for r, s in zip(a.readouts, b.readouts):
        assert (r.name, r.index, r.iteration, r.out_size) == (s.name, s.index, s.iteration, s.out_size)
        np.testing.assert_array_equal(r.bias, s.bias)
        for t, u in zip(r.terms, s.terms):
            assert (t.population, t.pool) == (u.population, u.pool)
            np.testing.assert_array_equal(t.weight, u.weight)


def test_round_trip(tmp_path):
    net = tiny_iterative_network()
    path = save_network(net, tmp_path / "net.snn.h5")
    _same(net, load_network(path))
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file left behind"


def test_unknown_schema_version_refused(tmp_path):
    path = save_network(tiny_iterative_network(), tmp_path / "net.snn.h5")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(SchemaError, match="schema version 99"):
        load_network(path)


def test_keras_file_refused_with_hint(tmp_path):
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.12.0"
    with pytest.raises(SchemaError, match="itnet-neuro convert"):
        load_network(path)


def test_object_dtype_never_read(tmp_path):
    path = save_network(tiny_iterative_network(), tmp_path / "net.snn.h5")
    with h5py.File(path, "a") as f:
        del f["populations/data/bias"]
        f["populations/data"].create_dataset("bias", data=np.array([b"x"] * 4, dtype=h5py.string_dtype()))
    with pytest.raises(SchemaError):
        load_network(path)


def test_unroll_structure():
    net = tiny_iterative_network(iterations=3)
    flat = net.unroll()
    assert flat.block is None
    names = [p.name for p in flat.populations]
    assert names == ["data", "hidden@1", "state@1", "hidden@2", "state@2", "hidden@3", "state@3"]
    pre_of = {c.name: c.pre for c in flat.connections}
    assert pre_of["data_to_hidden@1"] == "data"
    assert "data_to_hidden@2" not in pre_of
    assert "state_to_hidden@1" not in pre_of  # no iteration 0 to feed back from
    assert pre_of["state_to_hidden@3"] == "state@2"
    # copy n takes parameter row n-1
    np.testing.assert_array_equal(flat.population("hidden@2").threshold[0], net.population("hidden").threshold[1])
    assert [r.terms[0].population for r in flat.readouts] == ["state@1", "state@2", "state@3"]
    # latency equals depth: input → data (1) → hidden@1 (2) → state@1 (3) → hidden@2 (4) ...
    depth = net.depth()
    assert depth["state@1"] == 3 and depth["state@3"] == 7


def test_counts_exclude_padding():
    inp = InputSpec("x", (1, 3, 3))
    p = Population("y", (1, 3, 3), threshold=1.0, bias=0.0, decode_scale=1.0)
    c = Connection("c", "x", "y", "conv2d", np.ones((1, 1, 3, 3)), padding=(1, 1, 1, 1))
    net = Network("n", inp, (p,), (c,), (Readout("r", 0, (ReadoutTerm("y", np.ones((1, 1))),), np.zeros(1)),))
    # 3x3 conv on 3x3 input with same padding: corner outputs see 4 taps, edges 6, centre 9.
    assert net.synapses(c) == 4 * 4 + 4 * 6 + 9
    assert net.n_neurons == 9


@pytest.mark.parametrize("mutate, match", [
    (lambda n: dataclasses.replace(n.connections[0], post="nope"), "is not a population"),
    (lambda n: dataclasses.replace(n.connections[0], stride=(1, 1)), "window"),
    (lambda n: dataclasses.replace(n.connections[3], weight=np.ones((4, 3, 1, 1))), "does not match"),
])
def test_bad_connections_named(mutate, match):
    net = tiny_iterative_network()
    bad = mutate(net)
    conns = tuple(bad if c.name == bad.name else c for c in net.connections)
    with pytest.raises(ValidationError, match=match) as info:
        dataclasses.replace(net, connections=conns)
    assert bad.name in str(info.value)


def test_population_validation():
    with pytest.raises(ValidationError, match="threshold must be > 0"):
        Population("p", (2, 1, 1), threshold=[1.0, -1.0], bias=0.0, decode_scale=1.0)
    with pytest.raises(ValidationError, match="shape"):
        Population("p", (2, 1, 1), threshold=[1.0, 1.0, 1.0], bias=0.0, decode_scale=1.0)
    with pytest.raises(ValidationError, match="without '/'"):
        Population("a/b", (1, 1, 1), threshold=1.0, bias=0.0, decode_scale=1.0)


def test_block_rows_checked():
    net = tiny_iterative_network(iterations=3)
    pops = tuple(p.with_rows(0, p.name) if p.name == "hidden" else p for p in net.populations)
    with pytest.raises(ValidationError, match="rows"):
        dataclasses.replace(net, populations=pops)


def _with_neuron_options(net: Network) -> Network:
    """``net`` with every neuron option set on the block member ``hidden`` and the population ``data``."""
    rng = np.random.default_rng(1)
    pops = []
    for p in net.populations:
        if p.name == "hidden":
            full = (p.rows,) + p.shape
            p = dataclasses.replace(p, threshold_map=rng.uniform(0.5, 1.5, full), bias_map=rng.normal(0, 0.1, full),
                                    reset="zero", v_min=-2.0, v_max=3.0, leak=0.25)
        elif p.name == "data":
            p = dataclasses.replace(p, v_min=-1.5)
        pops.append(p)
    return dataclasses.replace(net, populations=tuple(pops))


def test_neuron_options_round_trip(tmp_path):
    net = _with_neuron_options(tiny_iterative_network())
    path = save_network(net, tmp_path / "net.snn.h5")
    back = load_network(path)
    _same(net, back)
    assert back.population("data").v_max is None and back.population("data").v_min == -1.5


def test_version_1_file_reads_with_default_neuron(tmp_path):
    """A file written before the neuron options (schema 1: no reset/v_min/v_max, no maps) still reads."""
    net = tiny_iterative_network()
    path = save_network(net, tmp_path / "net.snn.h5")
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 1
        for g in f["populations"].values():
            for key in ("reset", "v_min", "v_max"):
                del g.attrs[key]
    back = load_network(path)
    _same(net, back)
    assert all(p.ideal_neuron and p.threshold_map is None for p in back.populations)


def test_unroll_keeps_neuron_options():
    net = _with_neuron_options(tiny_iterative_network(iterations=3))
    hidden = net.population("hidden")
    flat = net.unroll()
    for n in (1, 2, 3):
        copy = flat.population(f"hidden@{n}")
        assert (copy.reset, copy.v_min, copy.v_max, copy.leak) == ("zero", -2.0, 3.0, 0.25)
        np.testing.assert_array_equal(copy.threshold_map[0], hidden.threshold_map[n - 1])
        np.testing.assert_array_equal(copy.bias_map[0], hidden.bias_map[n - 1])
        theta, bias = copy.neuron_params()
        np.testing.assert_array_equal(theta, hidden.threshold_map[n - 1])
    theta, bias = flat.population("data").neuron_params()  # no maps: the channel values broadcast
    np.testing.assert_array_equal(theta[:, 2, 3], net.population("data").threshold[0])
    assert not flat.population("hidden@1").ideal_neuron and flat.population("state@1").ideal_neuron


@pytest.mark.parametrize("change, match", [
    (dict(reset="hold"), "reset must be one of"),
    (dict(v_min=0.5), "v_min must be <= 0"),
    (dict(v_max=0.0), "v_max must be > 0"),
    (dict(v_max=float("inf")), "v_max must be finite or None"),
    (dict(threshold_map=np.ones((1, 3, 1, 1))), "threshold_map must have shape"),
    (dict(threshold_map=np.zeros((1, 2, 1, 1))), "threshold_map must be > 0"),
    (dict(bias_map=np.full((1, 2, 1, 1), np.nan)), "bias_map contains NaN"),
])
def test_neuron_option_validation(change, match):
    with pytest.raises(ValidationError, match=match) as info:
        Population("p", (2, 1, 1), threshold=[1.0, 1.0], bias=0.0, decode_scale=1.0, **change)
    assert "'p'" in str(info.value)
