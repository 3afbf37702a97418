"""Device models: weight quantization per chip family, analog mismatch and noise, timing, energy.

numpy only. Every function documents its equation; mapping code calls :func:`quantize_weights`
with a :class:`~hardware_models.spec.ChipSpec` and gets back both the float weights the chip
realizes and their integer representation, so the simulator can use either.

Quantizers (``weights`` below means the float values the hardware realizes):

=====================  ====================================================================
chip ``weights.sign``  quantizer
=====================  ====================================================================
``"float"``            identity (:func:`quantize_float`)
``"signed"``           k-bit symmetric, one scale (:func:`quantize_symmetric`)
``"exponent"``         k-bit mantissa with a power-of-two exponent per group (Loihi,
                       :func:`quantize_exponent`)
``"axon-types"``       one type per axon, one signed integer per neuron and type (TrueNorth,
                       :func:`quantize_axon_types`)
``"two-rows"``         unsigned magnitude, sign from the row (BrainScaleS, :func:`quantize_sign_by_row`)
(any)                  trinary {−1, 0, +1}·α (:func:`quantize_trinary`, Esser et al. 2016 style)
=====================  ====================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from hardware_models.errors import SpecError

__all__ = [
    "QuantizedWeights", "quantize_weights", "quantize_float", "quantize_symmetric", "quantize_exponent",
    "quantize_axon_types", "quantize_sign_by_row", "quantize_trinary",
    "sample_mismatch", "sample_temporal_noise", "apply_weight_mismatch", "ChipInstance",
    "ticks_to_seconds", "seconds_to_ticks", "EnergyEstimate", "energy_joules", "leak_per_tick", "NeuronRanges",
    "neuron_ranges", "StoredParameter", "store_parameter",
]


@dataclass(frozen=True)
class QuantizedWeights:
    """Result of a weight quantizer.

    Attributes
    ----------
    weights : ndarray of float64
        The values the chip realizes, same shape as the input: ``weights == integers * scale``
        (broadcast), except where ``extra`` says otherwise (never, for the quantizers here).
    integers : ndarray of int64
        Signed integer representation, same shape as the input.
    scale : float or ndarray of float64
        Value of one integer step, broadcastable to ``weights`` (an array for per-group scales).
    scheme : str
        Which quantizer produced it (``"float"``, ``"symmetric"``, ``"exponent"``,
        ``"axon-types"``, ``"sign-by-row"``, ``"trinary"``).
    extra : mapping
        Scheme-specific arrays, documented per quantizer (e.g. ``axon_types``).
    """

    weights: np.ndarray
    integers: np.ndarray
    scale: Any
    scheme: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def rms_error(self, w) -> float:
        """Root-mean-square difference between the realized weights and float weights ``w``."""
        w = np.asarray(w, dtype=np.float64)
        return float(np.sqrt(np.mean((self.weights - w) ** 2))) if w.size else 0.0


def _as_float(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (found NaN or inf)")
    return w


def _scale_for(w: np.ndarray, max_int: int, max_abs: float | None) -> float:
    """Step size mapping ``max_abs`` (default ``max|w|``) to ``max_int``."""
    peak = (float(np.max(np.abs(w))) if w.size else 0.0) if max_abs is None else float(max_abs)
    if peak < 0:
        raise ValueError(f"max_abs must be >= 0, got {max_abs}")
    # All-zero weights: any positive step represents them exactly; 1.0 keeps the integers at 0.
    return peak / max_int if peak > 0 else 1.0


# --------------------------------------------------------------------------------------------------
# quantizers


def quantize_float(w) -> QuantizedWeights:
    """Identity for the ideal chip: ``weights = w``; ``integers`` are zeros and ``scale`` is None."""
    w = _as_float(w)
    return QuantizedWeights(weights=w.copy(), integers=np.zeros(w.shape, np.int64), scale=None, scheme="float")


def quantize_symmetric(w, bits: int, *, max_abs: float | None = None) -> QuantizedWeights:
    """Symmetric uniform ``bits``-bit signed quantization with one scale.

    .. math::

        M = 2^{b-1} - 1, \\quad s = \\max|w| / M, \\quad
        q = \\operatorname{clip}(\\operatorname{round}(w / s), -M, M), \\quad \\hat w = q s

    Parameters
    ----------
    w : array_like
        Float weights, any shape.
    bits : int
        Bits including the sign (≥ 2).
    max_abs : float, optional
        Value mapped to ``M`` (default ``max|w|``); larger values saturate.

    Returns
    -------
    QuantizedWeights
        ``scheme="symmetric"``, scalar ``scale``.
    """
    if bits < 2:
        raise ValueError(f"symmetric quantization needs bits >= 2 (sign + magnitude), got {bits}")
    w = _as_float(w)
    max_int = 2 ** (bits - 1) - 1
    scale = _scale_for(w, max_int, max_abs)
    q = np.clip(np.rint(w / scale), -max_int, max_int).astype(np.int64)
    return QuantizedWeights(weights=q * scale, integers=q, scale=scale, scheme="symmetric")


def quantize_exponent(w, mantissa_bits: int, exponent_min: int, exponent_max: int, *, groups=None,
                      mixed_sign_costs_bit: bool = True, unit: float | None = None) -> QuantizedWeights:
    """Loihi-style weights: integer mantissa times a power-of-two exponent shared per group.

    For each group g (all weights sharing one exponent, e.g. one core's synapse group):

    .. math::

        M_g = \\begin{cases} 2^{b-1}-1 & \\text{mixed signs in } g \\text{ and mixed signs cost a bit}\\\\
                              2^{b}-1 & \\text{otherwise} \\end{cases}, \\qquad
        e_g = \\operatorname{clip}\\left(\\left\\lceil \\log_2 \\frac{\\max_g |w|}{M_g u} \\right\\rceil,
              e_{min}, e_{max}\\right)

    .. math::

        q = \\operatorname{clip}(\\operatorname{round}(w / (u 2^{e_g})), -M_g, M_g), \\qquad
        \\hat w = q \\, u \\, 2^{e_g}

    so each group uses the finest exponent at which its largest weight fits; groups whose weights
    are more than :math:`2^{e_{max}-e_{min}}` times smaller than the unit's range lose precision, and
    weights above :math:`M u 2^{e_{max}}` saturate. This follows nengo-loihi's ``SynapseConfig``
    (``shift_bits = 8 - weight_bits + is_mixed``; exponent range checked in ``validate``).

    Parameters
    ----------
    w : array_like
        Float weights, any shape.
    mantissa_bits : int
        ``b``: magnitude bits of a single-sign group (Loihi: 8).
    exponent_min, exponent_max : int
        Exponent range.
    groups : array_like of int, optional
        Group label per weight (same shape as ``w``); default: one group.
    mixed_sign_costs_bit : bool
        Whether a group holding both signs keeps only ``b − 1`` magnitude bits.
    unit : float, optional
        Weight value of mantissa 1 at exponent 0. Default: the largest group fits exactly at
        ``exponent_max`` (``u = max|w| / (M 2^{e_max})``).

    Returns
    -------
    QuantizedWeights
        ``scheme="exponent"``; ``scale`` is an array (``u 2^{e_g}`` per weight);
        ``extra["exponents"]`` maps group label → exponent, ``extra["unit"]`` is ``u``,
        ``extra["group_max_int"]`` maps group label → ``M_g``.
    """
    if exponent_min > exponent_max:
        raise ValueError(f"exponent_min ({exponent_min}) must be <= exponent_max ({exponent_max})")
    w = _as_float(w)
    labels = np.zeros(w.shape, np.int64) if groups is None else np.broadcast_to(np.asarray(groups), w.shape)
    uniq = np.unique(labels)

    def group_max_int(mask) -> int:
        vals = w[mask]
        mixed = bool(np.any(vals > 0) and np.any(vals < 0))
        return 2 ** (mantissa_bits - 1) - 1 if (mixed and mixed_sign_costs_bit) else 2 ** mantissa_bits - 1

    masks = {g: labels == g for g in uniq.tolist()}
    max_ints = {g: group_max_int(m) for g, m in masks.items()}
    if unit is None:
        ratios = [np.max(np.abs(w[m])) / max_ints[g] for g, m in masks.items() if m.any()]
        top = max(ratios) if ratios else 0.0
        unit = top / 2.0 ** exponent_max if top > 0 else 1.0
    if not unit > 0:
        raise ValueError(f"unit must be > 0, got {unit}")
    scale = np.empty(w.shape)
    q = np.zeros(w.shape, np.int64)
    exponents = {}
    for g, m in masks.items():
        M = max_ints[g]
        peak = float(np.max(np.abs(w[m]))) if m.any() else 0.0
        e = exponent_min if peak == 0 else math.ceil(math.log2(peak / (M * unit)) - 1e-12)
        e = int(min(max(e, exponent_min), exponent_max))
        exponents[g] = e
        s = unit * 2.0 ** e
        q[m] = np.clip(np.rint(w[m] / s), -M, M).astype(np.int64)
        scale[m] = s
    return QuantizedWeights(weights=q * scale, integers=q, scale=scale, scheme="exponent",
                            extra={"exponents": MappingProxyType(exponents), "unit": unit,
                                   "group_max_int": MappingProxyType(max_ints)})


def _best_type_weights(members: np.ndarray) -> np.ndarray:
    """Optimal value v per column when each entry of the column is realized as v (connected) or 0.

    ``members`` is (n_axons_of_this_type × n_neurons). An entry x costs ``min(x², (x − v)²)``; the
    connected entries are then the top-j of one sign by magnitude and v is their mean, saving
    ``S_j² / j`` (``S_j`` the sum of the top j). Choosing the sign and j with the largest saving is
    exact. Adding zeros never raises ``S_j² / j``, so sorting the clipped column suffices.
    Vectorized over neurons; O(n log n) per column.
    """
    n = members.shape[0]
    if n == 0:
        return np.zeros(members.shape[1])
    j = np.arange(1, n + 1)[:, None]
    best = []
    for sign in (1.0, -1.0):
        vals = -np.sort(-np.maximum(sign * members, 0.0), axis=0)  # descending per column
        csum = np.cumsum(vals, axis=0)
        gains = csum ** 2 / j
        k = np.argmax(gains, axis=0)
        cols = np.arange(members.shape[1])
        best.append((gains[k, cols], sign * csum[k, cols] / (k + 1)))
    (g_pos, v_pos), (g_neg, v_neg) = best
    return np.where(g_pos >= g_neg, v_pos, v_neg)


def quantize_axon_types(w, n_types: int = 4, bits: int = 9, *, n_iter: int = 30, seed: int = 0,
                        n_init: int = 1, max_abs: float | None = None) -> QuantizedWeights:
    """TrueNorth weights for one core: every axon has one type, every neuron one integer per type.

    The realized matrix is

    .. math:: \\hat W_{a n} = c_{a n} \\, s \\, q_{n, t_a}, \\qquad c_{a n} \\in \\{0, 1\\},\\;
              t_a \\in \\{0..T-1\\},\\; |q_{n k}| \\le 2^{b-1} - 1

    (binary crossbar ``c``, axon types ``t``, per-neuron type weights ``q``, one scale ``s``), so a
    neuron sees at most ``T`` distinct non-zero weights and every axon delivers the same type to all
    neurons (Merolla et al. 2014; Cassidy et al. 2013). ``||Ŵ − W||²`` is minimized by alternating,
    k-means style:

    1. types: k-means++ on the axons' weight rows, seeded;
    2. for each neuron and type, the best value given the type's axons (exact: the connected axons
       are the top-j same-sign ones, see ``_best_type_weights``), rounded to the integer grid; then
       ``c = 1`` where it lowers the error;
    3. each axon takes the type with the lowest error ``Σ_n min(W², (W − s q_{n,t})²)``;

    repeated until the types stop changing (or ``n_iter``). Apart from the rounding to integers, no
    step increases the error.

    Parameters
    ----------
    w : array_like, shape (n_axons, n_neurons)
        One core's weight matrix, axon-major (row = input axon, column = neuron).
    n_types : int
        ``T`` (TrueNorth: 4).
    bits : int
        Bits of each signed type weight (TrueNorth: 9).
    n_iter : int
        Most alternations.
    seed : int
        Seed of the k-means++ initialization (the result is deterministic given the seed).
    n_init : int
        Independent initializations (seeds ``seed … seed + n_init − 1``); the lowest-error result is
        kept, so more never gives a worse fit (at ``n_init`` times the cost).
    max_abs : float, optional
        Value mapped to the largest integer (default ``max|w|``).

    Returns
    -------
    QuantizedWeights
        ``scheme="axon-types"``; ``integers[a, n] = c[a, n] q[n, t[a]]``; ``extra``:
        ``axon_types`` (n_axons,) int, ``type_weights`` (n_neurons, n_types) int (``q``),
        ``connected`` (n_axons, n_neurons) bool (``c``), ``iterations`` int.
    """
    w = _as_float(w)
    if w.ndim != 2:
        raise ValueError(f"axon-type quantization works on one core's (n_axons × n_neurons) matrix, "
                         f"got shape {w.shape}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    fits = [_axon_types_once(w, n_types, bits, n_iter, seed + i, max_abs) for i in range(n_init)]
    return min(fits, key=lambda q: float(np.sum((q.weights - w) ** 2)))


def _axon_types_once(w, n_types, bits, n_iter, seed, max_abs) -> QuantizedWeights:
    """One k-means++-seeded run of :func:`quantize_axon_types`."""
    n_axons, n_neurons = w.shape
    max_int = 2 ** (bits - 1) - 1
    scale = _scale_for(w, max_int, max_abs)
    x = w / scale  # work in integer units
    rng = np.random.default_rng(seed)

    # 1. k-means++ seeding on axon rows
    k = min(n_types, max(n_axons, 1))
    centers = np.empty((k, n_neurons))
    if n_axons:
        centers[0] = x[rng.integers(n_axons)]
        for i in range(1, k):
            d2 = np.min(((x[:, None, :] - centers[None, :i, :]) ** 2).sum(-1), axis=1)
            total = d2.sum()
            idx = rng.choice(n_axons, p=d2 / total) if total > 0 else rng.integers(n_axons)
            centers[i] = x[idx]
        types = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    else:
        types = np.zeros(0, np.int64)

    q = np.zeros((n_neurons, n_types), np.int64)
    iterations = 0
    for iterations in range(1, n_iter + 1):
        # 2. per-neuron, per-type integer weights given the types
        for t in range(n_types):
            v = _best_type_weights(x[types == t])
            q[:, t] = np.clip(np.rint(v), -max_int, max_int).astype(np.int64)
        # 3. reassign axon types: cost of type t for axon a
        cand = q.T[None, :, :]  # 1 × T × N
        err = np.minimum(x[:, None, :] ** 2, (x[:, None, :] - cand) ** 2).sum(-1)  # A × T
        new_types = np.argmin(err, axis=1)
        if np.array_equal(new_types, types):
            break
        types = new_types
    vals = q[:, types].T  # A × N: q[n, t_a]
    connected = (x - vals) ** 2 < x ** 2
    ints = np.where(connected, vals, 0).astype(np.int64)
    return QuantizedWeights(weights=ints * scale, integers=ints, scale=scale, scheme="axon-types",
                            extra={"axon_types": types.astype(np.int64), "type_weights": q,
                                   "connected": connected, "iterations": iterations})


def quantize_sign_by_row(w, bits: int, *, max_abs: float | None = None) -> QuantizedWeights:
    """BrainScaleS weights: unsigned ``bits``-bit magnitude per synapse, the sign from the row.

    An input (row of ``w``) drives an excitatory synapse row for its positive weights and an
    inhibitory row for its negative ones, so an input with both signs occupies two rows:

    .. math:: M = 2^b - 1, \\quad s = \\max|w| / M, \\quad q^{\\pm} = \\operatorname{clip}
              (\\operatorname{round}(\\max(\\pm w, 0) / s), 0, M), \\quad \\hat w = (q^{+} - q^{-}) s

    Source: hxtorch ``constants.h`` ("signed weight needs two rows"; weights −63..63 for 6 bits).

    Parameters
    ----------
    w : array_like, shape (n_inputs, n_outputs)
        Float weights, input-major.
    bits : int
        Magnitude bits (BrainScaleS-2: 6, BrainScaleS-1: 4).

    Returns
    -------
    QuantizedWeights
        ``scheme="sign-by-row"``; ``extra``: ``excitatory`` and ``inhibitory`` (n_inputs, n_outputs)
        non-negative ints, ``rows_per_input`` (n_inputs,) int in {0, 1, 2} (rows this input occupies;
        0 for an all-zero input), ``n_rows`` int (their sum).
    """
    w = _as_float(w)
    if w.ndim != 2:
        raise ValueError(f"sign-by-row quantization needs an (n_inputs × n_outputs) matrix, got shape {w.shape}")
    max_int = 2 ** bits - 1
    scale = _scale_for(w, max_int, max_abs)
    exc = np.clip(np.rint(np.maximum(w, 0) / scale), 0, max_int).astype(np.int64)
    inh = np.clip(np.rint(np.maximum(-w, 0) / scale), 0, max_int).astype(np.int64)
    rows = (exc.any(axis=1).astype(np.int64) + inh.any(axis=1).astype(np.int64))
    ints = exc - inh
    return QuantizedWeights(weights=ints * scale, integers=ints, scale=scale, scheme="sign-by-row",
                            extra={"excitatory": exc, "inhibitory": inh, "rows_per_input": rows,
                                   "n_rows": int(rows.sum())})


def quantize_trinary(w, *, threshold: float | None = None, threshold_factor: float = 0.7) -> QuantizedWeights:
    """Trinary weights {−1, 0, +1}·α (as used on TrueNorth by Esser et al. 2016).

    Threshold and scale follow ternary weight networks (Li, Zhang & Liu 2016, arXiv:1605.04711),
    which minimize ``||w − α q||²`` approximately:

    .. math:: \\Delta = 0.7 \\, \\overline{|w|}, \\quad q = \\operatorname{sign}(w) [|w| > \\Delta], \\quad
              \\alpha = \\overline{|w|}_{|w| > \\Delta}

    Parameters
    ----------
    w : array_like
        Float weights, any shape.
    threshold : float, optional
        ``Δ`` directly (default ``threshold_factor · mean|w|``).
    threshold_factor : float
        Factor of the default threshold.

    Returns
    -------
    QuantizedWeights
        ``scheme="trinary"``, scalar ``scale`` = α, ``integers`` in {−1, 0, 1}.
    """
    w = _as_float(w)
    a = np.abs(w)
    delta = threshold_factor * float(a.mean()) if threshold is None else float(threshold)
    keep = a > delta
    ints = (np.sign(w) * keep).astype(np.int64)
    alpha = float(a[keep].mean()) if keep.any() else 1.0
    return QuantizedWeights(weights=ints * alpha, integers=ints, scale=alpha, scheme="trinary",
                            extra={"threshold": delta})


def quantize_weights(w, chip, **kwargs) -> QuantizedWeights:
    """Quantize ``w`` the way ``chip`` stores weights (dispatch on ``chip.weights.sign``).

    Parameters
    ----------
    w : array_like
        Float weights. For ``"axon-types"`` and ``"two-rows"`` chips: one core's
        (n_inputs × n_neurons) matrix, input-major.
    chip : ChipSpec
        The chip model.
    **kwargs
        Passed to the quantizer (e.g. ``groups=`` for exponent chips, ``seed=`` for axon types).

    Returns
    -------
    QuantizedWeights
    """
    spec = chip.weights
    if spec.sign == "float":
        return quantize_float(w)
    if spec.sign == "signed":
        return quantize_symmetric(w, spec.bits, **kwargs)
    if spec.sign == "exponent":
        return quantize_exponent(w, spec.bits, spec.exponent_min, spec.exponent_max,
                                 mixed_sign_costs_bit=spec.mixed_sign_costs_bit, **kwargs)
    if spec.sign == "axon-types":
        return quantize_axon_types(w, n_types=spec.n_axon_types, bits=spec.bits, **kwargs)
    if spec.sign == "two-rows":
        return quantize_sign_by_row(w, spec.bits, **kwargs)
    raise SpecError("weights.sign", "has no quantizer", spec.sign)  # pragma: no cover - spec validates


# --------------------------------------------------------------------------------------------------
# analog mismatch and noise

#: Independent random streams so that, e.g., adding neurons never changes the weight mismatch draws.
STREAMS = {"weights": 1, "neurons": 2, "temporal": 3}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, keys)])


def _factors(rng: np.random.Generator, shape, rel_std: float) -> np.ndarray:
    if rel_std < 0:
        raise ValueError(f"rel_std must be >= 0, got {rel_std}")
    if rel_std == 0:
        return np.ones(shape)
    # Multiplicative Gaussian gain with mean 1. Clipped at 0 so no synapse or neuron flips sign
    # (a gain cannot turn an excitatory circuit inhibitory); for rel_std <= 0.3 this touches fewer than
    # 1e-3 of the draws and leaves mean and std unchanged to well within sampling error.
    return np.maximum(1.0 + rel_std * rng.standard_normal(shape), 0.0)


def sample_mismatch(shape, rel_std: float, seed: int, *, stream: str | int = "weights") -> np.ndarray:
    """Fixed-pattern mismatch factors of one chip instance.

    .. math:: g_i = \\max(0, 1 + \\sigma \\, \\xi_i), \\quad \\xi_i \\sim \\mathcal N(0, 1) \\text{ i.i.d.}

    The same ``seed`` (the chip instance) and ``stream`` always give the same factors, whatever is
    drawn elsewhere; multiply weights (``stream="weights"``) or thresholds/gains
    (``stream="neurons"``) by them.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the factor array.
    rel_std : float
        ``σ``, e.g. ``chip.noise.weight_mismatch_rel_std``.
    seed : int
        Chip-instance seed.
    stream : str or int
        ``"weights"``, ``"neurons"`` or an integer for a separate stream.

    Returns
    -------
    ndarray of float64
        Factors with mean 1 and standard deviation ``σ`` (ones when ``σ = 0``).
    """
    key = STREAMS[stream] if isinstance(stream, str) else int(stream)
    return _factors(_rng(seed, key), shape, rel_std)


def sample_temporal_noise(shape, rel_std: float, seed: int, trial: int | tuple[int, ...]) -> np.ndarray:
    """Trial-to-trial noise factors: drawn afresh for every ``trial``, reproducible by (seed, trial).

    .. math:: n^{(r)}_i = \\max(0, 1 + \\sigma \\, \\xi^{(r)}_i)

    Multiply the synaptic input of trial ``r`` by them (``σ = chip.noise.temporal_noise_rel_std``).
    ``trial`` may be a tuple of integers (e.g. population, image, tick): each tuple is its own stream.
    """
    keys = tuple(trial) if isinstance(trial, tuple) else (trial,)
    return _factors(_rng(seed, STREAMS["temporal"], *keys), shape, rel_std)


def apply_weight_mismatch(w, chip, seed: int) -> np.ndarray:
    """``w`` times the chip instance's per-synapse mismatch (``chip.noise.weight_mismatch_rel_std``)."""
    w = _as_float(w)
    return w * sample_mismatch(w.shape, chip.noise.weight_mismatch_rel_std, seed, stream="weights")


