"""The `fast` simulator against the tick-by-tick reference loop, spike for spike; metrics; hardware; CLI."""

import dataclasses
import json

import numpy as np
import pytest

from itnet_neuro.errors import SimulationError
from itnet_neuro.ir.examples import tiny_iterative_network
from itnet_neuro.sim.core import SimResult, simulate
from itnet_neuro.sim.testnets import chip_neuron_convnet, dyadic, dyadic_input, random_convnet

NETS = {
    "tiny": lambda: dyadic(tiny_iterative_network()),
    "conv0": lambda: random_convnet(0),
    "conv1": lambda: random_convnet(1, iterations=3),
    "strong": lambda: random_convnet(2, strong=True),
    "chip": lambda: chip_neuron_convnet(3, iterations=3),  # reset to zero, leak, saturation, maps
}


def _with_encoding(net, enc):
    return dataclasses.replace(net, input=dataclasses.replace(net.input, encoding=enc))


def assert_same_spikes(a: SimResult, b: SimResult):
    assert set(a.trains) == set(b.trains)
    for name in a.trains:
        diff = int((a.trains[name] != b.trains[name]).sum())
        assert diff == 0, f"{name}: {diff} spikes differ ({b.backend} vs {a.backend})"
    for name in a.counts:
        np.testing.assert_array_equal(a.counts[name], b.counts[name])


@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("schedule, buffer", [("unrolled", None), ("looped", "replay"), ("looped", "regenerate")])
def test_fast_equals_reference(net_name, schedule, buffer):
    net = NETS[net_name]()
    x = dyadic_input((2,) + net.input.shape, seed=3)
    kw = dict(schedule=schedule, record=True, state_buffer=buffer, window_ticks=5 if buffer == "regenerate" else None)
    ref = simulate(net, x, 24, backend="reference", **kw)
    for chunk in (1, 5, 64):
        fast = simulate(net, x, 24, backend="fast", chunk_ticks=chunk, **kw)
        assert_same_spikes(ref, fast)
        assert fast.synaptic_ops == pytest.approx(ref.synaptic_ops, rel=1e-9)
    assert sum(ref.spikes_per_population.values()) > 100  # the comparison is not vacuous


@pytest.mark.parametrize("encoding", ["poisson", "regular"])
def test_fast_equals_reference_spike_encodings(encoding):
    net = _with_encoding(random_convnet(4), encoding)
    x = dyadic_input((2,) + net.input.shape, seed=1)
    ref = simulate(net, x, 20, backend="reference", record=True, seed=5)
    fast = simulate(net, x, 20, backend="fast", record=True, seed=5, chunk_ticks=7)
    assert_same_spikes(ref, fast)


def test_strong_inputs_exact():
    """Inputs above θ in one tick (several spikes' worth, one spike per tick at most) stay exact."""
    net = NETS["strong"]()
    x = dyadic_input((2,) + net.input.shape, seed=2)
    fast = simulate(net, x, 24, backend="fast", record=True, chunk_ticks=8)
    assert_same_spikes(simulate(net, x, 24, backend="reference", record=True), fast)


def test_float64_mode_exact_on_float_weights():
    """Arbitrary float weights: float64 currents reproduce the float64 reference exactly."""
    net = tiny_iterative_network(12, 12, seed=4)
    x = np.random.default_rng(0).uniform(0, 1, (2,) + net.input.shape).astype(np.float32)
    ref = simulate(net, x, 30, backend="reference", record=True)
    fast = simulate(net, x, 30, backend="fast", record=True, precision="float64", chunk_ticks=7)
    assert_same_spikes(ref, fast)


@pytest.mark.parametrize("net_name", ["tiny", "conv1"])
def test_looped_is_unrolled_shifted(net_name):
    net = NETS[net_name]()
    x = dyadic_input((2,) + net.input.shape, seed=0)
    n_it = net.block.iterations
    looped = simulate(net, x, 10 * n_it, backend="reference", schedule="looped", record=True, state_buffer="replay")
    unrolled = simulate(net, x, 10, backend="reference", schedule="unrolled", record=True)
    tp = looped.phase_ticks
    assert tp == 10
    for name, tr in looped.trains.items():
        n = int(name.split("@")[1]) if "@" in name else 1
        np.testing.assert_array_equal(tr[:, (n - 1) * tp:n * tp], unrolled.trains[name][:, :tp], err_msg=name)
        outside = np.delete(tr, np.s_[(n - 1) * tp:n * tp], axis=1)
        assert not outside.any(), f"{name} spikes outside its phase"


