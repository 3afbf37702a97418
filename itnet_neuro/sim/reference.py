"""The ground truth: a plain tick-by-tick numpy loop over the IR, in float64.

Nothing clever: every tick, every population integrates the delayed spikes of its inputs through
the op's linear map (the numpy kernels of :mod:`itnet_neuro.sim.kernels.numpy_ops`, written
independently of the TensorFlow ones in :mod:`itnet_neuro.sim.kernels.tf_ops`), adds
its bias, and fires and resets one neuron update at a time (:mod:`itnet_neuro.sim.core` states the
semantics; every neuron option of the IR — per-neuron maps, reset to zero, leak, saturation — and a
chip's trial-to-trial noise are modelled). The looped schedule is implemented literally — phases,
parameter row ``n-1``, a state buffer replaying phase ``n-1`` or regenerating its final-window rate
as a regular train — so that the tests can check the ``fast`` simulator (looped replay = unrolled
copies shifted by ``(n-1)·T_phase``; regeneration phase by phase) against it.

``apply_op``, ``connection_matrix`` and ``resize_matrix`` are importable from here as before; they live
in :mod:`itnet_neuro.sim.kernels.numpy_ops` and :mod:`itnet_neuro.ir.ops`.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.ir.graph import Network, Population
from itnet_neuro.ir.ops import resize_matrix  # noqa: F401  (historical import path)
from itnet_neuro.sim.core import (RunSpec, SimResult, finish_result, local_grid, regenerated_spikes, regular_train,
                                  synapses_per_pre_neuron)
from itnet_neuro.sim.kernels.numpy_ops import apply_op, connection_matrix  # noqa: F401
from itnet_neuro.utils import process_age


# ----------------------------------------------------------------------------------- simulation
class _Neurons:
    """State of one population copy: ``v`` ``(B, C, H, W)`` float64, its parameter row, its neuron options.

    ``noise(name, t)``: the trial-to-trial factors ``(B, C, H, W)`` on the synaptic input of tick ``t``,
    or None (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`)."""

    def __init__(self, pop: Population, row: int, batch: int, name: str | None = None, noise=None):
        theta, bias = pop.neuron_params(row + 1)
        self.theta = theta.astype(np.float64)[None]
        self.bias = bias.astype(np.float64)[None]
        self.leak = float(pop.leak)
        self.reset, self.v_min, self.v_max = pop.reset, pop.v_min, pop.v_max
        self.v = np.broadcast_to(pop.v_init * self.theta, (batch,) + pop.shape).copy()
        self.name, self.noise = name or pop.name, noise

    def step(self, current: np.ndarray, t: int) -> np.ndarray:
        """One tick: ``v = (1 - leak)·v + I·n + b``; saturate; ``s = v >= θ``; reset."""
        if self.noise is not None:
            factors = self.noise(self.name, t)
            if factors is not None:
                current = current * factors
        self.v = (1.0 - self.leak) * self.v + (current + self.bias)
        if self.v_min is not None or self.v_max is not None:
            self.v = np.clip(self.v, self.v_min, self.v_max)
        s = self.v >= self.theta
        if self.reset == "zero":
            self.v[s] = 0.0
        else:
            self.v -= self.theta * s
        return s


def _input_emission(spec: RunSpec, e: int) -> np.ndarray:
    return spec.inputs.astype(np.float64) if spec.input_spikes is None else spec.input_spikes[:, e].astype(np.float64)


def _regenerated(spec: RunSpec, trains: dict, n: int, window_counts: dict) -> dict:
    """State population → emission function of the regenerating buffer in phase ``n`` (empty for
    replay and for phase 1): the spike count of its copy ``n-1`` over the last ``window_ticks`` of
    phase ``n-1``, re-emitted as a regular train from local tick 1 (:func:`regular_train`)."""
    if spec.state_buffer != "regenerate" or n < 2:
        return {}
    w, t = spec.window_ticks, spec.ticks
    out = {}
    for c in spec.net.connections:
        if c.feedback and c.pre not in out:
            m = trains[f"{c.pre}@{n - 1}"][:, t - w + 1:t + 1].sum(axis=1, dtype=np.int64)
            window_counts[f"{c.pre}@{n - 1}"] = m
            out[c.pre] = (lambda e, m=m: None if e < 1 or e > t
                          else regular_train(m, w, e, e + 1)[:, 0].astype(np.float64))
    return out


def run(spec: RunSpec, *, record: bool = False, hardware=None, seed: int = 0, **_) -> SimResult:
    """Run ``spec`` tick by tick (see the module docstring) with ``hardware``'s trial-to-trial noise."""
    batch = spec.inputs.shape[0]
    noise = None
    if hardware is not None and hardware.has_input_noise:
        def noise(name, t):
            return hardware.input_noise(name, range(batch), (t,), unet.population(name).shape)[:, 0]

    ticks = spec.ticks
    unet = spec.unrolled
    # trains[name][:, t] = spikes emitted at local tick t (index 0 = tick 0: none for populations)
    trains = {p.name: np.zeros((batch, ticks + 1) + p.shape, np.uint8) for p in unet.populations}

    def emission(net: Network, pre: str, e: int, copy: str | None = None):
        if e < 0:
            return None
        if pre == net.input.name:
            return _input_emission(spec, e) if e < ticks else None
        return trains[copy or pre][:, e].astype(np.float64) if e >= 1 else None

    def integrate(net: Network, conns, t: int, resolve) -> np.ndarray | float:
        """``resolve(c)``: the unrolled copy ``c.pre`` stands for, or a function of the emission tick
        giving what the state buffer emits then (the regenerating buffer)."""
        total = 0.0
        for c in conns:
            src = resolve(c)
            x = src(t - c.delay) if callable(src) else emission(net, c.pre, t - c.delay, src)
            if x is not None and x.any():
                y = apply_op(net, c, x)
                shape = list(y.shape)
                full = np.zeros((batch,) + net.shape_of(c.post))
                full[:, c.post_offset:c.post_offset + shape[1]] = y
                total = total + full
        return total

    first_tick_after_s = process_age()  # issue 17: start-up as the user sees it, interpreter included
    if spec.schedule == "unrolled":
        neurons = {p.name: _Neurons(p, 0, batch, noise=noise) for p in unet.populations}
        incoming = {p.name: unet.incoming(p.name) for p in unet.populations}
        for t in range(1, ticks + 1):
            for p in unet.populations:
                cur = integrate(unet, incoming[p.name], t, lambda c: None)
                trains[p.name][:, t] = neurons[p.name].step(cur, t)
    else:
        net = spec.net
        window_counts: dict[str, np.ndarray] = {}  # state copy → its spike count over the buffer's window
        members = set(net.block.populations)
        outside = [p for p in net.populations if p.name not in members]
        neurons = {p.name: _Neurons(p, 0, batch, noise=noise) for p in outside}
        for t in range(1, ticks + 1):  # phase 1: the populations outside the block
            for p in outside:
                trains[p.name][:, t] = neurons[p.name].step(integrate(net, net.incoming(p.name), t, lambda c: None), t)
        block = [p for p in net.populations if p.name in members]
        for n in range(1, net.block.iterations + 1):
            state = {p.name: _Neurons(p, n - 1, batch, f"{p.name}@{n}", noise) for p in block}  # row n-1, v_init·θ
            regen = _regenerated(spec, trains, n, window_counts)

            def resolve(c, n=n, regen=regen):
                if c.feedback:  # the state buffer: phase n-1's spikes at local ticks, or their regenerated rate
                    return regen[c.pre] if regen else f"{c.pre}@{n - 1}"
                return f"{c.pre}@{n}" if c.pre in members else None

            for t in range(1, ticks + 1):
                for p in block:
                    conns = [c for c in net.incoming(p.name) if c.active_in(n) and not (c.feedback and n == 1)]
                    trains[f"{p.name}@{n}"][:, t] = state[p.name].step(integrate(net, conns, t, resolve), t)

    lg = local_grid(spec)
    counts = {name: np.cumsum(trains[name][:, 1:], axis=1, dtype=np.uint32)[:, lg - 1]
              for name in spec.readout_populations}
    spikes = {name: float(tr.sum()) for name, tr in trains.items()}
    per_pre = synapses_per_pre_neuron(unet)
    synops = {}
    for c in unet.connections:
        if c.pre == unet.input.name:
            x = spec.inputs if spec.input_spikes is None else spec.input_spikes
            events = np.count_nonzero(x) * (ticks if spec.input_spikes is None else 1)
        elif c.name in spec.regenerated:  # the buffer's spikes that arrive within the phase
            events = regenerated_spikes(window_counts[c.pre], spec.window_ticks, ticks - c.delay)
        else:
            events = spikes[c.pre]
        synops[c.name] = float(events * per_pre[c.name])
    out = {name: tr[:, 1:] for name, tr in trains.items()} if record else None
    info = {"first_tick_after_s": first_tick_after_s}
    if spec.regenerated:
        info["state_buffer_spikes"] = float(sum(regenerated_spikes(m, spec.window_ticks, ticks)
                                                for m in window_counts.values()))
    return finish_result(spec, "reference", counts, lg, spikes, synops, out, info)
