"""Weights, thresholds and biases as the cores of a chip realize them, core by core.

:func:`realize` takes the network a schedule runs, the chip and the core of every neuron (from the
allocation) and returns the network the chip actually computes: each core's synaptic block is
realized by the function registered for the chip's ``weights.sign`` (:data:`REALIZERS`), its
neurons' thresholds and biases are fitted to the same integer units, and whatever had to be clipped
to a range is counted. Connections whose realized weights depend on where their neurons sit become
explicit ``sparse`` connections; the others keep their op.

Units: every core stores integers. Neuron ``j`` of a core has a *unit* ``u_j`` (IR value of one
integer step at exponent 0); its realized weights are ``q · u_j`` (``q · u_j · 2^e`` on exponent
chips), its threshold ``α_j · u_j`` and its bias ``λ_j · u_j`` with integers in the ranges of
:func:`hardware_models.device.neuron_ranges` (``1 ≤ α ≤ min(2^threshold_bits − 1, membrane maximum)``,
``|λ| ≤ 2^(bias_bits−1) − 1``; without threshold bits or a bias range that value stays exact), and
its membrane saturates at the membrane range times ``u_j`` (:attr:`Realized.unit`). Multiplying a
neuron's weights, threshold and bias by one factor leaves its spikes unchanged, so the unit is a free
choice; like nengo-loihi's ``discretize_compartment`` it is the finest unit at which the weights, the
thresholds and the biases all fit (weights lose precision before a threshold or a bias is clipped).
With one parameter row per population (unrolled) TrueNorth's per-neuron unit is ``θ/α`` exactly, so
its thresholds stay exact; otherwise realized thresholds differing from θ go to ``threshold_map``.

=====================  ===================================================================
``weights.sign``       per core ``k`` (scope of the unit and of the integer grid)
=====================  ===================================================================
``"float"``            exact (the ideal chip)
``"signed"``           one unit per core, ``bits``-bit signed weights (SpiNNaker, DYNAP-CNN)
``"two-rows"``         one unit per core, ``bits``-bit magnitude, the sign from an excitatory or
                       inhibitory row: a signed input takes two rows (BrainScaleS)
``"exponent"``         one unit per core, mantissa ``bits`` with one exponent per
                       ``exponent_scope`` (``"synapse-group"``: per connection on the core,
                       ``"core"``: per core) (Loihi)
``"axon-types"``       per neuron: one type per axon shared by the core, 4 signed integers per
                       neuron, binary crossbar (TrueNorth, :mod:`mapping.axon_types`)
=====================  ===================================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from hardware_models.device import NeuronRanges, neuron_ranges, store_parameter
from itnet_neuro.errors import ValidationError

__all__ = ["CoreBlock", "CoreRealization", "Realized", "REALIZERS", "register", "realizer_for", "realize_core",
           "realize"]


# ------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class CoreBlock:
    """One core's synapses and neurons.

    Attributes
    ----------
    axon, neuron : ndarray of int64, shape (S,)
        Per synapse: the core's physical axon (one per distinct presynaptic neuron) and neuron.
    weight : ndarray of float64, shape (S,)
        True weight of each synapse (IR units). Synapses sharing (axon, neuron) add up.
    threshold, bias : ndarray, shape (R, M)
        Per-neuron threshold θ (> 0) and bias per parameter row (R = 1 unrolled, N looped).
    n_axons : int
        ``A``, the core's axons (every axon index is below it).
    group : ndarray of int64, shape (S,), optional
        Synapse group of each synapse (the connection it belongs to), for ``exponent_scope =
        "synapse-group"``; default one group.
    core : int
        Core id (in error messages; the axon-type fit is seeded by the content, :meth:`digest`).
    """

    axon: np.ndarray
    neuron: np.ndarray
    weight: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    n_axons: int
    group: np.ndarray | None = None
    core: int = 0

    def __post_init__(self):
        thr = np.atleast_2d(np.asarray(self.threshold, np.float64))
        bias = np.array(np.broadcast_to(np.atleast_2d(np.asarray(self.bias, np.float64)), thr.shape))
        w = np.asarray(self.weight, np.float64).ravel()
        a, n = (np.asarray(v, np.int64).ravel() for v in (self.axon, self.neuron))
        if not (a.shape == n.shape == w.shape) or (w.size and (a.max() >= self.n_axons or n.max() >= thr.shape[1]
                                                                or min(a.min(), n.min()) < 0)):
            raise ValidationError(f"core {self.core}: axon/neuron/weight must be equal-length index arrays within "
                                  f"{self.n_axons} axons and {thr.shape[1]} neurons")
        if np.any(thr <= 0) or not (np.all(np.isfinite(w)) and np.all(np.isfinite(bias))):
            raise ValidationError(f"core {self.core}: thresholds must be > 0 and weights/biases finite")
        group = None if self.group is None else np.asarray(self.group, np.int64).ravel()
        for name, value in (("axon", a), ("neuron", n), ("weight", w), ("threshold", thr), ("bias", bias),
                            ("group", group)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_dense(cls, weight, threshold, bias=0.0, *, mask=None, group=None, core: int = 0) -> "CoreBlock":
        """From an (A × M) block; synapses where ``mask`` (default: ``weight != 0``)."""
        w = np.asarray(weight, np.float64)
        keep = (w != 0) if mask is None else np.asarray(mask, bool)
        a, n = np.nonzero(keep)
        g = None if group is None else np.asarray(group)[a, n]
        thr = np.atleast_2d(np.asarray(threshold, np.float64))
        return cls(a, n, w[a, n], np.broadcast_to(thr, (thr.shape[0], w.shape[1])), bias, w.shape[0], g, core)

    @property
    def n_neurons(self) -> int:
        return int(self.threshold.shape[1])

    def digest(self, *, group: bool = True) -> int:
        """A 64-bit hash of the block's content (synapses, thresholds, biases; the groups if ``group``), not
        of its core id: equal blocks on different cores have equal digests."""
        h = hashlib.blake2b(digest_size=8)
        h.update(np.int64([self.n_axons, self.n_neurons, self.threshold.shape[0]]).tobytes())
        arrays = (self.axon, self.neuron, self.weight, self.threshold, self.bias)
        for a in arrays + ((np.zeros(0) if self.group is None else self.group,) if group else ()):
            h.update(np.ascontiguousarray(a).tobytes())
        return int.from_bytes(h.digest(), "little")

    def dense(self) -> np.ndarray:
        """The (A × M) weight block (duplicated synapses summed)."""
        out = np.zeros((self.n_axons, self.n_neurons))
        np.add.at(out, (self.axon, self.neuron), self.weight)
        return out


@dataclass(frozen=True)
class CoreRealization:
    """What one core stores, and the values it realizes (IR units).

    Attributes
    ----------
    weight : ndarray (S,)
        Realized weight of each synapse of the block.
    threshold, bias : ndarray (R, M)
        Realized thresholds and biases.
    unit : ndarray (M,)
        ``u_j``: IR value of one integer step of neuron j (weights at exponent 0, threshold, bias).
    weight_int : ndarray of int64 (S,)
        Stored weight integers (mantissas on exponent chips; ``c · s[j, t_a]`` on TrueNorth).
    threshold_int, bias_int : ndarray of int64 (R, M)
        ``α`` and ``λ`` (``λ`` is 0 where the bias stays exact: no bias range on the chip).
    clipped : mapping
        ``weights`` (synapses), ``thresholds`` and ``biases`` (neuron rows) clipped to a range.
    extra : mapping
        Scheme-specific (documented per realizer).
    """

    weight: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    unit: np.ndarray
    weight_int: np.ndarray
    threshold_int: np.ndarray
    bias_int: np.ndarray
    clipped: Mapping[str, int]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "clipped", MappingProxyType(dict(self.clipped)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


# --------------------------------------------------------------------------------------- registry
#: ``weights.sign`` → ``fn(block, chip, *, seed) -> CoreRealization``.
REALIZERS: dict[str, Callable[..., CoreRealization]] = {}


def register(sign: str):
    """Register the realizer of one ``weights.sign`` scheme."""
    def deco(fn):
        REALIZERS[sign] = fn
        return fn
    return deco


def realizer_for(chip) -> Callable[..., CoreRealization]:
    """The registered realizer of ``chip.weights.sign``; an unknown scheme lists the valid ones."""
    sign = chip.weights.sign
    if sign not in REALIZERS:
        raise ValidationError(f"chip {chip.name!r}: weights.sign = {sign!r} has no realizer; valid: "
                              + ", ".join(sorted(REALIZERS)))
    return REALIZERS[sign]


def realize_core(block: CoreBlock, chip, *, seed: int = 0) -> CoreRealization:
    """One core as ``chip`` realizes it (dispatch on ``chip.weights.sign``)."""
    from hardware_models.spec import load_chip

    chip = load_chip(chip)
    return realizer_for(chip)(block, chip, seed=seed)


# ------------------------------------------------------------------------------ neuron parameters
def _param_unit(block: CoreBlock, r) -> np.ndarray:
    """Per neuron, the smallest unit at which all its thresholds and biases fit: ``max(θ/α_max, |b|/λ_max)``."""
    u = np.zeros(block.n_neurons)
    if r.threshold is not None:
        u = np.maximum(u, block.threshold.max(axis=0) / r.threshold[1])
    if r.bias is not None:
        u = np.maximum(u, np.abs(block.bias).max(axis=0) / r.bias[1])
    return u


def _finish(block: CoreBlock, weight, weight_int, unit, r, clipped_weights: int, extra=None,
            weight_unit=0.0, range_unit=0.0) -> CoreRealization:
    """Store thresholds ``α = round(θ/u)`` and biases ``λ = round(b/u)`` in their ranges; count the clips
    (:func:`hardware_models.device.store_parameter`). Without threshold bits (bias range) the threshold
    (bias) stays exact. ``extra["coarser_by_range"]``: neurons with synapses whose unit had to be coarser
    than their weights need (``weight_unit``) for a threshold or a bias to fit (``range_unit``)."""
    unit = np.broadcast_to(np.asarray(unit, np.float64), (block.n_neurons,)).copy()
    has_synapses = np.bincount(block.neuron, minlength=block.n_neurons) > 0
    coarser = int(np.count_nonzero(has_synapses & (np.asarray(range_unit) > np.asarray(weight_unit) * (1 + 1e-9))))
    out = {"threshold": block.threshold, "bias": block.bias}
    ints = {k: np.zeros(block.threshold.shape, np.int64) for k in out}
    clipped, factors = {"weights": int(clipped_weights), "thresholds": 0, "biases": 0}, {}
    for key, what, rng in (("threshold", "thresholds", r.threshold), ("bias", "biases", r.bias)):
        if rng is None:
            continue
        st = store_parameter(out[key], unit, *rng)
        out[key], ints[key], clipped[what] = st.values, st.integers, st.clipped
        factors[what] = {way: f for way, f in (("lowered", st.lowered), ("raised", st.raised)) if f is not None}
    return CoreRealization(weight=np.asarray(weight, np.float64), threshold=out["threshold"], bias=out["bias"],
                           unit=unit, weight_int=np.asarray(weight_int, np.int64), threshold_int=ints["threshold"],
                           bias_int=ints["bias"], clipped=clipped,
                           extra={**(extra or {}), "coarser_by_range": coarser,
                                  "clip_factors": {k: v for k, v in factors.items() if v}})


def _core_unit(weight_unit: float, block: CoreBlock, r) -> tuple[float, float]:
    """One unit for the whole core: the finest at which weights, thresholds and biases all fit; and the
    unit the thresholds and biases alone need."""
    need = float(_param_unit(block, r).max(initial=0.0))
    u = max(float(weight_unit), need)
    return (u if u > 0 else 1.0), need


def _n_over(w: np.ndarray, limit: float) -> int:
    """Synapses whose magnitude exceeds ``limit`` (saturated, beyond half a step)."""
    return int(np.count_nonzero(np.abs(w) > limit * (1 + 1e-9)))


def _peak(w: np.ndarray) -> float:
    return float(np.max(np.abs(w))) if w.size else 0.0


# ------------------------------------------------------------------------------------- realizers
@register("float")
def realize_float(block: CoreBlock, chip, *, seed: int = 0) -> CoreRealization:
    """The ideal chip: everything exact (``unit`` = 1, integers 0)."""
    return _finish(block, block.weight, np.zeros(block.weight.shape), 1.0, NeuronRanges(None, None, None), 0)


@register("signed")
def realize_signed(block: CoreBlock, chip, *, seed: int = 0) -> CoreRealization:
    """``bits``-bit signed weights with one unit ``u`` per core (SpiNNaker: one fixed-point scale per core;
    DYNAP-CNN: one scale per layer, and a layer is a core).

    .. math:: M = 2^{b-1} - 1,\\quad u = \\max(\\max|w| / M,\\ u_{θ,b}),\\quad
              q = \\operatorname{clip}(\\operatorname{round}(w/u), -M, M),\\quad \\hat w = q u

    (:func:`hardware_models.device.quantize_symmetric` with ``max_abs = M u``).
    """
    from hardware_models.device import quantize_symmetric

    r, m = neuron_ranges(chip), chip.weights.max_int_for(mixed_sign=True)
    need = _peak(block.weight) / m
    u, ranged = _core_unit(need, block, r)
    q = quantize_symmetric(block.weight, chip.weights.bits, max_abs=m * u)
    return _finish(block, q.weights, q.integers, u, r, _n_over(block.weight, m * u), weight_unit=need,
                   range_unit=ranged)


@register("two-rows")
def realize_two_rows(block: CoreBlock, chip, *, seed: int = 0) -> CoreRealization:
    """BrainScaleS: ``bits``-bit magnitudes with one unit per core; the sign comes from the row, so an axon
    with weights of both signs drives an excitatory and an inhibitory row.

    .. math:: M = 2^{b} - 1,\\quad u = \\max(\\max|w| / M,\\ u_{θ,b}),\\quad
              \\hat w = (q^+ - q^-) u

    (:func:`hardware_models.device.quantize_sign_by_row`). ``extra``: ``rows_per_axon`` (A,) in {0, 1, 2}
    and ``n_rows`` (their sum: the synapse rows the core needs).
    """
    from hardware_models.device import quantize_sign_by_row

    r, m = neuron_ranges(chip), chip.weights.max_int_for()
    need = _peak(block.weight) / m
    u, ranged = _core_unit(need, block, r)
    q = quantize_sign_by_row(block.weight[None, :], chip.weights.bits, max_abs=m * u)
    rows = np.zeros(block.n_axons, np.int64)
    for sign in (1, -1):
        rows += np.bincount(block.axon[sign * q.integers[0] > 0], minlength=block.n_axons) > 0
    return _finish(block, q.weights[0], q.integers[0], u, r, _n_over(block.weight, m * u),
                   {"rows_per_axon": rows, "n_rows": int(rows.sum())}, weight_unit=need, range_unit=ranged)


@register("exponent")
def realize_exponent(block: CoreBlock, chip, *, seed: int = 0) -> CoreRealization:
    """Loihi: mantissa times ``2^e`` with one exponent per synapse group (``exponent_scope``), one unit
    ``u`` (mantissa 1 at exponent 0, also the threshold step) per core.

    ``u`` is the finest unit at which the largest group fits at ``exponent_max`` and the thresholds and
    biases fit their ranges; each group then takes the finest exponent that holds its largest weight
    (:func:`hardware_models.device.quantize_exponent`, after nengo-loihi's ``discretize_weights``).
    ``extra``: ``exponents`` (group → e).
    """
    from hardware_models.device import quantize_exponent

    ws, r = chip.weights, neuron_ranges(chip)
    per_group = ws.exponent_scope == "synapse-group" and block.group is not None
    groups = block.group if per_group else np.zeros(block.weight.shape, np.int64)
    need = 0.0
    for g in np.unique(groups):
        w = block.weight[groups == g]
        mixed = bool(np.any(w > 0) and np.any(w < 0))
        need = max(need, _peak(w) / (ws.max_int_for(mixed_sign=mixed) * 2.0 ** ws.exponent_max))
    u, ranged = _core_unit(need, block, r)
    q = quantize_exponent(block.weight, ws.bits, ws.exponent_min, ws.exponent_max, groups=groups,
                          mixed_sign_costs_bit=ws.mixed_sign_costs_bit, unit=u)
    limit = np.asarray(q.scale) * np.array([q.extra["group_max_int"][g] for g in groups.tolist()])
    clipped = int(np.count_nonzero(np.abs(block.weight) > limit * (1 + 1e-9)))
    return _finish(block, q.weights, q.integers, u, r, clipped, {"exponents": dict(q.extra["exponents"])},
                   weight_unit=need, range_unit=ranged)


def _neuron_unit(u_req: np.ndarray, block: CoreBlock, r) -> np.ndarray:
    """Per-neuron unit ``u_j ≥ u_req``; with one parameter row ``u_j = θ_j / α_j`` for an integer ``α_j``, so
    the threshold stays exact and the neuron's scale shows in its weights and bias only."""
    if block.threshold.shape[0] != 1 or r.threshold is None:
        return np.where(u_req > 0, u_req, 1.0)
    theta = block.threshold[0]
    with np.errstate(divide="ignore"):
        alpha = np.floor(theta / u_req * (1 + 1e-12))
    return theta / np.clip(alpha, *r.threshold)


#: Cores with ``A · M`` up to this get 2 restarts of the axon-type fit (k-means++, then random types:
#: on 27 cores of the shipped model's TrueNorth allocation 18 % less error than one), larger ones 1.
RESTART_BUDGET = 2 ** 18


@register("axon-types")
def realize_axon_types(block: CoreBlock, chip, *, seed: int = 0, n_init: int | None = None,
                       polish: int = 10) -> CoreRealization:
    """TrueNorth: the core's axon types, each neuron's ``T`` signed ``bits``-bit weights, a binary crossbar,
    and each neuron's threshold α and leak λ.

    1. Types and real-valued type weights jointly (:func:`mapping.axon_types.fit_types` on the block in
       units of each neuron's threshold: the squared error of each neuron's input relative to its θ).
    2. Neuron j's unit ``u_j = θ_j / α_j`` with the largest integer α_j at which its type weights
       (``|s| ≤ 2^{b−1} − 1``), its threshold and its leak fit (fewer weight levels before a clip).
    3. ``s = round(v θ / u)``; then each axon's type and the crossbar again for these integers (both
       can only lower the error).

    Realized weight of synapse (a, j): ``c_aj · s[j, t_a] · u_j``. ``extra``: ``axon_types`` (A,),
    ``type_weights`` (M, T) int, ``connected`` (A, M) bool, ``history`` (the fit's error per iteration,
    in squared thresholds), ``error`` (after the integers, same units).
    """
    from mapping.axon_types import assignment_cost, crossbar_error, fit_types, reassign

    ws, r = chip.weights, neuron_ranges(chip)
    big_q = ws.max_int_for()
    theta = block.threshold.max(axis=0)
    w = block.dense()
    x = w / theta
    if n_init is None:
        n_init = 2 if x.size <= RESTART_BUDGET else 1
    fit = fit_types(x, ws.n_axon_types, seed=(int(seed), block.digest(group=False)), n_init=n_init, polish=polish)
    peak = np.abs(fit.values).max(axis=1, initial=0.0) * theta
    ranged = _param_unit(block, r)
    unit = _neuron_unit(np.maximum(peak / big_q, ranged), block, r)
    raw = np.rint(fit.values * (theta / unit)[:, None])
    ints = np.clip(raw, -big_q, big_q).astype(np.int64)
    v = ints * (unit / theta)[:, None]
    types = reassign(assignment_cost(x, v), fit.types)
    connected, err = crossbar_error(x, types, v)
    cells = np.where(connected, ints[:, types].T, 0)
    over = connected & (np.abs(raw[:, types].T) > big_q)
    return _finish(block, _share(block, w, cells * unit), cells[block.axon, block.neuron], unit, r,
                   int(np.count_nonzero(over[block.axon, block.neuron])),
                   {"axon_types": types, "type_weights": ints, "connected": connected,
                    "history": fit.history, "error": err}, weight_unit=peak / big_q, range_unit=ranged)


#: The axon-type fit (0.1 s a core) reads the block's synapses, thresholds and biases, not its groups or
#: core id: equal blocks (an unrolled iteration's copies of one layer's tiles; 1,563 distinct among the
#: shipped model's 10,504 TrueNorth cores) are fitted once (:func:`_realize_cores`).
realize_axon_types.content_key = {"group": False}


def _share(block: CoreBlock, w: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """Per synapse: its (axon, neuron) cell's realized value, split among synapses sharing the cell in
    proportion to their true weights (equally where those sum to 0)."""
    a, n = block.axon, block.neuron
    count = np.zeros(w.shape)
    np.add.at(count, (a, n), 1.0)
    cell_w, cell_r, cnt = w[a, n], realized[a, n], count[a, n]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(cell_w != 0, block.weight / cell_w, 1.0 / cnt)
    return np.where(cnt == 1, cell_r, cell_r * frac)


# ------------------------------------------------------------------------------------------- IR glue
def _expand(net, conn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every synapse of ``conn``: ``(post, pre, w)``, flat channels-first indices (post offset included),
    as :func:`itnet_neuro.ir.ops.to_sparse` lists them."""
    from itnet_neuro.ir.ops import to_sparse

    s = to_sparse(net, conn)
    return s.index[0], s.index[1], s.weight.astype(np.float64)


class _Synapses:
    """All synapses of a network, connection after connection (``starts[i]:starts[i+1]`` is connection i).

    ``neuron``: global id of the post neuron (population offset + flat index); ``axon``: global id of the
    presynaptic neuron, one per (pre, feedback) source: a fed-back population arrives through the
    state buffer, a physical source of its own.
    """

    def __init__(self, net, offsets: dict[str, int]):
        sizes = [net.input.size] + [p.size for p in net.populations]
        stride, small = max(sizes), np.int32 if sum(sizes) < 2 ** 31 else np.int64  # 27 M synapses: 0.9 GB
        sources: dict[tuple, int] = {}
        parts = []
        for i, c in enumerate(net.connections):
            post, pre, w = _expand(net, c)
            src = sources.setdefault((c.pre, c.feedback), len(sources))
            parts.append((post.astype(small), pre.astype(small), w, np.full(w.size, i, np.int32),
                          (offsets[c.post] + post).astype(small), src * np.int64(stride) + pre))
        self.starts = np.concatenate([[0], np.cumsum([p[2].size for p in parts])]).astype(np.int64)
        cols = []
        for k in range(6):  # one column at a time, releasing the parts as they are copied
            cols.append(np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64))
            parts = [p[:k] + (None,) + p[k + 1:] for p in parts]
        self.post, self.pre, self.w, self.conn, self.neuron, self.axon = cols
        self.w = self.w.astype(np.float64)

    def of(self, i: int) -> slice:
        return slice(int(self.starts[i]), int(self.starts[i + 1]))


class _Neurons:
    """All neurons of a network: core, thresholds and biases (R_max × N), by global id."""

    def __init__(self, net, core_of: Mapping[str, np.ndarray]):
        self.offsets, cores, thr, bias = {}, [], [], []
        rows = max((p.rows for p in net.populations), default=1)
        missing = [p.name for p in net.populations if p.name not in core_of]
        if missing:
            more = " …" if len(missing) > 5 else ""
            raise ValidationError(f"realize: core_of has no core for population(s) {', '.join(missing[:5])}{more}: "
                                  "pass the allocation's core of every neuron")
        n = 0
        for p in net.populations:
            k = np.asarray(core_of[p.name])
            if k.shape != tuple(p.shape) or (k.size and k.min() < 0):
                raise ValidationError(f"realize: core_of[{p.name!r}] must be a {p.shape} array of core ids >= 0, "
                                      f"got shape {k.shape}")
            self.offsets[p.name] = n
            n += p.size
            cores.append(k.astype(np.int64).ravel())
            hw = p.shape[1] * p.shape[2]
            for dst, src in ((thr, p.threshold), (bias, p.bias)):
                per = np.repeat(src.astype(np.float64), hw, axis=1)
                dst.append(np.broadcast_to(per, (rows, p.size)) if p.rows == 1 else per)
        self.core = np.concatenate(cores) if cores else np.zeros(0, np.int64)
        self.threshold = np.concatenate(thr, axis=1) if thr else np.zeros((1, 0))
        self.bias = np.concatenate(bias, axis=1) if bias else np.zeros((1, 0))


@dataclass(frozen=True)
class Realized:
    """The network as the allocated chip computes it (ISSUE11_INTERFACES.md §I5).

    Attributes
    ----------
    network : Network
        Realized weights (``sparse`` where they depend on position), per-neuron thresholds and biases
        as ``threshold_map`` / ``bias_map`` where they differ from the per-channel values.
    clipped : mapping
        ``weights`` (synapses), ``thresholds``, ``biases`` (neuron rows) clipped to the chip's ranges.
    clip_factors : mapping
        ``{"thresholds": {"lowered": f, "raised": f}, ...}``: the largest factor a clip moved a value by
        (as :func:`hardware_models.device.store_parameter` reports it).
    rms_error : mapping
        Connection name → RMS of (realized − true) weight over its synapses, IR units.
    rel_rms_error : mapping
        Connection name → ``rms_error`` / RMS of its true weights.
    unit : mapping
        Population name → (C, H, W) IR value of one integer step of each neuron (threshold, bias and
        exponent-0 weight step): the membrane and its saturation count in these units.
    sparse : tuple of str
        Connections that became ``sparse``.
    cores : mapping
        Core id → summary: ``axons``, ``neurons``, ``synapses``, ``clipped`` and the realizer's scalar extras.
    """

    network: Any
    clipped: Mapping[str, int]
    clip_factors: Mapping[str, Mapping[str, float]]
    rms_error: Mapping[str, float]
    rel_rms_error: Mapping[str, float]
    unit: Mapping[str, np.ndarray]
    sparse: tuple
    cores: Mapping[int, Mapping[str, Any]]


@dataclass
class _Result:
    """Per synapse and per neuron results of all cores (global ids)."""

    w: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    unit: np.ndarray
    clipped: dict
    cores: dict
    clip_factors: dict = field(default_factory=dict)


def _realize_cores(syn: _Synapses, neu: _Neurons, chip, seed: int, only=None) -> _Result:
    """Run the chip's realizer on every core (or the cores in ``only``; the others stay exact) and scatter
    the results back to synapses and neurons."""
    fn = realizer_for(chip)
    res = _Result(syn.w.copy(), neu.threshold.copy(), neu.bias.copy(), np.ones(neu.core.size), {}, {})
    res.clipped = {"weights": 0, "thresholds": 0, "biases": 0}
    syn_core = neu.core[syn.neuron]
    n_order, s_order = np.argsort(neu.core, kind="stable"), np.argsort(syn_core, kind="stable")
    cores = np.unique(neu.core) if only is None else np.intersect1d(np.unique(neu.core), np.asarray(list(only)))
    n_lo, n_hi = np.searchsorted(neu.core[n_order], cores), np.searchsorted(neu.core[n_order], cores, "right")
    s_lo, s_hi = np.searchsorted(syn_core[s_order], cores), np.searchsorted(syn_core[s_order], cores, "right")
    seen: dict[int, CoreRealization] = {}  # realizers with a content_key: equal blocks are realized once
    content_key = getattr(fn, "content_key", None)
    for k, a, b, c, d in zip(cores.tolist(), n_lo, n_hi, s_lo, s_hi):
        gids, sidx = n_order[a:b], s_order[c:d]
        axons, a_local = np.unique(syn.axon[sidx], return_inverse=True)
        block = CoreBlock(a_local, np.searchsorted(gids, syn.neuron[sidx]), syn.w[sidx], neu.threshold[:, gids],
                          neu.bias[:, gids], axons.size, group=syn.conn[sidx], core=k)
        key = None if content_key is None else block.digest(**content_key)
        out = seen.get(key) or fn(block, chip, seed=seed)
        if key is not None:
            seen[key] = out
        res.w[sidx] = out.weight
        res.threshold[:, gids], res.bias[:, gids], res.unit[gids] = out.threshold, out.bias, out.unit
        for key, v in out.clipped.items():
            res.clipped[key] = res.clipped.get(key, 0) + int(v)
        for what, ways in out.extra.get("clip_factors", {}).items():
            seen = res.clip_factors.setdefault(what, {})
            for way, f in ways.items():
                seen[way] = max(seen.get(way, f), f)
        res.cores[k] = {"axons": int(axons.size), "neurons": int(gids.size), "synapses": int(sidx.size),
                        "clipped": dict(out.clipped), **{key: v for key, v in out.extra.items() if np.isscalar(v)}}
    return res


def _param_of(net, conn, post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Index of the weight element each synapse scales (-1 where the op's coefficient is 0).

    Any op here makes synapse ``i`` worth ``coef_i · weight[param_i]``: expanding the connection with
    all weights 1 gives ``coef``, with weight element ``p`` set to ``p + 1`` gives ``coef · (param + 1)``.
    """
    n_pre = int(np.prod(net.shape_of(conn.pre)))
    want = post * n_pre + pre
    vals = []
    for w in (np.ones(conn.weight.shape), np.arange(1, conn.weight.size + 1).reshape(conn.weight.shape)):
        i_post, i_pre, val = _expand(net, dataclasses.replace(conn, weight=w.astype(np.float32)))
        keys = i_post * n_pre + i_pre
        order = np.argsort(keys)
        vals.append(val[order[np.searchsorted(keys[order], want)]])
    coef, ids = vals
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(coef != 0, np.rint(ids / coef) - 1, -1).astype(np.int64)


def _op_form(net, conn, post, pre, w, w_hat):
    """``conn`` with realized weights in its own op, if every synapse of a weight element (a channel, for a
    gain op) was scaled by the same factor; else None."""
    if np.any((w == 0) & (w_hat != 0)):
        return None
    param = _param_of(net, conn, post, pre)
    nz = (w != 0) & (param >= 0)
    ratio = np.ones(conn.weight.size)
    lo, hi = np.full(conn.weight.size, np.inf), np.full(conn.weight.size, -np.inf)
    r = w_hat[nz] / w[nz]
    np.minimum.at(lo, param[nz], r)
    np.maximum.at(hi, param[nz], r)
    seen = np.isfinite(lo)
    if not np.allclose(lo[seen], hi[seen], rtol=1e-6, atol=0):
        return None
    ratio[seen] = lo[seen]
    weight = conn.weight.astype(np.float64) * ratio.reshape(conn.weight.shape)
    return dataclasses.replace(conn, weight=weight.astype(np.float32))


def _realized_connection(net, conn, post, pre, w, w_hat):
    """``conn`` unchanged, in its op with realized weights, or as an explicit ``sparse`` connection."""
    if np.array_equal(w_hat.astype(np.float32), w.astype(np.float32)):
        return conn, False
    same = _op_form(net, conn, post, pre, w, w_hat)
    if same is not None:
        return same, False
    return dataclasses.replace(conn, op="sparse", weight=w_hat.astype(np.float32), index=np.stack([post, pre]),
                               post_offset=0, kernel=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0), groups=1), True


def _maps(p, thr: np.ndarray, bias: np.ndarray) -> dict:
    """``threshold_map`` / ``bias_map`` (R, C, H, W) where they differ from the per-channel values."""
    shape = (p.rows,) + tuple(p.shape)
    out = {}
    for name, per_channel, value in (("threshold_map", p.threshold, thr), ("bias_map", p.bias, bias)):
        value = value[:p.rows].reshape(shape).astype(np.float32)
        if not np.array_equal(value, np.broadcast_to(per_channel[:, :, None, None], shape)):
            out[name] = value
    return out


def realize(net, chip_spec, core_of: Mapping[str, np.ndarray], *, seed: int = 0) -> Realized:
    """The network ``net`` as ``chip_spec`` realizes it with the neurons on the cores ``core_of``.

    Parameters
    ----------
    net : itnet_neuro.ir.Network
        The network the schedule runs: unrolled copies ``pop@n``, or the block network for looped.
    chip_spec : ChipSpec, name or path
    core_of : mapping
        Population name → (C, H, W) int array, the core of each neuron (from the allocation).
    seed : int
        Seeds the axon-type initialization (with the core's content: equal cores realize equally): the result is deterministic.

    Returns
    -------
    Realized
    """
    from hardware_models.spec import load_chip

    chip = load_chip(chip_spec)
    realizer_for(chip)
    neu = _Neurons(net, core_of)
    syn = _Synapses(net, neu.offsets)
    res = _realize_cores(syn, neu, chip, seed)
    conns, sparse, rms, rel = [], [], {}, {}
    for i, c in enumerate(net.connections):
        s = syn.of(i)
        err = float(np.sqrt(np.mean((res.w[s] - syn.w[s]) ** 2))) if s.stop > s.start else 0.0
        size = float(np.sqrt(np.mean(syn.w[s] ** 2))) if s.stop > s.start else 0.0
        rms[c.name], rel[c.name] = err, (err / size if size > 0 else 0.0)
        post, pre = syn.post[s].astype(np.int64), syn.pre[s].astype(np.int64)
        new, is_sparse = _realized_connection(net, c, post, pre, syn.w[s], res.w[s])
        conns.append(new)
        if is_sparse:
            sparse.append(c.name)
    pops, unit = [], {}
    for p in net.populations:
        g = slice(neu.offsets[p.name], neu.offsets[p.name] + p.size)
        maps = _maps(p, res.threshold[:, g], res.bias[:, g])
        pops.append(dataclasses.replace(p, **maps) if maps else p)
        unit[p.name] = res.unit[g].reshape(p.shape)
    network = dataclasses.replace(net, populations=tuple(pops), connections=tuple(conns))
    return Realized(network, MappingProxyType(res.clipped), MappingProxyType(res.clip_factors),
                    MappingProxyType(rms), MappingProxyType(rel),
                    MappingProxyType(unit), tuple(sparse), MappingProxyType(res.cores))
