"""nengo, nengo-dl and brian2 built from the same IR agree with the reference loop spike for spike."""

import dataclasses

import numpy as np
import pytest

from itnet_neuro.ir.examples import tiny_iterative_network
from itnet_neuro.sim.core import simulate
from itnet_neuro.ir.graph import Connection, InputSpec, Network, Population, Readout, ReadoutTerm
from itnet_neuro.sim.testnets import chip_neuron_convnet, dyadic, dyadic_input, random_convnet

pytest.importorskip("nengo")

NETS = {
    "tiny": lambda: dyadic(tiny_iterative_network()),
    "conv0": lambda: random_convnet(0),
    "strong": lambda: random_convnet(2, strong=True),
    "chip": lambda: chip_neuron_convnet(0),  # reset to zero, leak 0.25, saturation, per-neuron maps
}


def _compare(net, backend, ticks=20, encoding="current", images=2, **options):
    if encoding != "current":
        net = dataclasses.replace(net, input=dataclasses.replace(net.input, encoding=encoding))
    x = dyadic_input((images,) + net.input.shape, seed=7)
    ref = simulate(net, x, ticks, backend="reference", record=True, seed=3)
    got = simulate(net, x, ticks, backend=backend, record=True, seed=3, **options)
    diff = {k: int((ref.trains[k] != got.trains[k]).sum()) for k in ref.trains}
    assert sum(ref.spikes_per_population.values()) > 50
    return ref, got, diff


@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("encoding", ["current", "poisson"])
def test_nengo_equals_reference(net_name, encoding):
    _, got, diff = _compare(NETS[net_name](), "nengo", encoding=encoding)
    assert sum(diff.values()) == 0, diff
    assert got.backend == "nengo"


def test_nengo_sparse_transforms_equal_reference():
    _, _, diff = _compare(NETS["conv0"](), "nengo", sparse_only=True)
    assert sum(diff.values()) == 0, diff


def test_nengo_looped_schedule():
    net = NETS["tiny"]()
    x = dyadic_input((1,) + net.input.shape)
    ref = simulate(net, x, 30, backend="reference", schedule="looped", record=True)
    got = simulate(net, x, 30, backend="nengo", schedule="looped", record=True)
    for k in ref.trains:
        np.testing.assert_array_equal(ref.trains[k], got.trains[k])


def test_build_nengo_network_for_export():
    import nengo

    from itnet_neuro.sim.nengo_backend import build_nengo_network

    net = tiny_iterative_network()
    model = build_nengo_network(net, probe=False)
    assert isinstance(model, nengo.Network)
    assert set(model.itnet_ensembles) == {p.name for p in net.unroll().populations}
    assert sum(e.n_neurons for e in model.all_ensembles) == net.unroll().n_neurons
    assert len(model.all_connections) == len(net.unroll().connections)


def test_brian2_equals_reference_tiny():
    pytest.importorskip("brian2")
    _, got, diff = _compare(NETS["tiny"](), "brian2", ticks=16, images=1)
    assert sum(diff.values()) == 0, diff


@pytest.mark.slow
@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("encoding", ["current", "regular"])
def test_brian2_equals_reference(net_name, encoding):
    pytest.importorskip("brian2")
    _, _, diff = _compare(NETS[net_name](), "brian2", encoding=encoding)
    assert sum(diff.values()) == 0, diff


@pytest.mark.slow
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_nengo_dl_equals_reference_on_exact_networks(net_name):
    """Dyadic weights: nengo-dl's float32 arithmetic is exact, so no spike may differ."""
    pytest.importorskip("nengo_dl")
    _, _, diff = _compare(NETS[net_name](), "nengo-dl")
    assert sum(diff.values()) == 0, diff


@pytest.mark.slow
def test_nengo_dl_tolerance_on_float_networks():
    """Float weights: float32 rounding may move a spike where the membrane lands within ~1e-7 of θ.

    Tolerance: total spike counts per population within 1%, and at most 1% of neurons with a
    count differing by more than one spike."""
    pytest.importorskip("nengo_dl")
    net = tiny_iterative_network(12, 12, seed=4)
    x = np.random.default_rng(0).uniform(0, 1, (2,) + net.input.shape).astype(np.float32)
    ref = simulate(net, x, 40, backend="reference", record=True)
    got = simulate(net, x, 40, backend="nengo-dl", record=True)
    for k in ref.trains:
        a, b = ref.trains[k].sum(1).astype(int), got.trains[k].sum(1).astype(int)
        assert abs(a.sum() - b.sum()) <= 0.01 * max(a.sum(), 100), k
        assert np.mean(np.abs(a - b) > 1) <= 0.01, k


def test_brian2_equals_reference_chip_neuron():
    """Reset to zero, a leak, saturation and per-neuron maps in brian2 (the slow test runs 20 ticks)."""
    pytest.importorskip("brian2")
    _, _, diff = _compare(NETS["chip"](), "brian2", ticks=12, images=1)
    assert sum(diff.values()) == 0, diff


# ------------------------------------------------------------------------- one neuron, traced by hand
def _one_neuron(theta=0.75, **neuron) -> Network:
    """One neuron (θ = 0.75, v_init = 0, no bias) driven by x = 0.5 through two connections: gain −1
    from tick 1 and gain +2 from tick 5 (delay 5), so ``I = −0.5`` at ticks 1–4 and ``+0.5`` after."""
    inp = InputSpec("x", (1, 1, 1))
    p = Population("p", (1, 1, 1), threshold=theta, bias=0.0, decode_scale=1.0, v_init=0.0, **neuron)
    conns = (Connection("neg", "x", "p", "identity", [-1.0]), Connection("pos", "x", "p", "identity", [2.0], delay=5))
    return Network("one", inp, (p,), conns, (Readout("r", 0, (ReadoutTerm("p", np.ones((1, 1))),), np.zeros(1)),))