@dataclass(frozen=True)
class ChipInstance:
    """One physical chip of a model: its fixed-pattern mismatch is a function of ``seed`` only.

    Attributes
    ----------
    chip : ChipSpec
        The model.
    seed : int
        Identifies the instance.
    """

    chip: Any
    seed: int = 0

    def weight_factors(self, shape, stream: int = STREAMS["weights"]) -> np.ndarray:
        """Per-synapse mismatch factors (pass a distinct ``stream`` per weight tensor)."""
        return sample_mismatch(shape, self.chip.noise.weight_mismatch_rel_std, self.seed, stream=stream)

    def neuron_factors(self, shape, stream: int = STREAMS["neurons"]) -> np.ndarray:
        """Per-neuron threshold/gain mismatch factors (pass a distinct ``stream`` per population)."""
        return sample_mismatch(shape, self.chip.noise.neuron_mismatch_rel_std, self.seed, stream=stream)

    def temporal_factors(self, shape, trial: int) -> np.ndarray:
        """Trial-to-trial input noise factors."""
        return sample_temporal_noise(shape, self.chip.noise.temporal_noise_rel_std, self.seed, trial)


# --------------------------------------------------------------------------------------------------
# the chip's neuron


def leak_per_tick(chip) -> float:
    """Fraction of the membrane potential the chip's neuron loses per tick (the IR's ``leak``).

    .. math:: \\lambda = 1 - e^{-\\Delta t / \\tau_m}

    the exact decay of ``τ_m dv/dt = -v`` over one tick. ``τ_m`` is
    ``chip.neuron.membrane_time_constant_s``, which the spec gives in the chip's emulated
    (biological) time, so ``Δt`` is the tick's duration in that same time base:
    ``timing.biological_tick_seconds`` (= ``tick_seconds · acceleration_factor``) on an accelerated
    analog chip, ``timing.tick_seconds`` on a digital one. 0 for a neuron without a membrane time
    constant (IF). BrainScaleS-2: ``1 - exp(-1 ms / 10 ms) = 0.0952``.
    """
    tau = chip.neuron.membrane_time_constant_s
    if tau is None:
        return 0.0
    t = chip.timing
    dt = t.biological_tick_seconds if t.acceleration_factor is not None else t.tick_seconds
    return float(-math.expm1(-dt / tau))


