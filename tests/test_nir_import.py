"""NIR → IR (``itnet-neuro convert model.nir``): graphs written with NIR's own API and our exports.

Reference: :func:`itnet_neuro.sim.nir_graph.simulate_nir` runs the NIR graph as NIR defines it; the
imported IR, run by the IR's reference simulator, must give the same spikes."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from itnet_neuro.convert.nir_import import from_nir  # noqa: E402
from itnet_neuro.errors import ConversionError  # noqa: E402
from itnet_neuro.sim.core import simulate  # noqa: E402
from itnet_neuro.sim.nir_graph import simulate_nir  # noqa: E402

RNG = np.random.default_rng(7)


def _conv(c_out, c_in, k, h, w, stride=1, padding=0, scale=0.6):
    return nir.Conv2d(input_shape=(h, w), weight=RNG.normal(0, scale, (c_out, c_in, k, k)), stride=stride,
                      padding=padding, dilation=1, groups=1, bias=RNG.normal(0.05, 0.02, c_out))


def _if(shape, thr=1.0, r=1.0):
    return nir.IF(r=np.full(shape, r), v_threshold=np.full(shape, thr), v_reset=np.zeros(shape))


def sinabs_like():
    """Input → Conv2d → IF → SumPool2d → Conv2d(pad) → IF → AvgPool2d(pad) → Flatten → Affine → IF → Output."""
    nodes = {
        "in": nir.Input({"input": np.array([2, 12, 12])}),
        "c1": _conv(4, 2, 3, 12, 12, stride=1, padding=1),
        "n1": _if((4, 12, 12), r=0.8),
        "p1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "c2": _conv(6, 4, 3, 6, 6, padding=1, scale=0.4),
        "n2": _if((6, 6, 6), thr=1.5),
        "p2": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        "fl": nir.Flatten({"input": np.array([6, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=RNG.normal(0, 1.0, (5, 54)), bias=np.full(5, 0.2)),
        "n3": _if((5,)),
        "out": nir.Output({"output": np.array([5])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])))


def snntorch_like(dt=1e-4):
    """snnTorch's export: LIF with τ = dt/(1−β), r = τ/dt, v_leak = 0; a Delay node; an LI readout."""
    beta = 0.875
    tau = dt / (1 - beta)
    lif = nir.LIF(tau=np.full(8, tau), r=np.full(8, tau / dt), v_leak=np.zeros(8), v_threshold=np.full(8, 0.8),
                  v_reset=np.zeros(8))
    nodes = {
        "in": nir.Input({"input": np.array([10])}),
        "fc1": nir.Affine(weight=RNG.normal(0, 0.5, (8, 10)), bias=np.full(8, 0.1)),
        "lif": lif,
        "delay": nir.Delay(delay=np.full(8, 2 * dt)),
        "fc2": nir.Linear(weight=RNG.normal(0, 0.7, (3, 8))),
        "cuba": nir.CubaLIF(tau_syn=np.full(3, dt), tau_mem=np.full(3, 4 * dt), r=np.full(3, 4.0),
                            v_leak=np.zeros(3), v_threshold=np.full(3, 0.5), w_in=1.0),
        "li": nir.LI(tau=np.full(3, 2 * dt), r=np.ones(3), v_leak=np.zeros(3)),
        "out": nir.Output({"output": np.array([3])}),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])))


def _compare(graph, net, x, ticks, dt=None, as_ir=True):
    ref = simulate_nir(graph, x, ticks, dt=dt, as_ir=as_ir)
    res = simulate(net, x.reshape((x.shape[0],) + net.input.shape), ticks, backend="reference", record=True)
    for name, spikes in ref.spikes.items():
        np.testing.assert_array_equal(res.trains[name].reshape(spikes.shape), spikes, err_msg=name)
    return res