# Spike ticks over 16 ticks, computed by hand from v = (1 − leak)·v + I; clip; spike if v ≥ 0.75; reset.
HAND_TRACES = {
    # v: −.5 −1 −1.5 −2 | −1.5 −1 −.5 0 .5 1→.25 .75→0 .5 1→.25 .75→0 .5 1→.25
    "subtract": (dict(), [10, 11, 13, 14, 16]),
    # v: … 0 .5 1→0 .5 1→0 …
    "zero": (dict(reset="zero"), [10, 12, 14, 16]),
    # v: −.5 −1 −1 −1 | −.5 0 .5 1→.25 .75→0 .5 1→.25 .75→0 …
    "subtract, v_min=-1": (dict(v_min=-1.0), [8, 9, 11, 12, 14, 15]),
    # v: … 0 .5 .875→.125 .625 .875→.125 …  (1.0 and 1.125 saturate at 0.875)
    "subtract, v_max=0.875": (dict(v_max=0.875), [10, 12, 14, 16]),
    # v: −.5 −.875 −1.15625 −1.3671875 | −.52539… .10596… .57947… .93460→.18460 .63845 .97884→.22884 …
    "subtract, leak=0.25": (dict(leak=0.25), [8, 10, 12, 14, 16]),
    # v: −.5 −1 −1 −1 | −.5 0 .5 1→0 .5 1→0 …
    "zero, v_min=-1": (dict(reset="zero", v_min=-1.0), [8, 10, 12, 14, 16]),
}


@pytest.mark.parametrize("backend", ["reference", "fast", "nengo", "brian2"])
@pytest.mark.parametrize("case", sorted(HAND_TRACES))
def test_one_neuron_hand_trace(case, backend):
    if backend == "brian2":
        pytest.importorskip("brian2")
    neuron, want = HAND_TRACES[case]
    res = simulate(_one_neuron(**neuron), np.full((1, 1, 1, 1), 0.5, np.float32), 16, backend=backend, record=True)
    got = list(np.flatnonzero(res.trains["p"][0, :, 0, 0, 0]) + 1)
    assert got == want, f"{backend}, {case}: spikes at {got}"


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HAND_TRACES))
def test_one_neuron_hand_trace_nengo_dl(case):
    pytest.importorskip("nengo_dl")
    test_one_neuron_hand_trace(case, "nengo-dl")


# ------------------------------------------------------------------------------ trial-to-trial noise
def _noisy_chip():
    """BrainScaleS-2's neuron and temporal noise, without weight quantization or mismatch: the noise is
    then the only effect that is not dyadic, and every float64 backend applies it in the same order."""
    from hardware_models import load_chip
    from itnet_neuro.sim.hardware import Hardware

    chip = load_chip("brainscales2")
    chip = dataclasses.replace(chip, noise=dataclasses.replace(chip.noise, weight_mismatch_rel_std=0.0,
                                                               neuron_mismatch_rel_std=0.0))
    return Hardware(chip, seed=4, quantize=False)


def test_input_noise_same_in_every_backend_that_models_it():
    pytest.importorskip("brian2")
    net = chip_neuron_convnet(1)
    x = dyadic_input((2,) + net.input.shape, seed=2)
    ref = simulate(net, x, 12, backend="reference", record=True, hardware=_noisy_chip())
    quiet = simulate(net, x, 12, backend="reference", record=True)
    assert sum(int((ref.trains[k] != quiet.trains[k]).sum()) for k in ref.trains) > 20  # the noise acts
    for backend, options in (("fast", dict(precision="float64", batch_size=1, chunk_ticks=5)),
                             ("fast", dict(precision="float64")), ("brian2", {})):
        got = simulate(net, x, 12, backend=backend, record=True, hardware=_noisy_chip(), **options)
        diff = {k: int((ref.trains[k] != got.trains[k]).sum()) for k in ref.trains}
        assert sum(diff.values()) == 0, (backend, options, diff)


@pytest.mark.parametrize("backend", ["nengo", "nengo-dl"])
def test_nengo_refuses_input_noise(backend):
    from itnet_neuro.errors import SimulationError

    net = _one_neuron()
    with pytest.raises(SimulationError, match=f"{backend} backend: trial-to-trial noise of chip 'brainscales2'"):
        simulate(net, np.full((1, 1, 1, 1), 0.5, np.float32), 4, backend=backend, hardware=_noisy_chip())


def test_run_lif_follows_the_population_neuron():
    """Continuous time, constant drive x/tick into θ = 1 (v_init = 0): the IF neuron fires at x per tick;
    a per-tick leak of 0.25 becomes τ_m = −tick/ln(0.75) = 3.476 ticks, so v → 0.3·τ_m = 1.043 and the
    neuron needs τ_m·ln(1.043/0.043) = 11.09 ticks per spike (reset to zero); a membrane saturating at
    0.5 < θ never fires."""
    pytest.importorskip("brian2")
    from itnet_neuro.sim.brian2_backend import run_lif

    def rate(**neuron):
        net = _one_neuron(theta=1.0, **neuron)
        net = dataclasses.replace(net, connections=net.connections[1:2])  # gain 2 only: drive 2·x = 0.3
        return run_lif(net, np.full((1, 1, 1), 0.15), 0.4, tick_s=1e-3, dt_s=0.02e-3)["rates"]["p"][0]

    assert rate() == pytest.approx(0.3, abs=0.01)
    assert rate(leak=0.25, reset="zero") == pytest.approx(1 / 11.09, abs=0.005)
    assert rate(v_max=0.5) == 0