@dataclass(frozen=True)
class NeuronRanges:
    """Integer ranges of a chip's neuron parameters, in units of the weight step ``s`` of the
    connections feeding the neuron (a value ``x`` is stored as ``round(x / s)``); ``None`` = not limited.

    Attributes
    ----------
    threshold : (int, int) or None
        ``[1, min(2^threshold_bits - 1, membrane maximum)]``: a threshold the membrane register cannot
        reach would silence the neuron.
    bias : (int, int) or None
        ``±(2^(bias_bits - 1) - 1)``.
    membrane : (int, int) or None
        ``[-2^(membrane_bits - 1), 2^(membrane_bits - 1) - 1]`` (two's complement): the saturation.
    """

    threshold: tuple[int, int] | None
    bias: tuple[int, int] | None
    membrane: tuple[int, int] | None


def neuron_ranges(chip) -> NeuronRanges:
    """The :class:`NeuronRanges` of ``chip`` from ``neuron.threshold_bits``, ``bias_bits``, ``membrane_bits``."""
    n = chip.neuron
    membrane = None if n.membrane_bits is None else (-2 ** (n.membrane_bits - 1), 2 ** (n.membrane_bits - 1) - 1)
    threshold = None
    if n.threshold_bits is not None:
        top = 2 ** n.threshold_bits - 1
        threshold = (1, top if membrane is None else min(top, membrane[1]))
    bias = None if n.bias_bits is None else (-(2 ** (n.bias_bits - 1) - 1), 2 ** (n.bias_bits - 1) - 1)
    return NeuronRanges(threshold=threshold, bias=bias, membrane=membrane)