def test_looped_output_holds_its_phase_end_value():
    """After its phase, a looped output is what the unrolled run decodes at tick T_phase (its window
    ends with the phase), not a rate diluted over ticks in which its population did not run."""
    from itnet_neuro.sim.metrics import decode

    net = NETS["tiny"]()
    x = dyadic_input((2,) + net.input.shape, seed=0)
    n_it, tp = net.block.iterations, 10
    looped = simulate(net, x, tp * n_it, backend="reference", schedule="looped", state_buffer="replay",
                      grid=np.arange(1, tp * n_it + 1))
    unrolled = simulate(net, x, tp, backend="reference", schedule="unrolled", grid=np.arange(1, tp + 1))
    unet = net.unroll()
    for r in unet.readouts:
        held = decode(looped, unet, r, len(looped.grid) - 1)
        np.testing.assert_allclose(held, decode(unrolled, unet, r, tp - 1), rtol=1e-12, err_msg=r.name)
        assert np.abs(held - r.bias.reshape(1, -1, 1, 1)).max() > 1e-6  # spikes reached it: not vacuous


@pytest.mark.parametrize("neuron", [dict(), dict(leak=0.5), dict(reset="zero"), dict(v_min=-0.75),
                                    dict(v_max=1.25), dict(v_min=-2.0, v_max=2.5), dict(reset="zero", leak=0.25,
                                                                                       v_min=-1.0, v_max=1.5)])
def test_fire_matches_loop(neuron):
    from itnet_neuro.sim.fast import fire

    rng = np.random.default_rng(0)
    theta = np.round(rng.uniform(0.5, 1.5, 40) * 8) / 8
    leak, reset = neuron.get("leak", 0.0), neuron.get("reset", "subtract")
    lo, hi = neuron.get("v_min", -np.inf), neuron.get("v_max", np.inf)
    for scale in (0.3, 2.0, 1.0):
        cur = (np.round(rng.normal(0.1, scale, (3, 25, 40)) * 16) / 16).astype(np.float32)
        v0 = np.broadcast_to(0.5 * theta, (3, 40)).copy()
        v, want = v0.copy(), np.zeros(cur.shape, np.uint8)
        for t in range(cur.shape[1]):  # the neuron of itnet_neuro.sim.core, written out
            v = np.clip((1 - leak) * v + cur[:, t], lo, hi)
            s = v >= theta
            v = np.where(s, 0.0, v) if reset == "zero" else v - theta * s
            want[:, t] = s
        got_v = v0.copy()
        got = fire(cur, got_v, theta, **neuron)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got_v, v, atol=1e-12)


def test_ops_reference_vs_tensorflow_vs_matrix():
    from itnet_neuro.sim.kernels.tf_ops import apply_connection, to_nchw, to_nhwc
    from itnet_neuro.sim.reference import apply_op, connection_matrix

    net = random_convnet(5).unroll()
    rng = np.random.default_rng(1)
    for c in net.connections:
        x = rng.uniform(0, 1, (2,) + net.shape_of(c.pre))
        y = apply_op(net, c, x)
        y_tf = to_nchw(apply_connection(net, c, to_nhwc(x.astype(np.float32))))
        np.testing.assert_allclose(y, y_tf, rtol=1e-5, atol=1e-5, err_msg=c.name)
        m = connection_matrix(net, c)
        post = net.shape_of(c.post)
        full = (m @ x.reshape(2, -1).T).T.reshape((2,) + post)
        np.testing.assert_allclose(full[:, c.post_offset:c.post_offset + y.shape[1]], y, atol=1e-12, err_msg=c.name)


def test_delay_and_first_input_tick():
    """Without bias no population spikes before input can reach it (the input emits at tick 0, a
    delay d takes tick t to t + d), and the bound is reached."""
    net = random_convnet(6, strong=True)
    net = dataclasses.replace(net, populations=tuple(dataclasses.replace(p, bias=np.zeros_like(p.bias))
                                                     for p in net.populations))
    x = dyadic_input((2,) + net.input.shape, seed=0)
    res = simulate(net, x, 16, backend="fast", record=True)
    from itnet_neuro.sim.metrics import input_arrival_ticks

    first_input = input_arrival_ticks(net.unroll())
    tight = 0
    for name, tr in res.trains.items():
        ticks = np.nonzero(tr.reshape(tr.shape[0], tr.shape[1], -1).any(axis=(0, 2)))[0]
        if len(ticks):
            assert ticks[0] + 1 >= first_input[name], name
            tight += ticks[0] + 1 == first_input[name]
    assert first_input["a"] == 1 and first_input["head"] == first_input["low"] + 2
    assert tight >= len(res.trains) // 2


