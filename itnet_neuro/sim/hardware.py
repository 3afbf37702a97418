"""A chip (and optionally its allocation) applied to a simulation: quantization, the chip's neuron,
ranges, mismatch, noise, tick length, energy. The device models are the chip engineer's
(:mod:`hardware_models.device`); this module only decides *what* they are applied to.

What is modelled
----------------
* **Weights**: every connection's weights go through :func:`hardware_models.device.quantize_weights`
  for the chip (as one ``fan_in × C_out`` matrix, input-major). Weights shared by the iterations of
  the block stay shared.
* **The chip's neuron** (:meth:`Hardware.neuron`), on every population, so every backend runs it:
  ``reset`` from ``neuron.reset``; ``leak`` per tick from ``neuron.membrane_time_constant_s``
  (:func:`hardware_models.device.leak_per_tick`: ``leak = 1 − exp(−Δt/τ_m)``, Δt the tick in the chip's
  own, biological, time base); thresholds and biases stored as integers of the post population's
  weight step ``s`` and clipped to ``neuron.threshold_bits`` / ``neuron.bias_bits``; the membrane
  saturates at ``neuron.membrane_bits`` (``v_min``, ``v_max``) (:func:`hardware_models.device.neuron_ranges`).
  Every clip is counted in ``report["clipped"]`` (with the largest factor a clip moved a value by in
  ``report["clip_factors"]``) and printed after ``simulate`` (:func:`clip_summary`).
* **Fixed-pattern mismatch** (``noise.weight_mismatch_rel_std``, ``noise.neuron_mismatch_rel_std``),
  drawn once per chip instance (``seed``) by :class:`hardware_models.device.ChipInstance`: a factor per
  weight value of each connection (per kernel tap and channel pair — a convolution stays a
  convolution, a simplification of per-synapse mismatch) and a threshold factor per neuron, which
  becomes the population's ``threshold_map``. With the **looped** schedule all iterations run on the
  same circuits and share these factors; with the **unrolled** schedule every copy ``pop@n`` has its own.
* **Trial-to-trial noise** (``noise.temporal_noise_rel_std``): the synaptic input of every neuron
  and tick is multiplied by a fresh factor ``max(0, 1 + σ ξ)`` (:meth:`Hardware.input_noise`, one
  stream per population copy, image and tick, so every backend that models it draws the same
  factors: ``fast``, ``reference``, ``brian2``; ``nengo`` and ``nengo-dl`` refuse a noisy chip).
* **Time**: ``timing.tick_seconds`` converts ticks to hardware seconds.
* **Energy**: :func:`hardware_models.device.energy_joules` from the spikes, synaptic operations and
  neuron updates counted by the simulator, and the chip count of the allocation (1 without one).
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from itnet_neuro.errors import AllocationError
from itnet_neuro.ir.graph import Network


def _stream(name: str, base: int) -> int:
    """A stable random stream per tensor name (independent of what else is drawn)."""
    return base * 1_000_003 + zlib.crc32(name.encode())


@dataclass
class Hardware:
    """A chip model, one physical instance of it, and (optionally) the allocation it runs.

    Attributes
    ----------
    chip : hardware_models.spec.ChipSpec
    seed : int
        Chip instance: fixes the mismatch pattern (and seeds the temporal noise).
    allocation : mapping.allocfile.AllocFile, optional
        The allocation it runs (read by :func:`mapping.allocfile.read`).
    quantize : bool
        Apply the chip's weight quantization (False: float weights, mismatch and noise only).
    ignore_limits : bool
        The allocation is simulated although it is infeasible (its ``violations`` say why).
    """

    chip: object
    seed: int = 0
    allocation: object | None = None
    quantize: bool = True
    report: dict = field(default_factory=dict)
    ignore_limits: bool = False

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_chip(cls, name_or_path: str, seed: int = 0, **kw) -> "Hardware":
        from hardware_models.spec import load_chip

        return cls(load_chip(name_or_path), seed=seed, **kw)

    @classmethod
    def from_allocation(cls, path: str | Path, seed: int = 0, *, ignore_limits: bool = False, **kw) -> "Hardware":
        """From an ``alloc.json`` (:func:`mapping.allocfile.read`): its chip and the allocation.

        An infeasible allocation raises :class:`~itnet_neuro.errors.AllocationError` (one line: the
        first violation and the option) unless ``ignore_limits``.
        """
        from hardware_models.spec import load_chip
        from mapping import allocfile

        alloc = allocfile.read(path)
        if not alloc.feasible and not ignore_limits:
            v = alloc.violations
            raise AllocationError(v, f"{path}: the allocation does not fit {alloc.chip.name} ({len(v)} violation(s); "
                                     f"first: {v[0]}); pass --ignore-limits to simulate it anyway")
        try:
            spec = load_chip(alloc.chip.name)
        except Exception:
            if not alloc.chip.path:
                raise
            spec = load_chip(alloc.chip.path)
        return cls(spec, seed=seed, allocation=alloc, ignore_limits=ignore_limits, **kw)

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self.chip.name

    @property
    def tick_seconds(self) -> float:
        return float(self.chip.timing.tick_seconds)

    @property
    def n_chips(self) -> int:
        return 1 if self.allocation is None else max(1, self.allocation.n_chips)

    @property
    def schedule(self) -> str | None:
        return None if self.allocation is None else self.allocation.schedule

    @property
    def phase_ticks(self) -> int | None:
        return None if self.allocation is None else self.allocation.phase_ticks

    @property
    def violations(self) -> tuple:
        """The allocation's violations (empty without one, or when it is feasible)."""
        return () if self.allocation is None else tuple(self.allocation.violations)

    # ------------------------------------------------------------------ the network on the chip
    def apply(self, net: Network, schedule: str) -> Network:
        """``net`` as this chip instance realizes it (see the module docstring).

        Returns the block network for ``looped`` (copies share circuits) and the unrolled network for
        ``unrolled`` (each copy its own circuits). Fills :attr:`report`.
        """
        from hardware_models.device import ChipInstance, quantize_weights

        target = net if schedule == "looped" else net.unroll()
        inst = ChipInstance(self.chip, self.seed)
        noise = self.chip.noise
        errors = {}
        conns = []
        steps: dict[str, float] = {}
        clips = _Clips()
        for c in target.connections:
            w = c.weight.astype(np.float64)
            if self.quantize and self.chip.weights.sign != "float":
                mat = np.moveaxis(w.reshape(w.shape[0], -1), 0, -1) if w.ndim > 1 else w[None, :]
                q = quantize_weights(mat, self.chip)
                realized = np.moveaxis(np.asarray(q.weights), -1, 0).reshape(w.shape) if w.ndim > 1 else \
                    np.asarray(q.weights)[0]
                errors[c.name] = q.rms_error(mat)
                clips.count["weights"] += _weight_clips(mat, q)
                if q.scale is not None:
                    step = float(np.min(q.scale))
                    steps[c.post] = min(steps.get(c.post, step), step)
                w = realized
            if noise.weight_mismatch_rel_std > 0:
                w = w * inst.weight_factors(w.shape, stream=_stream(c.name, 1))
            conns.append(dataclasses.replace(c, weight=w.astype(np.float32)))
        pops = tuple(self.neuron(p, steps.get(p.name), clips) for p in target.populations)
        self.report = {"weight_rms_error": errors, "chip": self.chip.name, "seed": self.seed,
                       "clipped": dict(clips.count), "clip_factors": clips.factors(),
                       "neuron": self.neuron_summary()}
        return dataclasses.replace(target, connections=tuple(conns), populations=pops)

    def neuron(self, p, step: float | None, clips: "_Clips | None" = None):
        """Population ``p`` with this chip's neuron (see the module docstring).

        ``step`` is the weight step of the connections feeding ``p`` (None: float weights, then no
        parameter is rounded, clipped or saturated). Clips are counted into ``clips``.
        """
        from hardware_models.device import ChipInstance, leak_per_tick, neuron_ranges

        clips = _Clips() if clips is None else clips
        spec = self.chip.neuron
        ranges = neuron_ranges(self.chip)
        thr, bias = p.threshold.astype(np.float64), p.bias.astype(np.float64)
        tmap, bmap = p.threshold_map, p.bias_map
        v_min = v_max = None
        if self.quantize and step and spec.threshold_bits:  # the chip stores integers of the weight step
            thr, tmap = (None if a is None else clips.store("thresholds", a, step, ranges.threshold)
                         for a in (thr, tmap))
            bias, bmap = (None if a is None else clips.store("biases", a, step, ranges.bias) for a in (bias, bmap))
            if ranges.membrane is not None:
                v_min, v_max = ranges.membrane[0] * step, ranges.membrane[1] * step
        if not spec.bias_supported:
            clips.count["biases"] += int(np.count_nonzero(bias if bmap is None else bmap))
            bias, bmap = np.zeros_like(bias), None
        if self.chip.noise.neuron_mismatch_rel_std > 0:  # fixed pattern per neuron: the analog threshold
            c, h, w = p.shape
            factors = ChipInstance(self.chip, self.seed).neuron_factors((h, w, c), stream=_stream(p.name, 2))
            base = thr[:, :, None, None] if tmap is None else tmap
            tmap = np.maximum(base * np.transpose(factors, (2, 0, 1))[None], 1e-6 * np.min(thr))
        leak = leak_per_tick(self.chip) if spec.membrane_time_constant_s is not None else p.leak
        return dataclasses.replace(p, threshold=thr.astype(np.float32), bias=bias.astype(np.float32),
                                   threshold_map=tmap, bias_map=bmap, reset=spec.reset, leak=leak,
                                   v_min=v_min, v_max=v_max)

    def neuron_summary(self) -> dict:
        """The chip's neuron as :meth:`neuron` applies it (for ``results.json``)."""
        from hardware_models.device import leak_per_tick, neuron_ranges

        r = neuron_ranges(self.chip)
        return {"model": self.chip.neuron.model, "reset": self.chip.neuron.reset,
                "leak_per_tick": leak_per_tick(self.chip),
                "threshold_range_steps": None if r.threshold is None else list(r.threshold),
                "bias_range_steps": None if r.bias is None else list(r.bias),
                "membrane_range_steps": None if r.membrane is None else list(r.membrane)}

    @property
    def has_input_noise(self) -> bool:
        """Whether the chip has trial-to-trial noise (``noise.temporal_noise_rel_std > 0``)."""
        return self.chip.noise.temporal_noise_rel_std > 0

    def input_noise(self, population: str, images, ticks, shape) -> np.ndarray | None:
        """Trial-to-trial factors on the synaptic input of ``population`` (an unrolled name ``pop@n``).

        Returns ``(len(images), len(ticks)) + shape`` float64 factors ``max(0, 1 + σ ξ)``, one independent
        stream per (population, image index, local tick), so the draws do not depend on how a backend
        batches images or ticks; ``None`` when the chip has no temporal noise.
        """
        from hardware_models.device import sample_temporal_noise

        sigma = self.chip.noise.temporal_noise_rel_std
        if sigma <= 0:
            return None
        key = zlib.crc32(population.encode())
        out = np.empty((len(images), len(ticks)) + tuple(shape))
        for i, b in enumerate(images):
            for j, t in enumerate(ticks):
                out[i, j] = sample_temporal_noise(shape, sigma, self.seed, (key, int(b), int(t)))
        return out

    def energy(self, spikes: float, synaptic_ops: float, neuron_updates: float, ticks: float):
        """:class:`hardware_models.device.EnergyEstimate` of one image (counts per image)."""
        from hardware_models.device import energy_joules

        return energy_joules(synaptic_ops, spikes, ticks * self.tick_seconds, self.chip,
                             neuron_updates=neuron_updates, n_chips=self.n_chips)


