"""The ``sparse`` connection op (ISSUE11_INTERFACES.md §I1) against the ops it can replace.

Reference: the original op. ``to_sparse`` of any connection must give spike for spike the same trains
as the original in every backend (dyadic weights, so every summation order is exact), the same
allocation on a small chip, and survive the h5 round trip.
"""

import dataclasses

import numpy as np
import pytest

from itnet_neuro.errors import ValidationError
from itnet_neuro.ir import Connection, load_network, save_network
from itnet_neuro.ir.ops import OP_TABLE, to_sparse
from itnet_neuro.sim.core import simulate
from itnet_neuro.sim.kernels import MissingKernelError
from itnet_neuro.sim.testnets import dyadic_input, random_convnet

NETS = {"conv0": lambda: random_convnet(0), "strong": lambda: random_convnet(2, strong=True)}
OPS = sorted(set(OP_TABLE) - {"sparse"})


def _sparsed(net, ops=None):
    """``net`` with every connection whose op is in ``ops`` (all: None) replaced by ``to_sparse``."""
    conns = tuple(to_sparse(net, c) if ops is None or c.op in ops else c for c in net.connections)
    return dataclasses.replace(net, connections=conns)


def _trains(net, backend, ticks=20, images=2, **kw):
    x = dyadic_input((images,) + net.input.shape, seed=7)
    return simulate(net, x, ticks, backend=backend, record=True, seed=3, **kw).trains


def _assert_same(a, b):
    assert a.keys() == b.keys()
    diff = {k: int((a[k] != b[k]).sum()) for k in a}
    assert sum(diff.values()) == 0, diff
    assert sum(int(t.sum()) for t in a.values()) > 50


@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("backend", ["reference", "fast", "nengo"])
def test_to_sparse_spikes_equal_the_original_op(backend, op, net_name):
    if backend == "nengo":
        pytest.importorskip("nengo")
    net = NETS[net_name]()
    assert any(c.op == op for c in net.connections)
    _assert_same(_trains(net, backend), _trains(_sparsed(net, {op}), backend))


def test_to_sparse_spikes_equal_in_fast_float64_and_looped():
    net = NETS["conv0"]()
    _assert_same(_trains(net, "fast", precision="float64"), _trains(_sparsed(net), "fast", precision="float64"))
    _assert_same(_trains(net, "fast", schedule="looped"), _trains(_sparsed(net), "fast", schedule="looped"))


def test_to_sparse_spikes_equal_in_brian2():
    pytest.importorskip("brian2")
    net = NETS["conv0"]()
    _assert_same(_trains(net, "brian2", ticks=16, images=1), _trains(_sparsed(net), "brian2", ticks=16, images=1))


@pytest.mark.slow
@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("backend", ["brian2", "nengo-dl"])
def test_to_sparse_spikes_equal_slow_backends(backend, net_name):
    pytest.importorskip("nengo_dl" if backend == "nengo-dl" else backend)
    net = NETS[net_name]()
    _assert_same(_trains(net, backend), _trains(_sparsed(net), backend))


def test_to_sparse_keeps_synapses_weights_and_counts():
    from itnet_neuro.ir.ops import connection_matrix

    net = NETS["conv0"]()
    snet = _sparsed(net)
    for c, s in zip(net.connections, snet.connections):
        pre, post = net.shape_of(c.pre), net.shape_of(c.post)
        a, b = connection_matrix(c, pre, post), connection_matrix(s, pre, post)
        assert (a != b).nnz == 0 and a.nnz == b.nnz == s.weight.size, c.name
        assert snet.out_channels(s) == post[0] and s.post_offset == 0
        assert (s.delay, s.iterations, s.feedback) == (c.delay, c.iterations, c.feedback)
        if c.op != "resize":  # resize's 4 taps per bilinear neuron coincide at borders (summed, fewer)
            assert snet.synapses(s) == net.synapses(c), c.name
            assert s.fan_in(pre[0]) == c.fan_in(pre[0]), c.name
    assert snet.n_synapses < net.n_synapses


def test_duplicated_pairs_are_summed():
    from itnet_neuro.ir import InputSpec, Network, Population, Readout, ReadoutTerm

    pop = Population("y", (1, 1, 2), threshold=1.0, bias=0.0, decode_scale=1.0)
    conn = Connection("c", "x", "y", "sparse", np.array([0.25, 0.5, 1.0]), index=np.array([[0, 0, 1], [1, 1, 0]]))
    net = Network("t", InputSpec("x", (1, 1, 2)), (pop,), (conn,), (Readout("r", 0, (ReadoutTerm("y", np.ones((1, 1))),),
                                                                          np.zeros(1)),))
    assert net.synapses(conn) == 2 and conn.fan_in(1) == 1
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    y = apply_op(net, conn, np.array([[[[2.0, 4.0]]]]))
    np.testing.assert_array_equal(y, [[[[3.0, 2.0]]]])