def test_sinabs_like_graph_imports_spike_for_spike(tmp_path):
    graph = sinabs_like()
    nir.write(str(tmp_path / "s.nir"), graph)
    x = RNG.uniform(0, 1, (2, 2, 12, 12))
    net, _ = from_nir(tmp_path / "s.nir")  # v_reset = 0: the IR's reset to zero, exactly as NIR runs it
    assert {p.reset for p in net.populations} == {"zero"}
    _compare(nir.read(str(tmp_path / "s.nir")), net, x, 40, as_ir=False)
    net, report = from_nir(tmp_path / "s.nir", reset="subtract")  # as sinabs' IAF runs
    ops = {c.name.split("->")[0] + ">" + c.post: c.op for c in net.connections}
    assert ops == {"in>n1": "conv2d", "n1>n2": "conv2d", "n2>n3": "dense"}  # pools folded into the convs
    res = _compare(nir.read(str(tmp_path / "s.nir")), net, x, 40)
    assert res.trains["n3"].sum() > 20 and any("v_reset" in n for n in report["notes"])
    graph.nodes["n2"].v_reset = np.full((6, 6, 6), -0.5)
    with pytest.raises(ConversionError, match="'n2'.*v_reset=-0.5.*reset='subtract'"):
        from_nir(graph)


def test_per_neuron_thresholds_become_a_threshold_map():
    graph = sinabs_like()
    graph.nodes["n1"].v_threshold = RNG.uniform(0.8, 1.2, (4, 12, 12))
    net, _ = from_nir(graph, reset="subtract")
    n1 = net.population("n1")
    assert n1.threshold_map is not None and n1.threshold_map.shape == (1, 4, 12, 12)
    _compare(graph, net, RNG.uniform(0, 1, (2, 2, 12, 12)), 30)


def test_snntorch_like_graph_imports_spike_for_spike():
    graph = snntorch_like()
    net, report = from_nir(graph, reset="subtract")
    assert report["dt"] == pytest.approx(1e-4)  # inferred from τ/r
    lif = net.population("lif")
    assert lif.leak == pytest.approx(0.125)
    assert [c.delay for c in net.connections if c.pre == "lif"] == [3]  # one tick + the Delay node's two
    assert net.readouts[0].terms[0].population == "cuba"
    x = RNG.uniform(0, 1, (3, 10))
    _compare(graph, net, x, 30, dt=report["dt"])


def test_refusals_name_the_node_and_the_reason():
    g = snntorch_like()
    g.nodes["cuba"].tau_syn = np.full(3, 5e-4)
    with pytest.raises(ConversionError, match="'cuba'.*synaptic current filter"):
        from_nir(g, reset="subtract")
    nodes = {"in": nir.Input({"input": np.array([4])}), "fc": nir.Linear(weight=np.eye(4)),
             "th": nir.Threshold(threshold=np.ones(4)), "out": nir.Output({"output": np.array([4])})}
    with pytest.raises(ConversionError, match="'th' \\(Threshold\\)"):
        from_nir(nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "th"), ("th", "out")]))
    nodes = {"in": nir.Input({"input": np.array([4])}), "fc": nir.Linear(weight=np.eye(4)), "n": _if((4,)),
             "rec": nir.Linear(weight=np.eye(4)), "out": nir.Output({"output": np.array([4])})}
    edges = [("in", "fc"), ("fc", "n"), ("n", "rec"), ("rec", "n"), ("n", "out")]
    with pytest.raises(ConversionError, match="cycle"):
        from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), reset="subtract")


def test_our_export_comes_back_as_the_same_network(tmp_path):
    from itnet_neuro.export import export_nir
    from itnet_neuro.sim.testnets import dyadic_input, random_convnet

    net = random_convnet(2, iterations=3)
    back, report = from_nir(export_nir(net, tmp_path / "rc.nir"))
    assert report["refolded"] and report["notes"] == []
    assert back.block is not None and back.block.iterations == 3
    assert (back.n_neurons, back.n_synapses, len(back.connections)) == (net.n_neurons, net.n_synapses,
                                                                       len(net.connections))
    x = dyadic_input((2,) + net.input.shape)
    for schedule in ("unrolled", "looped"):
        a = simulate(net, x, 24, backend="reference", schedule=schedule, record=True)
        b = simulate(back, x, 24, backend="reference", schedule=schedule, record=True)
        for k in a.trains:
            np.testing.assert_array_equal(a.trains[k], b.trains[k], err_msg=k)