@dataclass(frozen=True)
class StoredParameter:
    """A neuron parameter as the chip stores it (:func:`store_parameter`).

    Attributes
    ----------
    values : ndarray of float64
        Realized values, ``integers · step``.
    integers : ndarray of int64
    clipped : int
        How many values fell outside the range (after rounding) and were clipped to it.
    lowered, raised : float or None
        Largest factor by which clipping shrank (``|x| / |x̂|``) or grew (``|x̂| / |x|``) the magnitude of a
        value; None when no value moved that way.
    """

    values: np.ndarray
    integers: np.ndarray
    clipped: int
    lowered: float | None
    raised: float | None


def store_parameter(x, step: float, lo: int | None, hi: int | None) -> StoredParameter:
    """Round ``x`` to integer multiples of ``step`` and clip the integers to ``[lo, hi]``.

    .. math:: q = \\operatorname{clip}(\\operatorname{round}(x / s), lo, hi), \\quad \\hat x = q s

    Values whose rounded integer lies outside ``[lo, hi]`` are counted as clipped (rounding alone is
    not a clip). ``lo``/``hi`` ``None``: unbounded on that side.
    """
    x = _as_float(x)
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    q = np.rint(x / step)
    c = np.clip(q, lo, hi) if (lo is not None or hi is not None) else q
    moved = c != q
    a, b = np.abs(x[moved]) / step, np.abs(c[moved])
    down, up = a > b, a < b
    with np.errstate(divide="ignore"):  # a value clipped to 0 (or raised from 0) moved by an infinite factor
        lowered = float(np.max(a[down] / b[down])) if down.any() else None
        raised = float(np.max(b[up] / a[up])) if up.any() else None
    return StoredParameter(values=c * step, integers=c.astype(np.int64), clipped=int(moved.sum()),
                           lowered=lowered, raised=raised)