def test_memory_estimate_refuses_with_advice():
    net = random_convnet(0)
    x = dyadic_input((4,) + net.input.shape)
    with pytest.raises(SimulationError, match="--batch-size|smaller input"):
        simulate(net, x, 8, backend="fast", batch_size=4, max_memory=1000)


# ------------------------------------------------------------------------------------------- metrics
def _toy_result(counts, grid, window_start=1):
    return SimResult(backend="x", schedule="unrolled", ticks=int(grid[-1]), phase_ticks=None, grid=np.array(grid),
                     counts=counts, window_start={"r": window_start}, spikes_per_population={},
                     synaptic_ops={}, images=counts[next(iter(counts))].shape[0])


def _toy_net():
    from itnet_neuro.ir.graph import InputSpec, Network, Population, Readout, ReadoutTerm, Connection

    pop = Population("p", (2, 1, 2), threshold=1.0, bias=0.0, decode_scale=np.array([2.0, 1.0]))
    conn = Connection("c", "in", "p", "identity", np.ones(1).repeat(2))
    ro = Readout("r", 0, (ReadoutTerm("p", np.eye(2)),), np.zeros(2))
    return Network("toy", InputSpec("in", (2, 1, 2)), (pop,), (conn,), (ro,))


def test_decode_and_miou_by_hand():
    from itnet_neuro.sim.metrics import decode, output_metrics

    net = _toy_net()
    # one image, 2 channels × 1 × 2 pixels; counts at ticks 1, 2, 4
    c = np.zeros((1, 3, 2, 1, 2), np.uint32)
    c[0, :, 0, 0, 0] = [0, 1, 1]   # pixel 0: class 0 rate 1/4 ·2 = 0.5 at tick 4
    c[0, :, 1, 0, 0] = [0, 0, 1]   # class 1 rate 1/4 ·1 = 0.25 → class 0 wins at tick 4
    c[0, :, 0, 0, 1] = [0, 0, 0]
    c[0, :, 1, 0, 1] = [1, 1, 2]   # pixel 1: class 1
    res = _toy_result({"p": c}, [1, 2, 4])
    logits = decode(res, net, net.readouts[0], 2, decoder="cumulative")
    np.testing.assert_allclose(logits[0, :, 0, :], [[0.5, 0.0], [0.25, 0.5]])
    labels = np.array([[[0, 1]]])
    ann = [np.eye(2)[labels].transpose(0, 3, 1, 2)]  # an ANN that is right everywhere: mIoU 1
    out = output_metrics(res, net, labels, ann, tick_seconds=0.5, decoder="cumulative")[0]
    # tick 1: pixel 0 → logits (0, 0) → class 0, pixel 1 → class 1: both right → mIoU 1
    # tick 2: pixel 0 → (1, 0) → class 0; right again
    assert out["miou_over_time"] == [1.0, 1.0, 1.0]
    assert out["first_output_tick"] == out["first_spike_tick"] == 1  # one connection (delay 1) from the input
    assert out["ticks_to_90"] == 1 and out["seconds_to_first_output"] == 0.5


def test_first_output_and_ticks_to_90():
    from itnet_neuro.sim.metrics import _stays_above

    grid = np.array([1, 2, 3, 4, 5])
    curve = np.array([np.nan, 0.5, 0.95, 0.85, 1.0])
    assert _stays_above(curve, grid, 0.9) == 5
    assert _stays_above(curve, grid, 0.8) == 3
    assert _stays_above(curve, grid, 0.4) == 2


# ------------------------------------------------------------------------------------------ hardware
def test_hardware_quantizes_and_mismatch_is_seeded():
    from itnet_neuro.sim.hardware import Hardware

    net = tiny_iterative_network(8, 8)
    tn = Hardware.from_chip("truenorth")
    qnet = tn.apply(net, "unrolled")
    assert qnet.block is None and any("@" in p.name for p in qnet.populations)
    w = next(c for c in qnet.connections if c.name == "hidden_to_state@2").weight
    assert len(np.unique(w)) <= 2 ** 9  # integer levels
    bss = Hardware.from_chip("brainscales2", seed=1)
    a = bss.apply(net, "looped")
    b = Hardware.from_chip("brainscales2", seed=1).apply(net, "looped")
    c = Hardware.from_chip("brainscales2", seed=2).apply(net, "looped")
    wa, wb, wc = (next(k for k in n.connections if k.name == "hidden_to_state").weight for n in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)
    x = dyadic_input((1,) + net.input.shape)
    r1 = simulate(net, x, 16, hardware=Hardware.from_chip("brainscales2", seed=1), record=True)
    r2 = simulate(net, x, 16, hardware=Hardware.from_chip("brainscales2", seed=1), record=True)
    for k in r1.trains:
        np.testing.assert_array_equal(r1.trains[k], r2.trains[k])