class _Clips:
    """Clip counts and the largest factors by which clipping moved a value, per parameter kind."""

    def __init__(self):
        self.count = {"weights": 0, "thresholds": 0, "biases": 0}
        self._factors: dict[str, dict[str, float]] = {}

    def store(self, what: str, x, step: float, rng) -> np.ndarray:
        from hardware_models.device import store_parameter

        lo, hi = (None, None) if rng is None else rng
        r = store_parameter(x, step, lo, hi)
        self.count[what] = self.count.get(what, 0) + r.clipped
        for way, factor in (("lowered", r.lowered), ("raised", r.raised)):
            if factor is not None:
                seen = self._factors.setdefault(what, {})
                seen[way] = max(seen.get(way, factor), factor)
        return r.values

    def factors(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in self._factors.items()}


def _weight_clips(w: np.ndarray, q) -> int:
    """Weights the quantizer saturated: realized further than half a step from ``w`` (rounding moves a
    weight by at most half a step). Axon types are left out: there the error beyond rounding comes from
    the 4-type constraint, not from a range."""
    if q.scheme in ("float", "axon-types", "trinary") or q.scale is None:
        return 0
    return int(np.count_nonzero(np.abs(q.weights - w) > 0.5 * np.asarray(q.scale) * (1 + 1e-9)))


def clip_summary(clipped: dict, factors: dict | None = None) -> str:
    """One line for the CLI: ``clipped to the chip's ranges: weights 0, thresholds 21 (lowered up to 1.47×), …``."""
    factors = factors or {}
    parts = []
    for name, n in clipped.items():
        ways = factors.get(name, {})
        moved = ", ".join(f"{way} up to {'∞' if ways[way] == float('inf') else format(ways[way], '.3g')}×"
                          for way in ("lowered", "raised") if way in ways)
        parts.append(f"{name} {n}" + (f" ({moved})" if moved and n else ""))
    return "clipped to the chip's ranges: " + ", ".join(parts)