# --------------------------------------------------------------------------------------------------
# timing and energy


def ticks_to_seconds(ticks, chip):
    """Hardware wall-clock seconds of ``ticks`` ticks: ``t = ticks · chip.timing.tick_seconds``.

    For accelerated analog chips ``tick_seconds = biological_tick_seconds / acceleration_factor``.
    Scalars give a numpy float, arrays an array.
    """
    return chip.timing.ticks_to_seconds(np.asarray(ticks, dtype=np.float64))


def seconds_to_ticks(seconds, chip):
    """Ticks (float) in ``seconds`` of hardware time: ``seconds / chip.timing.tick_seconds``."""
    return np.asarray(seconds, dtype=np.float64) / chip.timing.tick_seconds


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of a run, by component.

    Attributes
    ----------
    components : mapping of str to float or None
        ``"synaptic_ops"``, ``"spikes"``, ``"neuron_updates"``, ``"static"``: joules, or None where the
        chip has no published figure and the count is non-zero.
    total_j : float
        Sum of the known components (a lower bound when ``missing`` is not empty).
    missing : tuple of str
        Components that are unknown for this chip (and non-zero counts).
    n_chips : int
        Chips the static power was counted for.
    """

    components: Mapping[str, float | None]
    total_j: float
    missing: tuple[str, ...]
    n_chips: int = 1

    @property
    def complete(self) -> bool:
        """True when every component with a non-zero count has a figure."""
        return not self.missing

    def __float__(self) -> float:
        return self.total_j


def energy_joules(synaptic_ops, spikes, seconds, chip, *, neuron_updates=0, n_chips: int = 1) -> EnergyEstimate:
    """Energy of a run on ``chip``.

    .. math:: E = E_{syn} N_{syn} + E_{spk} N_{spk} + E_{neu} N_{neu} + P_{static} \\, n_{chips} \\, t

    with the per-operation energies and static power of ``chip.energy`` (each sourced in the chip's
    TOML). Components whose figure is unknown (None) and whose count is non-zero are reported in
    ``missing`` and left out of ``total_j``, never guessed.

    Parameters
    ----------
    synaptic_ops : float
        Synaptic operations (spike × synapse deliveries).
    spikes : float
        Spikes emitted.
    seconds : float
        Hardware wall-clock duration (e.g. from :func:`ticks_to_seconds`).
    chip : ChipSpec
        The chip model.
    neuron_updates : float
        Neuron state updates (neurons × ticks); default 0.
    n_chips : int
        Chips powered during the run (static power is per chip).

    Returns
    -------
    EnergyEstimate
    """
    e = chip.energy
    parts = {
        "synaptic_ops": (synaptic_ops, e.joules_per_synaptic_op),
        "spikes": (spikes, e.joules_per_spike),
        "neuron_updates": (neuron_updates, e.joules_per_neuron_update),
        "static": (seconds * n_chips, e.static_power_w),
    }
    components, missing, total = {}, [], 0.0
    for name, (count, per) in parts.items():
        count = float(count)
        if count < 0:
            raise ValueError(f"{name} count must be >= 0, got {count}")
        if count == 0:
            components[name] = 0.0
        elif per is None:
            components[name] = None
            missing.append(name)
        else:
            components[name] = count * per
            total += count * per
    return EnergyEstimate(components=MappingProxyType(components), total_j=total, missing=tuple(missing),
                          n_chips=n_chips)
