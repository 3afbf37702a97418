"""Device models: quantizers against hand-worked examples, mismatch statistics, timing, energy."""

from __future__ import annotations

import numpy as np
import pytest

from hardware_models import list_chips, load_chip
from hardware_models.device import (ChipInstance, NeuronRanges, apply_weight_mismatch, energy_joules,
                                    leak_per_tick, neuron_ranges, quantize_axon_types, quantize_exponent,
                                    quantize_float, quantize_sign_by_row, quantize_symmetric, quantize_trinary,
                                    quantize_weights, sample_mismatch, sample_temporal_noise, seconds_to_ticks,
                                    store_parameter, ticks_to_seconds)

# ------------------------------------------------------------------------------------------ symmetric


def test_symmetric_hand_worked():
    # bits=3: M = 3, s = max|w| / 3 = 1/3; w/s = [1.5, -3, 0.78, 0] -> rint (half to even) [2, -3, 1, 0]
    q = quantize_symmetric([0.5, -1.0, 0.26, 0.0], bits=3)
    assert q.integers.tolist() == [2, -3, 1, 0]
    assert q.scale == pytest.approx(1 / 3)
    np.testing.assert_allclose(q.weights, [2 / 3, -1.0, 1 / 3, 0.0])


def test_symmetric_saturates_above_max_abs_and_handles_zeros():
    q = quantize_symmetric([2.0, -0.5], bits=4, max_abs=1.0)  # M = 7, s = 1/7
    assert q.integers.tolist() == [7, -4]  # 2.0 saturates at 7; -0.5*7 = -3.5 -> -4 (half to even)
    z = quantize_symmetric(np.zeros((2, 3)), bits=8)
    assert not z.integers.any() and not z.weights.any()


# ------------------------------------------------------------------------------------------- exponent


def test_exponent_hand_worked_groups():
    # mantissa 3 bits: M = 7 for one sign, 3 for mixed signs; exponents in [-2, 1]; unit 1.0
    w = np.array([6.0, 2.0, 0.5, -0.25, 100.0, 0.01])
    groups = np.array([0, 0, 1, 1, 2, 3])
    q = quantize_exponent(w, 3, -2, 1, groups=groups, unit=1.0)
    # group 0: ceil(log2(6/7)) = 0 -> step 1: [6, 2]
    # group 1 (mixed, M=3): ceil(log2(0.5/3)) = -2 -> step 0.25: [2, -1]
    # group 2: ceil(log2(100/7)) = 4, clipped to 1 -> step 2: 50 saturates at 7 -> 14
    # group 3: ceil(log2(0.01/7)) = -10, clipped to -2 -> step 0.25: 0.04 -> 0 (lost)
    assert dict(q.extra["exponents"]) == {0: 0, 1: -2, 2: 1, 3: -2}
    assert dict(q.extra["group_max_int"]) == {0: 7, 1: 3, 2: 7, 3: 7}
    assert q.integers.tolist() == [6, 2, 2, -1, 7, 0]
    np.testing.assert_allclose(q.weights, [6.0, 2.0, 0.5, -0.25, 14.0, 0.0])


def test_loihi_mixed_sign_costs_a_bit():
    loihi = load_chip("loihi")
    q = quantize_weights(np.array([1.0, -0.5]), loihi)
    # mixed signs: M = 2^7 - 1 = 127; default unit puts the group at exponent_max = 7
    assert q.integers.tolist() == [127, -64]
    assert q.extra["exponents"][0] == loihi.weights.exponent_max
    q1 = quantize_weights(np.array([1.0, 0.5]), loihi)  # one sign: M = 255
    assert q1.integers.tolist() == [255, 128]


# ----------------------------------------------------------------------------------------- axon types


def _check_truenorth_constraint(q, n_types):
    types, tw, conn = q.extra["axon_types"], q.extra["type_weights"], q.extra["connected"]
    ints = q.integers
    assert types.shape == (ints.shape[0],) and types.min() >= 0 and types.max() < n_types
    # every entry is either off or the neuron's weight for that axon's type
    expected = np.where(conn, tw[:, types].T, 0)
    np.testing.assert_array_equal(ints, expected)
    for n in range(ints.shape[1]):
        nonzero = set(ints[:, n][ints[:, n] != 0].tolist())
        assert len(nonzero) <= n_types
    np.testing.assert_allclose(q.weights, ints * q.scale)