def _one_dense_layer(threshold, bias):
    """input (3, 1, 1) → dense → p (3, 1, 1); max |w| = 127/16, so DYNAP-CNN's 8-bit step is exactly 1/16."""
    from itnet_neuro.ir.graph import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

    w = np.array([[127 / 16, 1.0, 0.0], [0.0, 0.5, -2.0], [1.0, 1.0, 1.0]])
    p = Population("p", (3, 1, 1), threshold=threshold, bias=bias, decode_scale=1.0)
    return Network("one-layer", InputSpec("x", (3, 1, 1)), (p,), (Connection("c", "x", "p", "dense", w),),
                   (Readout("r", 0, (ReadoutTerm("p", np.eye(3)),), np.zeros(3)),))


def test_hardware_neuron_ranges_and_clip_counts_hand_worked():
    """DYNAP-CNN, weight step 1/16: thresholds in [1, 2^15 − 1] steps (the 16-bit signed membrane tops
    out before the 16-bit threshold), biases in ±127 steps (8 bits), membrane saturating at 16 bits."""
    from itnet_neuro.sim.hardware import Hardware, clip_summary

    hw = Hardware.from_chip("dynapcnn")
    # thresholds 0.01 → 0.16 steps → 1 (raised ×6.25), 1.0 → 16, 3000 → 48000 → 32767 (lowered ×1.465)
    # biases 10 → 160 → 127 (lowered ×1.26), −0.5 → −8, 8 → 128 → 127
    net = hw.apply(_one_dense_layer([0.01, 1.0, 3000.0], [10.0, -0.5, 8.0]), "unrolled")
    p = net.population("p")
    np.testing.assert_array_equal(p.threshold[0], [1 / 16, 1.0, 32767 / 16])
    np.testing.assert_array_equal(p.bias[0], [127 / 16, -0.5, 127 / 16])
    assert (p.reset, p.leak, p.v_min, p.v_max) == ("subtract", 0.0, -2048.0, 32767 / 16)
    assert hw.report["clipped"] == {"weights": 0, "thresholds": 2, "biases": 2}
    f = hw.report["clip_factors"]
    assert f["thresholds"] == pytest.approx({"lowered": 48000 / 32767, "raised": 6.25})
    assert f["biases"] == pytest.approx({"lowered": 160 / 127})
    assert clip_summary(hw.report["clipped"], f) == ("clipped to the chip's ranges: weights 0, thresholds 2 "
                                                     "(lowered up to 1.46×, raised up to 6.25×), biases 2 "
                                                     "(lowered up to 1.26×)")
    assert hw.report["neuron"]["membrane_range_steps"] == [-32768, 32767]
    fine = Hardware.from_chip("dynapcnn")
    fine.apply(_one_dense_layer([1.0, 2.0, 3.0], [0.5, -0.5, 1.0]), "unrolled")
    assert fine.report["clipped"] == {"weights": 0, "thresholds": 0, "biases": 0}


def test_weight_clips_counted_where_a_quantizer_saturates():
    from hardware_models.device import quantize_axon_types, quantize_symmetric
    from itnet_neuro.sim.hardware import _weight_clips

    w = np.array([[0.5, -3.0, 1.0, 2.0]])
    assert _weight_clips(w, quantize_symmetric(w, 8)) == 0  # scaled to the largest weight: nothing clips
    assert _weight_clips(w, quantize_symmetric(w, 8, max_abs=1.0)) == 2  # −3 and 2 saturate at ±1
    assert _weight_clips(w.T, quantize_axon_types(w.T, 4, 9)) == 0


