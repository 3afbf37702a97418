"""Issue 15: the regenerating state buffer, latency as the paper defines it, decoders, the phase length."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from itnet_neuro.errors import SimulationError, ValidationError
from itnet_neuro.ir.examples import tiny_iterative_network
from itnet_neuro.ir.graph import Connection, InputSpec, IterativeBlock, Network, Population, Readout, ReadoutTerm
from itnet_neuro.sim.core import SimResult, regular_train, simulate
from itnet_neuro.sim.testnets import dyadic, dyadic_input

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the regenerating buffer
def test_regular_train_by_hand():
    # rate 3/4: floor(k·3/4 + 1/2) spikes by tick k = 1, 2, 2, 3, 4, 5, 5, 6
    got = regular_train(np.array([[3]]), 4, 1, 9)[0, :, 0]
    np.testing.assert_array_equal(np.cumsum(got), [1, 2, 2, 3, 4, 5, 5, 6])
    assert regular_train(np.array([0]), 5, -2, 4).sum() == 0  # nothing before tick 1, nothing at rate 0
    full = regular_train(np.array([7]), 7, 1, 11)
    assert full.sum() == 10  # rate 1: a spike every tick


def _relay_network(iterations: int = 3) -> Network:
    """input → data → state (iteration 1); state ⇢ relay (feedback, weight θ, v_init 0: relay spikes
    exactly when a buffer spike arrives) → state (iterations ≥ 2)."""
    shape = (1, 1, 4)

    def pop(name, rows, v_init=0.5, theta=1.0):
        return Population(name, shape, threshold=np.full((rows, 1), theta), bias=np.zeros((rows, 1)),
                          decode_scale=np.ones((rows, 1)), v_init=v_init)

    its = tuple(range(2, iterations + 1))
    conns = (Connection("in_data", "in", "data", "identity", np.ones(1)),
             Connection("data_state", "data", "state", "identity", np.ones(1), iterations=(1,)),
             Connection("state_relay", "state", "relay", "identity", np.ones(1), iterations=its, feedback=True),
             Connection("relay_state", "relay", "state", "identity", np.ones(1), iterations=its))
    readouts = tuple(Readout(f"o{n}", n - 1, (ReadoutTerm("state", np.ones((1, 1))),), np.zeros(1), iteration=n)
                     for n in range(1, iterations + 1))
    return Network("relay", InputSpec("in", shape), (pop("data", 1), pop("relay", iterations, v_init=0.0),
                                                     pop("state", iterations)), conns, readouts,
                   IterativeBlock("b", iterations, ("relay", "state"), state=("state",)))


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_regenerated_train_is_the_final_window_rate_from_the_first_tick(backend):
    """What the buffer emits in phase n is the regular train of state@(n-1)'s final-window count
    (by hand, through a relay that spikes exactly when a buffer spike arrives)."""
    net = _relay_network()
    x = np.array([0.25, 0.5, 0.75, 0.875], np.float32).reshape(1, 1, 1, 4)
    tp, w = 12, 5
    res = simulate(net, x, 3 * tp, backend=backend, schedule="looped", record=True, state_buffer="regenerate",
                   window_ticks=w, grid=np.arange(1, 3 * tp + 1))
    for n in (2, 3):
        prev = res.trains[f"state@{n - 1}"][:, (n - 2) * tp:(n - 1) * tp]  # its phase, local ticks 1..T
        m = prev[:, tp - w:].sum(axis=1)
        relay = res.trains[f"relay@{n}"][:, (n - 1) * tp:n * tp]
        want = np.zeros_like(relay)
        want[:, 1:] = regular_train(m, w, 1, tp)  # emitted at local tick k, arrives at k + 1 (delay 1)
        np.testing.assert_array_equal(relay, want)
        assert m.sum() > 0
    assert res.info["state_buffer_spikes"] > 0


def test_regenerate_needs_a_backend_that_simulates_it():
    net = dyadic(tiny_iterative_network())
    x = dyadic_input((1,) + net.input.shape)
    with pytest.raises(SimulationError, match="state_buffer='replay'"):
        simulate(net, x, 30, backend="nengo", schedule="looped", state_buffer="regenerate")
    with pytest.raises(ValidationError, match="window"):
        simulate(net, x, 30, schedule="looped", window_ticks=11)


def test_regenerating_phases_need_only_one_iteration():
    """The later outputs of a short-phase looped run: replay starves them (their depth exceeds the phase),
    the regenerating buffer does not."""
    from itnet_neuro.sim.metrics import readout_latency

    net = tiny_iterative_network(iterations=4)
    depth_replay = readout_latency(net, "looped", 3, "replay")
    depth_regen = readout_latency(net, "looped", 3, "regenerate")
    # unrolled depths 3, 5, 7, 9: a 3-tick phase reaches only output 1 when replaying
    assert depth_replay == {"out1": 3, "out2": None, "out3": None, "out4": None}
    # regenerating: the buffer emits at local tick 1, +1 to hidden, +1 to state → local depth 3
    assert depth_regen == {"out1": 3, "out2": 6, "out3": 9, "out4": 12}


# ---------------------------------------------------------------------------------------- latency
def test_first_output_tick_is_the_depth_and_first_spike_the_shortest_path():
    from itnet_neuro.sim.metrics import readout_latency

    net = tiny_iterative_network()
    depth = net.depth()
    longest = readout_latency(net, "unrolled")
    shortest = readout_latency(net, "unrolled", longest=False)
    for r in net.unroll().readouts:
        assert longest[r.name] == depth[r.terms[0].population]
    # a path that skips layers: an extra delay-1 shortcut from the input to the state of iteration 1
    skip = Connection("skip", "image", "state", "conv2d", np.zeros((4, 3, 3, 3)), stride=(2, 2),
                      padding=net.connections[0].padding, iterations=(1,))
    net2 = dataclasses.replace(net, connections=net.connections + (skip,))
    assert readout_latency(net2, "unrolled")["out1"] == 3
    assert readout_latency(net2, "unrolled", longest=False)["out1"] == 1 < shortest["out1"] == 3


def test_network_depth_is_the_longest_path():
    net = tiny_iterative_network()
    d = net.depth()
    assert d["data"] == 1 and d["hidden@1"] == 2 and d["state@1"] == 3 and d["state@3"] == 7


def _result(counts, grid, schedule="unrolled", phase=None, starts=None):
    return SimResult(backend="x", schedule=schedule, ticks=int(grid[-1]), phase_ticks=phase, grid=np.array(grid),
                     counts=counts, window_start=starts or {"r": 1}, spikes_per_population={}, synaptic_ops={},
                     images=1, state_buffer="regenerate" if schedule == "looped" else None)


def test_ticks_to_90_are_against_the_ann_and_null_when_never_reached():
    from tests.test_sim import _toy_net
    from itnet_neuro.sim.metrics import output_metrics

    net = _toy_net()
    grid = [1, 2, 3, 4]
    c = np.zeros((1, 4, 2, 1, 2), np.uint32)
    c[0, :, 0, 0, 0] = [1, 2, 3, 4]   # pixel 0 → class 0 throughout
    c[0, :, 1, 0, 1] = [0, 0, 1, 2]   # pixel 1: class 0 (tie) until tick 3, then class 1
    labels = np.array([[[0, 1]]])
    right = [np.eye(2)[labels].transpose(0, 3, 1, 2)]      # an ANN with mIoU 1
    wrong = [np.eye(2)[1 - labels].transpose(0, 3, 1, 2)]   # an ANN with mIoU 0
    res = _result({"p": c}, grid)
    out = output_metrics(res, net, labels, right, decoder="cumulative")[0]
    assert out["miou_over_time"] == [0.25, 0.25, 1.0, 1.0]  # class 0: IoU 1/2, class 1: 0; then both right
    assert out["ann_miou"] == 1.0 and out["ticks_to_90"] == 3 and out["ticks_to_99"] == 3
    c2 = c.copy()
    c2[0, :, 1, 0, 1] = 0  # pixel 1 never turns: the SNN never reaches 90 % of the ANN
    out = output_metrics(_result({"p": c2}, grid), net, labels, right, decoder="cumulative")[0]
    assert out["ticks_to_90"] is None and out["ticks_to_99"] is None
    out = output_metrics(res, net, labels, wrong, decoder="cumulative")[0]  # 90 % of 0: from the first spike
    assert out["ticks_to_90"] == 1


# --------------------------------------------------------------------------------------- decoders
def test_decoders_by_hand():
    from itnet_neuro.sim.metrics import Decoder, iter_rates

    spikes = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1, 1], np.uint32)  # one neuron, ticks 1..10
    c = np.cumsum(spikes).reshape(1, 10, 1, 1, 1)
    res = _result({"p": c}, np.arange(1, 11))

    def at(dec, t, depth=None):
        return float(list(iter_rates(res, "p", 1, Decoder.parse(dec), depth, [t - 1]))[0].ravel()[0])

    assert at("cumulative", 10) == 0.6
    assert at("from-depth", 10, depth=4) == pytest.approx(6 / 7)   # ticks 4..10
    assert at("from-depth", 3, depth=4) == 0.0                      # before the depth: cumulative
    assert at("late:0.5", 10) == 0.8                                # ticks 6..10
    assert at("late:0.25", 6) == 0.5                                # ceil(6/4) = 2 ticks: 5..6
    assert at("sliding:4", 10) == 1.0 and at("sliding:4", 6) == 0.5
    a = 1 - np.exp(-1 / 3)
    y = 0.0
    for s in spikes:
        y = (1 - a) * y + a * s
    assert at("exponential:3", 10) == pytest.approx(y / (1 - (1 - a) ** 10))


def test_decoder_specs_and_errors():
    from itnet_neuro.sim.metrics import DEFAULT_DECODER, Decoder

    assert Decoder.parse("late:0.5") == Decoder("late", 0.5) and Decoder.parse(None) == DEFAULT_DECODER
    assert Decoder.parse("sliding").parameter == 32 and Decoder("late", 0.25).spec == "late:0.25"
    for bad, msg in (("median", "valid: cumulative"), ("late:2", r"in \(0, 1\]"), ("cumulative:3", "no parameter"),
                     ("sliding:x", "must be a number")):
        with pytest.raises(ValidationError, match=msg):
            Decoder.parse(bad)


def test_decoding_grid_holds_what_the_decoder_reads():
    """A late window on a coarse grid: the simulation grid gets the window starts, decoding needs no more."""
    from itnet_neuro.sim.metrics import decode, decoding_grid

    net = dyadic(tiny_iterative_network())
    x = dyadic_input((1,) + net.input.shape)
    grid = [5, 20, 40]
    sim_grid = decoding_grid(net, grid, "late:0.5", "looped", 20, "regenerate")
    # out1 [1, 20]: tick 5 reads 2 (window 3..5), tick 20 and 40 (held) read 10; out2 [21, 40]: tick 40 reads 30
    assert sim_grid.tolist() == [2, 5, 10, 20, 30, 40]
    res = simulate(net, x, 60, schedule="looped", phase_ticks=20, grid=sim_grid, window_ticks=10)
    unet = net.unroll()
    for r in unet.readouts:
        decode(res, unet, r, int(np.searchsorted(res.grid, 40)), decoder="late:0.5")
    coarse = simulate(net, x, 60, schedule="looped", phase_ticks=20, grid=grid, window_ticks=10)
    with pytest.raises(ValidationError, match="needed_ticks"):
        decode(coarse, unet, unet.readouts[1], 2, decoder="late:0.5")


def test_default_decoder_is_the_benchmark_choice():
    from itnet_neuro.sim.metrics import DEFAULT_DECODER

    doc = json.loads((ROOT / "benchmarks" / "results" / "decoders.json").read_text())
    assert doc["command"].startswith("nice -n 5 python benchmarks/bench_decoders.py")
    assert DEFAULT_DECODER.spec == doc["chosen"]["spec"]


# ------------------------------------------------------------------------------- chip cost, phase
def test_regenerating_buffer_is_costed_per_chip():
    from mapping.allocate import plan

    net = tiny_iterative_network(channels=3)
    size = net.population("state").size
    loihi = plan(net, "loihi", "looped", phase_ticks=40)
    sb = loihi.view.state_buffer
    assert sb["mode"] == "regenerate" and sb["mechanism"] == "generator-neurons"
    assert sb["regen_neurons"] == 2 * size and sb["window_ticks"] == (40 - 3) // 2
    regen = {n.name for n in loihi.view.nodes if n.kind == "regen"}
    assert regen == {"state~count", "state~emit"}
    fb = next(e for e in loihi.view.edges if e.name == "state_to_hidden")
    assert fb.pre == "state~emit" and fb.delay == 1
    assert plan(net, "loihi2", "looped").view.state_buffer["regen_neurons"] == size
    spin = plan(net, "spinnaker", "looped").view.state_buffer
    assert spin["mechanism"] == "core-memory" and spin["memory_bytes"] == 8 * size and spin["regen_neurons"] == 0
    doc = loihi.to_json()["looped"]
    assert doc["state_buffer"]["mode"] == "regenerate" and "regular train" in doc["semantics"]


def test_a_chip_without_regenerator_replays_and_says_so():
    from hardware_models.spec import load_chip
    from mapping.allocate import plan

    spec = load_chip("loihi")
    spec = dataclasses.replace(spec, state_buffer=dataclasses.replace(
        spec.state_buffer, regenerator=None, neurons_per_state_neuron=None))
    a = plan(tiny_iterative_network(), spec, "looped", phase_ticks=20)
    assert a.view.state_buffer["mode"] == "replay" and any("no state-buffer regenerator" in n for n in a.view.notes)


def test_state_buffer_spec_rules():
    from hardware_models.errors import SpecError
    from hardware_models.spec import load_chip

    spec = load_chip("loihi")
    with pytest.raises(SpecError, match="neurons_per_state_neuron: must be given"):
        dataclasses.replace(spec.state_buffer, neurons_per_state_neuron=None)
    with pytest.raises(SpecError, match="bytes_per_state_neuron: must be 'none'"):
        dataclasses.replace(spec.state_buffer, bytes_per_state_neuron=8.0)
    tn = load_chip("truenorth")
    with pytest.raises(SpecError, match="parameters_switchable_at_runtime"):
        dataclasses.replace(tn, state_buffer=spec.state_buffer)


def test_looped_ticks_say_what_runs():
    from itnet_neuro.sim.experiment import looped_ticks

    assert looped_ticks(6, None, None, None)[:2] == (42, 252)
    phase, total, note = looped_ticks(6, 256, None, None)
    assert (phase, total) == (42, 252) and "4 tick(s) fewer" in note
    phase, total, note = looped_ticks(6, 256, None, 64)
    assert (phase, total) == (64, 384) and "--ticks 256 does not set" in note and "allocation" in note
    assert looped_ticks(6, 384, 64, None)[2] == ("looped schedule: 6 phases × 64 ticks = 384 ticks "
                                                 "(phase from --phase-ticks)")
    with pytest.raises(ValidationError, match="--ticks >= 6"):
        looped_ticks(6, 5, None, None)


def test_settle_tick():
    from itnet_neuro.sim.phase import probe_phase, settle_tick

    assert settle_tick(np.array([np.nan, 0.2, 0.95, 0.8, 0.99, 1.0]), 0.02) == 5
    assert settle_tick(np.array([1.0, 1.0]), 0.01) == 1
    assert settle_tick(np.array([0.5, 0.9, 0.91]), 0.05, ticks=[4, 8, 12]) == 8
    assert probe_phase(3, 256) == 32 and probe_phase(10, 256) == 80 and probe_phase(100, 256) == 256


def test_choose_phase_ticks_on_a_small_network():
    from itnet_neuro.sim.phase import choose_phase_ticks

    net = tiny_iterative_network(height=16, width=16)
    phase, record = choose_phase_ticks(net, "ideal", images=1)
    assert record["phase_depth_ticks"] == 3 and record["probe_phase_ticks"] == 32
    assert 4 <= phase <= 32 and phase % 4 == 0 and record["verified"][-1]["phase_ticks"] == phase
    assert len(record["settle_local_ticks"]) == 3


def test_alloc_json_carries_the_state_buffer_and_the_phase_choice(tmp_path):
    import json as _json

    from itnet_neuro.errors import SchemaError
    from mapping import allocfile
    from mapping.allocate import plan

    a = plan(tiny_iterative_network(), "loihi", "looped", phase_ticks=40)
    a.phase_choice = {"method": "measured", "phase_ticks": 40}
    path = tmp_path / "alloc.json"
    allocfile.write(a, path)
    f = allocfile.read(path)
    assert f.state_buffer == allocfile.StateBufferRef("regenerate", "generator-neurons", (40 - 3) // 2)
    assert f.phase_choice == {"method": "measured", "phase_ticks": 40}
    assert "regular train" in f.looped["semantics"]
    doc = _json.loads(path.read_text())
    del doc["looped"]["state_buffer"]["mode"]  # a schema-2 file from before the regenerating buffer
    path.write_text(_json.dumps(doc))
    assert allocfile.read(path).state_buffer.mode == "replay"
    doc["looped"]["state_buffer"].update(mode="regenerate", window_ticks=41)
    path.write_text(_json.dumps(doc))
    with pytest.raises(SchemaError, match="window_ticks"):
        allocfile.read(path)
    doc["looped"]["state_buffer"]["mode"] = "magic"
    path.write_text(_json.dumps(doc))
    with pytest.raises(SchemaError, match="'magic' is not one of regenerate, replay"):
        allocfile.read(path)