@pytest.mark.parametrize("kw,match", [
    (dict(index=None), "needs an index"),
    (dict(index=np.zeros((2, 2), np.int64)), r"shape \(2, nnz\) = \(2, 3\)"),
    (dict(index=-np.ones((2, 3), np.int64)), "negative"),
    (dict(index=np.zeros((2, 3)), post_offset=0), "must be integer"),
    (dict(index=np.zeros((2, 3), np.int64), post_offset=1), "post_offset must be 0"),
])
def test_sparse_validation(kw, match):
    args = dict(name="c", pre="x", post="y", op="sparse", weight=np.ones(3))
    args.update(kw)
    if kw.get("index") is not None and np.asarray(kw["index"]).dtype.kind == "f":
        args["index"] = np.full((2, 3), 0.5)
    with pytest.raises(ValidationError, match=match):
        Connection(**args)


def test_index_out_of_range_and_index_on_other_ops_are_refused():
    net = NETS["conv0"]()
    c = to_sparse(net, net.connections[1])
    bad = dataclasses.replace(c, index=c.index + np.array([[0], [10 ** 6]]))
    with pytest.raises(ValidationError, match="index row 1 reaches"):
        dataclasses.replace(net, connections=net.connections[:1] + (bad,) + net.connections[2:])
    with pytest.raises(ValidationError, match="takes no index"):
        dataclasses.replace(net.connections[0], index=c.index)
    with pytest.raises(ValidationError, match="net.out_channels"):
        c.out_channels  # noqa: B018 - a sparse connection's channels need the post shape


def test_h5_round_trip_of_a_sparse_network(tmp_path):
    net = _sparsed(NETS["conv0"]())
    back = load_network(save_network(net, tmp_path / "s.snn.h5"))
    for a, b in zip(net.connections, back.connections):
        assert (a.name, a.op, a.delay, a.iterations, a.feedback) == (b.name, b.op, b.delay, b.iterations, b.feedback)
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.index, b.index)
        assert b.index.dtype == np.int64
    _assert_same(_trains(net, "reference", ticks=10), _trains(back, "reference", ticks=10))


def test_a_backend_without_the_kernel_says_so(monkeypatch):
    pytest.importorskip("brian2")
    from itnet_neuro.sim.kernels.brian2_ops import BRIAN2

    monkeypatch.delitem(BRIAN2._kernels, "sparse")
    with pytest.raises(MissingKernelError, match=r"^backend 'brian2' has no kernel for op 'sparse'; registered: "
                                                 r"avgpool, conv2d, "):
        _trains(_sparsed(NETS["conv0"]()), "brian2", ticks=4, images=1)


def test_nir_export_of_sparse_is_the_exact_affine():
    pytest.importorskip("nir")
    from itnet_neuro.export.nir_export import to_nir
    from itnet_neuro.ir.ops import connection_matrix

    net = NETS["conv0"]().unroll()
    snet = _sparsed(net, {"conv2d"})
    graph = to_nir(snet)
    c = snet.connections[0]
    np.testing.assert_array_equal(graph.nodes[c.name].weight,
                                  connection_matrix(c, net.shape_of(c.pre), net.shape_of(c.post)).toarray())


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
def test_allocation_of_a_sparse_conv_equals_the_conv(chip):
    """Same cores, tiles, axons and synapses: the receptive fields read from the index are the
    convolution's (every op but resize converted: its IR count of 2 taps per axis at the borders is a
    convention the explicit synapses do not follow). Loihi's encodings that only a convolution can use
    (population axons, kernel lists shared per edge pattern, mapping.synmem) are switched off for the
    comparison; with them the convolution needs fewer cores than its explicit synapses."""
    from mapping.allocate import plan
    from mapping.testing import itnet_like_network
    from tests.test_mapping import _spec

    net = itnet_like_network(height=24, width=32, width_f=8, iterations=2, scales=2, seed=1)
    small = _spec(chip, max_neurons=64, max_axons=256)
    if chip == "loihi":
        encoded = plan(net, small, "unrolled").cores_used
        assert encoded < plan(_sparsed(net, {"conv2d", "depthwise", "avgpool", "identity"}), small,
                              "unrolled").cores_used
        small = _spec(chip, max_neurons=64, max_axons=256, shared_synapse_lists=False, population_axons=False,
                      synapse_group_size=None)
    a = plan(net, small, "unrolled")
    b = plan(_sparsed(net, {"conv2d", "depthwise", "avgpool", "identity"}), small, "unrolled")
    assert {c.op for c in net.connections} >= {"conv2d", "depthwise"}
    assert a.cores_used == b.cores_used > 8
    np.testing.assert_array_equal(a.tile_box, b.tile_box)
    np.testing.assert_array_equal(a.tile_core, b.tile_core)
    for key in ("axons", "synapses", "own"):
        np.testing.assert_array_equal(a.tile_res[key], b.tile_res[key], err_msg=key)
    assert a.lower_bound == b.lower_bound
    # A convolution's fan-in is nominal (C_in·kH·kW, also where a map smaller than the kernel leaves
    # taps on padding); the explicit synapses count what is there, so they may only drop violations.
    assert {(v.layer, v.resource) for v in b.violations} <= {(v.layer, v.resource) for v in a.violations}