def test_hardware_brainscales2_neuron():
    """Reset to zero, leak 1 − e^(−0.1) per tick, 10-bit thresholds, and the per-neuron threshold mismatch as a
    threshold_map: shared by the iterations on the looped schedule, one pattern per copy when unrolled."""
    from itnet_neuro.sim.hardware import Hardware

    net = tiny_iterative_network(8, 8)
    looped = Hardware.from_chip("brainscales2", seed=1).apply(net, "looped")
    for p in looped.populations:
        assert (p.reset, p.v_min, p.v_max) == ("zero", None, None)
        assert p.leak == pytest.approx(1 - np.exp(-0.1))
        ratio = p.threshold_map / p.threshold[:, :, None, None]  # the mismatch factors
        np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-6)
        assert 0.02 < float(np.std(ratio)) < 0.1  # neuron_mismatch_rel_std = 0.05
    unrolled = Hardware.from_chip("brainscales2", seed=1).apply(net, "unrolled")
    a, b = (unrolled.population(f"hidden@{n}") for n in (1, 2))
    assert not np.allclose(a.threshold_map[0] / a.threshold[0, :, None, None],
                           b.threshold_map[0] / b.threshold[0, :, None, None])


@pytest.mark.slow
def test_shipped_model_clip_counts():
    """The shipped model's parameters outside the chips' ranges (per-connection weight quantization; the
    per-core realization will change these). TrueNorth: 117 of 4398 biases exceed the 9-bit leak range
    (up to 4.57×); BrainScaleS-2, looped: 21 thresholds above the 10-bit range (lowered up to 1.47×) and 6
    below one step (raised up to 5.0×)."""
    from itnet_neuro.sim.experiment import load_model
    from itnet_neuro.sim.hardware import Hardware

    net, _, _ = load_model(None)
    tn = Hardware.from_chip("truenorth")
    tn.apply(net, "unrolled")
    assert tn.report["clipped"] == {"weights": 0, "thresholds": 0, "biases": 117}
    assert tn.report["clip_factors"]["biases"]["lowered"] == pytest.approx(4.566, abs=1e-3)
    bss = Hardware.from_chip("brainscales2")
    bss.apply(net, "looped")
    assert bss.report["clipped"] == {"weights": 0, "thresholds": 27, "biases": 0}
    assert bss.report["clip_factors"]["thresholds"] == pytest.approx({"lowered": 1.4677, "raised": 5.0062}, abs=1e-3)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_simulate_tiny_network(tmp_path, capsys):
    from itnet_neuro.cli import main
    from itnet_neuro.ir.io import save_network

    path = tmp_path / "tiny.snn.h5"
    save_network(tiny_iterative_network(16, 16), path)
    out = tmp_path / "results.json"
    rc = main(["simulate", str(path), "--images", "2", "--ticks", "24", "-o", str(out), "--plot",
               str(tmp_path / "plots"), "--chip", "loihi"])
    assert rc == 0
    res = json.loads(out.read_text())
    for key in ("backend", "ticks", "outputs", "spikes", "synaptic_ops", "energy_joules", "clipped", "neuron"):
        assert key in res
    assert set(res["clipped"]) >= {"weights", "thresholds", "biases"}
    assert res["neuron"]["reset"] == "zero"  # Loihi resets to zero
    printed = capsys.readouterr().out
    assert "clipped to the chip's ranges: weights 0, thresholds " in printed
    assert res["ticks"] == 24 and len(res["outputs"]) == 3
    for o in res["outputs"]:
        for key in ("index", "ann_miou", "snn_miou", "miou_over_time", "first_output_tick", "ticks_to_90",
                    "ticks_to_99", "seconds_to_first_output"):
            assert key in o
        assert len(o["miou_over_time"]) == len(res["grid"])
    assert [o["first_output_tick"] for o in res["outputs"]] == sorted(o["first_output_tick"] for o in res["outputs"])
    assert res["energy_joules"] > 0
    assert {p.rsplit("/", 1)[1] for p in res["plots"]} == {"miou_over_time.png", "predictions.png", "spike_rates.png"}

    from matplotlib.image import imread

    from itnet_neuro.sim.plots import plot_chip_comparison

    one = imread(plot_chip_comparison({"loihi": res}, tmp_path / "one.png"))
    two = imread(plot_chip_comparison({"loihi": res, "again": res}, tmp_path / "two.png"))
    assert two.shape[1] > 1.7 * one.shape[1]  # one panel per chip, side by side
    with pytest.raises(ValueError):
        plot_chip_comparison({}, tmp_path / "none.png")


def test_cli_unknown_backend_is_usage_error(capsys):
    from itnet_neuro.cli import main

    assert main(["simulate", "--backend", "nope"]) == 2