def test_axon_types_exact_when_the_matrix_fits_the_constraint():
    # 5 axons × 2 neurons, 2 types, bits=3 (integers -3..3, scale 1 since max|w| = 3):
    # axons 0,1 share type A (neuron weights 3, 1); axons 2,3 type B (-2, 3), axon 3 is off for
    # neuron 1; axon 4 connects nowhere.
    W = np.array([[3, 1], [3, 1], [-2, 3], [-2, 0], [0, 0]], dtype=float)
    q = quantize_axon_types(W, n_types=2, bits=3)
    np.testing.assert_array_equal(q.weights, W)
    t = q.extra["axon_types"]
    assert t[0] == t[1] and t[2] == t[3] and t[0] != t[2]
    assert not q.extra["connected"][3, 1] and not q.extra["connected"][4].any()
    _check_truenorth_constraint(q, 2)


def test_axon_types_hand_worked_single_type():
    # one type, one neuron, w = [2, 1, -1], bits=3: M = 3, scale = 2/3, units x = [3, 1.5, -1.5].
    # Best single value: top-1 positive saves 9, top-2 saves (4.5)^2/2 = 10.125 -> v = 2.25 -> rint 2;
    # the negative axon stays off. Realized: [2, 2, 0] * 2/3.
    q = quantize_axon_types(np.array([[2.0], [1.0], [-1.0]]), n_types=1, bits=3)
    assert q.integers[:, 0].tolist() == [2, 2, 0]
    np.testing.assert_allclose(q.weights[:, 0], [4 / 3, 4 / 3, 0.0])
    assert q.extra["type_weights"].tolist() == [[2]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_axon_types_constraint_on_random_cores(seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(64, 32)) * (rng.random((64, 32)) < 0.3)  # sparse, like a conv tile
    q = quantize_axon_types(W, seed=seed)
    _check_truenorth_constraint(q, 4)
    assert q.rms_error(W) < np.sqrt(np.mean(W ** 2))  # better than dropping every weight
    q2 = quantize_axon_types(W, seed=seed)
    np.testing.assert_array_equal(q.integers, q2.integers)  # deterministic by seed


def test_axon_types_more_initializations_never_fit_worse():
    W = np.random.default_rng(5).normal(size=(48, 24))
    one = quantize_axon_types(W, seed=3)
    four = quantize_axon_types(W, seed=3, n_init=4)
    assert four.rms_error(W) <= one.rms_error(W)
    _check_truenorth_constraint(four, 4)


def test_truenorth_dispatch_uses_4_types_and_9_bits():
    W = np.random.default_rng(0).normal(size=(16, 8))
    q = quantize_weights(W, load_chip("truenorth"))
    assert q.scheme == "axon-types"
    _check_truenorth_constraint(q, 4)
    assert np.abs(q.integers).max() <= 255


def test_axon_types_rejects_non_matrix():
    with pytest.raises(ValueError, match=r"n_axons × n_neurons"):
        quantize_axon_types(np.zeros(5))


# ------------------------------------------------------------------------------------ trinary, rows


def test_trinary_hand_worked():
    # mean|w| = 0.7625, threshold 0.53375: [0.9, -1.1, 0.05, 1.0] -> [1, -1, 0, 1], alpha = mean(0.9, 1.1, 1.0)
    q = quantize_trinary([0.9, -1.1, 0.05, 1.0])
    assert q.integers.tolist() == [1, -1, 0, 1]
    assert q.scale == pytest.approx(1.0)
    np.testing.assert_allclose(q.weights, [1.0, -1.0, 0.0, 1.0])


def test_sign_by_row_hand_worked():
    # bits=2: M = 3, scale = 1/3. Input 0 has both signs -> two rows; input 1 one row; input 2 none.
    w = np.array([[0.5, -1.0], [0.2, 0.4], [0.0, 0.0]])
    q = quantize_sign_by_row(w, bits=2)
    assert q.extra["excitatory"].tolist() == [[2, 0], [1, 1], [0, 0]]
    assert q.extra["inhibitory"].tolist() == [[0, 3], [0, 0], [0, 0]]
    assert q.extra["rows_per_input"].tolist() == [2, 1, 0]
    assert q.extra["n_rows"] == 3
    np.testing.assert_allclose(q.weights, [[2 / 3, -1.0], [1 / 3, 1 / 3], [0.0, 0.0]])


def test_brainscales2_dispatch_six_bit_magnitude():
    q = quantize_weights(np.array([[1.0, -1.0]]), load_chip("brainscales2"))
    assert q.scheme == "sign-by-row" and q.integers.tolist() == [[63, -63]]


@pytest.mark.parametrize("name", list_chips())
def test_every_chip_has_a_quantizer(name):
    chip = load_chip(name)
    W = np.random.default_rng(1).normal(size=(12, 6))
    q = quantize_weights(W, chip)
    assert q.weights.shape == W.shape and q.integers.shape == W.shape
    if chip.weights.sign == "float":
        np.testing.assert_array_equal(q.weights, W)
    else:
        assert np.abs(q.integers).max() <= chip.weights.max_int_for(mixed_sign=False)
        assert q.rms_error(W) < 0.5 * W.std()


def test_float_is_identity():
    w = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(quantize_float(w).weights, w)


# ------------------------------------------------------------------------------------------- mismatch


def test_mismatch_reproducible_by_seed_and_stream():
    a = sample_mismatch((50, 40), 0.1, seed=7)
    np.testing.assert_array_equal(a, sample_mismatch((50, 40), 0.1, seed=7))
    assert not np.array_equal(a, sample_mismatch((50, 40), 0.1, seed=8))
    assert not np.array_equal(a, sample_mismatch((50, 40), 0.1, seed=7, stream="neurons"))


@pytest.mark.parametrize("rel_std", [0.01, 0.05, 0.2])
def test_mismatch_statistics_match_parameters(rel_std):
    n = 400_000
    g = sample_mismatch(n, rel_std, seed=3)
    # mean within 5 standard errors; std within 2 %
    assert abs(g.mean() - 1.0) < 5 * rel_std / np.sqrt(n)
    assert g.std() == pytest.approx(rel_std, rel=0.02)
    assert g.min() >= 0


def test_zero_mismatch_is_exactly_one():
    np.testing.assert_array_equal(sample_mismatch((3, 4), 0.0, seed=1), np.ones((3, 4)))
    w = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(apply_weight_mismatch(w, load_chip("truenorth"), seed=1), w)


def test_temporal_noise_differs_per_trial_and_repeats_per_seed():
    a = sample_temporal_noise(1000, 0.05, seed=1, trial=0)
    b = sample_temporal_noise(1000, 0.05, seed=1, trial=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, sample_temporal_noise(1000, 0.05, seed=1, trial=0))
    big = sample_temporal_noise(200_000, 0.05, seed=2, trial=5)
    assert big.std() == pytest.approx(0.05, rel=0.02)


def test_chip_instance_uses_the_chips_noise_figures():
    bss2 = load_chip("brainscales2")
    inst = ChipInstance(bss2, seed=11)
    g = inst.weight_factors(200_000)
    assert g.std() == pytest.approx(bss2.noise.weight_mismatch_rel_std, rel=0.02)
    np.testing.assert_array_equal(g, ChipInstance(bss2, seed=11).weight_factors(200_000))
    n = inst.neuron_factors(200_000)
    assert n.std() == pytest.approx(bss2.noise.neuron_mismatch_rel_std, rel=0.02)
    t = inst.temporal_factors(200_000, trial=0)
    assert t.std() == pytest.approx(bss2.noise.temporal_noise_rel_std, rel=0.02)


def test_temporal_noise_tuple_trials_are_separate_streams():
    a = sample_temporal_noise(50, 0.1, seed=1, trial=(7, 0, 3))
    np.testing.assert_array_equal(a, sample_temporal_noise(50, 0.1, seed=1, trial=(7, 0, 3)))
    assert not np.array_equal(a, sample_temporal_noise(50, 0.1, seed=1, trial=(7, 1, 3)))
    assert not np.array_equal(a, sample_temporal_noise(50, 0.1, seed=1, trial=(7, 0, 4)))


# ------------------------------------------------------------------------------------ the chip's neuron


def test_leak_per_tick_from_membrane_time_constant():
    # BrainScaleS-2: τ_m = 10 ms and a tick of 1 ms, both biological: 1 − e^(−0.1)
    assert leak_per_tick(load_chip("brainscales2")) == pytest.approx(0.0951625819640404, rel=1e-12)
    assert leak_per_tick(load_chip("brainscales1")) == pytest.approx(0.0951625819640404, rel=1e-12)
    assert leak_per_tick(load_chip("truenorth")) == 0.0  # IF: no membrane time constant


def test_neuron_ranges_hand_worked():
    tn = neuron_ranges(load_chip("truenorth"))  # 18-bit threshold, 9-bit leak, 20-bit membrane
    assert tn.threshold == (1, 2 ** 18 - 1) and tn.bias == (-255, 255) and tn.membrane == (-2 ** 19, 2 ** 19 - 1)
    dyn = neuron_ranges(load_chip("dynapcnn"))  # 16-bit threshold, but the 16-bit signed membrane tops out first
    assert dyn.threshold == (1, 2 ** 15 - 1) and dyn.bias == (-127, 127) and dyn.membrane == (-2 ** 15, 2 ** 15 - 1)
    bss = neuron_ranges(load_chip("brainscales2"))
    assert bss.threshold == (1, 1023) and bss.bias is None and bss.membrane is None
    assert neuron_ranges(load_chip("ideal")) == NeuronRanges(None, None, None)


def test_store_parameter_hand_worked():
    # step 0.5: 0.1 → 0 (raised to 1, ×5), 2.0 → 4, 700 → 1400 (lowered to 1023, ×1400/1023), 511.6 → 1023 (fits)
    r = store_parameter([0.1, 2.0, 700.0, 511.6], 0.5, 1, 1023)
    np.testing.assert_array_equal(r.integers, [1, 4, 1023, 1023])
    np.testing.assert_array_equal(r.values, [0.5, 2.0, 511.5, 511.5])
    assert r.clipped == 2
    assert r.lowered == pytest.approx(1400 / 1023) and r.raised == pytest.approx(5.0)
    r = store_parameter([-300.0, 300.0, -12.3], 1.0, -255, 255)  # a signed 9-bit range
    np.testing.assert_array_equal(r.integers, [-255, 255, -12])
    assert r.clipped == 2 and r.lowered == pytest.approx(300 / 255) and r.raised is None
    r = store_parameter([3.3, -1e6], 0.25, None, None)  # unbounded: rounding only, nothing clipped
    assert r.clipped == 0 and r.lowered is None and list(r.values) == [3.25, -1e6]
    with pytest.raises(ValueError, match="step must be > 0"):
        store_parameter([1.0], 0.0, 1, 2)


# ----------------------------------------------------------------------------------- timing, energy


def test_ticks_to_seconds():
    assert ticks_to_seconds(1000, load_chip("truenorth")) == pytest.approx(1.0)
    assert ticks_to_seconds(1000, load_chip("brainscales2")) == pytest.approx(1e-3)  # 1 ms bio / 1000
    np.testing.assert_allclose(ticks_to_seconds(np.array([1, 10]), load_chip("brainscales1")), [1e-7, 1e-6])
    assert seconds_to_ticks(1.0, load_chip("truenorth")) == pytest.approx(1000)


def test_energy_truenorth_hand_worked():
    tn = load_chip("truenorth")
    e = energy_joules(synaptic_ops=1e6, spikes=1e4, seconds=0.5, chip=tn)
    assert e.components["synaptic_ops"] == pytest.approx(26e-6)  # 26 pJ × 1e6
    assert e.total_j == pytest.approx(26e-6)
    assert set(e.missing) == {"spikes", "static"} and not e.complete
    assert float(e) == e.total_j


def test_energy_loihi_and_zero_counts():
    lo = load_chip("loihi")
    e = energy_joules(synaptic_ops=1e6, spikes=1e3, seconds=0.0, chip=lo)
    assert e.total_j == pytest.approx(23.6e-12 * 1e6 + 1.7e-12 * 1e3)
    assert e.complete and e.components["static"] == 0.0
    with pytest.raises(ValueError, match="must be >= 0"):
        energy_joules(-1, 0, 0, lo)


def test_energy_ideal_is_all_unknown():
    e = energy_joules(10, 10, 1.0, load_chip("ideal"))
    assert e.total_j == 0.0 and set(e.missing) == {"synaptic_ops", "spikes", "static"}
