"""A chip (and optionally its allocation) applied to a simulation: quantization, mismatch, noise,
tick length, energy. The device models are the chip engineer's (:mod:`hardware_models.device`);
this module only decides *what* they are applied to.

What is modelled
----------------
* **Weights**: every connection's weights go through :func:`hardware_models.device.quantize_weights`
  for the chip (as one ``fan_in × C_out`` matrix, input-major); per-iteration thresholds and biases
  are rounded to the post population's weight step where the chip has ``neuron.threshold_bits``
  (thresholds ≥ one step). Weights shared by the iterations of the block stay shared.
* **Fixed-pattern mismatch** (``noise.weight_mismatch_rel_std``, ``noise.neuron_mismatch_rel_std``),
  drawn once per chip instance (``seed``) by :class:`hardware_models.device.ChipInstance`: a factor per
  weight value of each connection (per kernel tap and channel pair — a convolution stays a
  convolution, a simplification of per-synapse mismatch) and a threshold factor per neuron. With the
  **looped** schedule all iterations run on the same circuits and share these factors; with the
  **unrolled** schedule every copy ``pop@n`` has its own.
* **Trial-to-trial noise** (``noise.temporal_noise_rel_std``): the synaptic input of every neuron
  and tick is multiplied by a fresh factor ``max(0, 1 + σ ξ)`` (``fast`` backend only).
* **Time**: ``timing.tick_seconds`` converts ticks to hardware seconds.
* **Energy**: :func:`hardware_models.device.energy_joules` from the spikes, synaptic operations and
  neuron updates counted by the simulator, and the chip count of the allocation (1 without one).
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from itnet_neuro.errors import ValidationError
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
    allocation : dict, optional
        The parsed ``alloc.json``.
    quantize : bool
        Apply the chip's weight quantization (False: float weights, mismatch and noise only).
    """

    chip: object
    seed: int = 0
    allocation: dict | None = None
    quantize: bool = True
    report: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_chip(cls, name_or_path: str, seed: int = 0, **kw) -> "Hardware":
        from hardware_models.spec import load_chip

        return cls(load_chip(name_or_path), seed=seed, **kw)

    @classmethod
    def from_allocation(cls, path: str | Path, seed: int = 0, **kw) -> "Hardware":
        """From an ``alloc.json``: its chip (by name or by the spec it embeds) and the allocation."""
        from hardware_models.spec import load_chip

        alloc = json.loads(Path(path).read_text())
        chip = alloc.get("chip")
        name = chip.get("name") if isinstance(chip, dict) else chip
        if not name:
            raise ValidationError(f"{path}: no chip name in the allocation (key 'chip')")
        spec_path = alloc.get("chip_path") or (chip.get("path") if isinstance(chip, dict) else None)
        try:
            spec = load_chip(name)
        except Exception:
            if not spec_path:
                raise
            spec = load_chip(spec_path)
        return cls(spec, seed=seed, allocation=alloc, **kw)

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self.chip.name

    @property
    def tick_seconds(self) -> float:
        return float(self.chip.timing.tick_seconds)

    @property
    def n_chips(self) -> int:
        a = self.allocation or {}
        for key in ("n_chips", "chips"):
            v = a.get(key)
            if isinstance(v, (int, float)):
                return max(1, int(v))
        return 1

    @property
    def schedule(self) -> str | None:
        return None if not self.allocation else self.allocation.get("schedule")

    @property
    def phase_ticks(self) -> int | None:
        a = self.allocation or {}
        v = a.get("phase_ticks")
        return int(v) if isinstance(v, (int, float)) and v else None

    @property
    def state_buffer(self) -> dict:
        """The allocation's looped state buffer (``looped.state_buffer`` of ``alloc.json``; ``mode``,
        ``window_ticks`` …), empty without one."""
        looped = (self.allocation or {}).get("looped") or {}
        return dict(looped.get("state_buffer") or {})

    # ------------------------------------------------------------------ the network on the chip
    def apply(self, net: Network, schedule: str) -> Network:
        """``net`` as this chip instance realizes it (see the module docstring).

        Returns the block network for ``looped`` (copies share circuits) and the unrolled network for
        ``unrolled`` (each copy its own circuits).
        """
        from hardware_models.device import ChipInstance, quantize_weights

        target = net if schedule == "looped" else net.unroll()
        inst = ChipInstance(self.chip, self.seed)
        noise = self.chip.noise
        errors = {}
        conns = []
        steps: dict[str, float] = {}
        for c in target.connections:
            w = c.weight.astype(np.float64)
            if self.quantize and self.chip.weights.sign != "float":
                mat = np.moveaxis(w.reshape(w.shape[0], -1), 0, -1) if w.ndim > 1 else w[None, :]
                q = quantize_weights(mat, self.chip)
                realized = np.moveaxis(np.asarray(q.weights), -1, 0).reshape(w.shape) if w.ndim > 1 else \
                    np.asarray(q.weights)[0]
                errors[c.name] = q.rms_error(mat)
                if q.scale is not None:
                    step = float(np.min(q.scale))
                    steps[c.post] = min(steps.get(c.post, step), step)
                w = realized
            if noise.weight_mismatch_rel_std > 0:
                w = w * inst.weight_factors(w.shape, stream=_stream(c.name, 1))
            conns.append(dataclasses.replace(c, weight=w.astype(np.float32)))
        pops = []
        bits = self.chip.neuron.threshold_bits
        for p in target.populations:
            thr, bias = p.threshold.astype(np.float64), p.bias.astype(np.float64)
            step = steps.get(p.name)
            if self.quantize and bits and step:
                thr = np.clip(np.round(thr / step), 1, 2 ** bits - 1) * step
                bias = np.round(bias / step) * step
            if not self.chip.neuron.bias_supported:
                bias = np.zeros_like(bias)
            pops.append(dataclasses.replace(p, threshold=thr.astype(np.float32), bias=bias.astype(np.float32)))
        self.report = {"weight_rms_error": errors, "chip": self.chip.name, "seed": self.seed}
        return dataclasses.replace(target, connections=tuple(conns), populations=tuple(pops))

    def threshold_factors(self, unrolled: Network, schedule: str) -> dict[str, np.ndarray]:
        """Per-neuron threshold mismatch factors ``(H, W, C)`` (NHWC) per unrolled population.

        Copies of a block population share the pattern under the looped schedule."""
        from hardware_models.device import ChipInstance

        if self.chip.noise.neuron_mismatch_rel_std <= 0:
            return {}
        inst = ChipInstance(self.chip, self.seed)
        out = {}
        for p in unrolled.populations:
            key = p.name.split("@")[0] if schedule == "looped" else p.name
            c, h, w = p.shape
            out[p.name] = inst.neuron_factors((h, w, c), stream=_stream(key, 2))
        return out

    def temporal_noise(self, shape, trial: int) -> np.ndarray | None:
        """Multiplicative factors on the synaptic input for one chunk (``None`` if the chip has none)."""
        from hardware_models.device import sample_temporal_noise

        sigma = self.chip.noise.temporal_noise_rel_std
        if sigma <= 0:
            return None
        return sample_temporal_noise(shape, sigma, self.seed, trial).astype(np.float32)

    def energy(self, spikes: float, synaptic_ops: float, neuron_updates: float, ticks: float):
        """:class:`hardware_models.device.EnergyEstimate` of one image (counts per image)."""
        from hardware_models.device import energy_joules

        return energy_joules(synaptic_ops, spikes, ticks * self.tick_seconds, self.chip,
                             neuron_updates=neuron_updates, n_chips=self.n_chips)
