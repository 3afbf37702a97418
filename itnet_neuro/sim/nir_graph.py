"""A reference simulator of NIR graphs: numpy, tick by tick, each node run as NIR defines it.

It shares no code with the IR simulators, so it can check both directions of the NIR bridge:
export (IR → NIR file → ``nir.read`` → here: the same spikes as the IR on the ideal chip) and import
(a graph written with NIR's own API → here, and → IR → our simulators: the same spikes).

Time (the IR's tick semantics, :mod:`itnet_neuro.sim.core`, applied to NIR's dataflow graph)
----------------------------------------------------------------------------------------------
* One step is one tick of length ``dt`` (the graph metadata's ``dt``, else the ``dt`` argument).
* ``Input`` nodes emit the input value ``x`` at every tick ``0 … T-1``.
* Neuron nodes update at ticks ``1 … T``. Their input current ``I[t]`` is the sum, over every path of
  linear nodes from a source (a neuron or an input) into them, of those nodes applied to what the
  source emitted at tick ``t - d``. ``d`` is the path's delay: the ``"delay"`` metadata of the first
  node that has one, going upstream (the export writes it on each connection's node), else 1 tick;
  a ``nir.Delay`` node adds ``round(delay / dt)`` ticks. Paths into an ``Output`` have ``d = 0``: an
  output reads the spikes of the same tick, as a readout counts them.
* Linear nodes (``Conv2d``, ``Affine``, ``Linear``, ``Scale``, ``Flatten``, ``SumPool2d``,
  ``AvgPool2d`` — ``count_include_pad``, as PyTorch — and ``Delay``) are evaluated with their bias at
  every tick, whether spikes arrived yet or not.
* Neurons (forward Euler with step ``dt``; NIR's equations)::

      IF:      v ← v + dt·r·I
      LIF:     v ← v + (dt/τ)·(v_leak − v + r·I)
      CubaLIF: i ← i + (dt/τ_syn)·(−i + w_in·I);   v ← v + (dt/τ_mem)·(v_leak − v + r·i)

  then ``spike = v > v_threshold`` and ``v ← v_reset`` where it spiked (NIR), unless the node's
  metadata says ``"spike_condition": "v >= v_threshold"`` and ``"reset": "subtract"``
  (``v ← v − v_threshold``), as the export writes. ``v`` starts at ``v_init·v_threshold`` (metadata)
  or 0. A neuron emits at most one spike per tick. ``LI`` and ``I`` (no spikes) update after the
  neurons of the same tick, with the same Euler step, and emit ``v``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itnet_neuro.errors import SimulationError

NEURON_TYPES = ("IF", "LIF", "CubaLIF")
INTEGRATOR_TYPES = ("LI", "I")  # non-spiking: their output is v, read by Outputs in the same tick
LINEAR_TYPES = ("Conv2d", "Affine", "Linear", "Scale", "Flatten", "SumPool2d", "AvgPool2d", "Delay")


@dataclass
class NIRRun:
    """What :func:`simulate_nir` returns.

    Attributes
    ----------
    spikes : dict of str to np.ndarray
        Neuron node → ``(B, T, *shape)`` uint8 spikes of ticks ``1 … T``.
    outputs : dict of str to np.ndarray
        Output node → ``(B, T, *shape)`` float64 value at ticks ``1 … T`` (a readout decodes
        ``sum over ticks / ticks``).
    """

    spikes: dict
    outputs: dict


def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def conv2d(x: np.ndarray, node) -> np.ndarray:
    """``nir.Conv2d`` on ``x`` ``(B, C_in, H, W)`` (float64; padding int/tuple/'same'/'valid')."""
    w = np.asarray(node.weight, np.float64)
    kh, kw = w.shape[2:]
    dh, dw = _pair(node.dilation)
    sh, sw = _pair(node.stride)
    pad = node.padding
    if isinstance(pad, (bytes, str)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        pad = (0, 0) if pad == "valid" else (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    ph, pw = _pair(pad)
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    g = int(np.asarray(node.groups))
    cin_g, per = w.shape[1], w.shape[0] // g
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            patch = xp[:, :, y0:y0 + sh * (ho - 1) + 1:sh, x0:x0 + sw * (wo - 1) + 1:sw]
            for k in range(g):
                wk = w[k * per:(k + 1) * per, :, ky, kx]
                if np.any(wk):
                    out[:, k * per:(k + 1) * per] += np.einsum("oi,bihw->bohw", wk,
                                                               patch[:, k * cin_g:(k + 1) * cin_g], optimize=True)
    return out + np.asarray(node.bias, np.float64).reshape(1, -1, 1, 1)


def _pool(x: np.ndarray, node, mean: bool) -> np.ndarray:
    kh, kw = _pair(node.kernel_size)
    sh, sw = _pair(node.stride)
    ph, pw = _pair(node.padding)
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for ky in range(kh):
        for kx in range(kw):
            out += xp[:, :, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw]
    return out / (kh * kw) if mean else out


def apply_linear(node, x: np.ndarray) -> np.ndarray:
    """One linear NIR node on a batch ``x`` ``(B, *input shape)``."""
    kind = type(node).__name__
    if kind == "Conv2d":
        return conv2d(x, node)
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.weight, np.float64)
        y = np.einsum("...mn,b...n->b...m", w, x)
        return y + np.asarray(node.bias, np.float64) if kind == "Affine" else y
    if kind == "Scale":
        return x * np.asarray(node.scale, np.float64)
    if kind == "Flatten":
        return x.reshape((x.shape[0],) + tuple(int(v) for v in node.output_type["output"]))
    if kind in ("SumPool2d", "AvgPool2d"):
        return _pool(x, node, kind == "AvgPool2d")
    if kind == "Delay":
        return x
    raise SimulationError(f"NIR node type {kind} is not simulated (linear types: {', '.join(LINEAR_TYPES)})")


class _Neurons:
    """State of one neuron node (see the module docstring for the update)."""

    def __init__(self, node, batch: int, dt: float, as_ir: bool = False):
        self.kind = type(node).__name__
        self.node, self.dt = node, dt
        meta = node.metadata or {}
        self.subtract = as_ir or str(meta.get("reset", "")) == "subtract"
        self.geq = as_ir or str(meta.get("spike_condition", "")) == "v >= v_threshold"
        self.theta = np.asarray(node.v_threshold, np.float64)
        self.v = np.broadcast_to(float(meta.get("v_init", 0.0)) * self.theta, (batch,) + self.theta.shape).copy()
        self.i_syn = np.zeros_like(self.v)

    def step(self, current: np.ndarray) -> np.ndarray:
        n, dt = self.node, self.dt
        r = np.asarray(n.r, np.float64)
        if self.kind == "IF":
            self.v = self.v + dt * r * current
        elif self.kind == "LIF":
            self.v = self.v + dt / np.asarray(n.tau, np.float64) * (np.asarray(n.v_leak, np.float64) - self.v + r * current)
        else:  # CubaLIF
            a = dt / np.asarray(n.tau_syn, np.float64)
            self.i_syn = self.i_syn + a * (-self.i_syn + np.asarray(n.w_in, np.float64) * current)
            self.v = self.v + dt / np.asarray(n.tau_mem, np.float64) * (np.asarray(n.v_leak, np.float64) - self.v
                                                                        + r * self.i_syn)
        s = self.v >= self.theta if self.geq else self.v > self.theta
        if self.subtract:
            self.v = self.v - self.theta * s
        else:
            self.v = np.where(s, np.asarray(n.v_reset, np.float64), self.v)
        return s.astype(np.uint8)


def _delay_meta(node) -> int | None:
    meta = getattr(node, "metadata", None) or {}
    return int(meta["delay"]) if "delay" in meta else None


def simulate_nir(graph, x, ticks: int, *, dt: float | None = None, as_ir: bool = False) -> NIRRun:
    """Run a NIR graph for ``ticks`` ticks on inputs ``x``.

    Parameters
    ----------
    graph : nir.NIRGraph
        One level (no subgraphs), acyclic through linear nodes.
    x : np.ndarray or dict
        ``(B, *input shape)`` for a graph with one ``Input`` node, else ``{input node: array}``.
    dt : float, optional
        Step length in the graph's time unit (default: the graph metadata's ``dt``, else 1).
    as_ir : bool
        Every neuron resets by subtraction and fires on ``v >= θ`` (what importing with
        ``reset="subtract"`` makes of it), whatever its metadata says.
    """
    nodes = graph.nodes
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in NEURON_TYPES + INTEGRATOR_TYPES + LINEAR_TYPES + ("Input", "Output"):
            raise SimulationError(f"NIR node {name!r}: type {kind} is not simulated")
    dt = float(dt if dt is not None else (graph.metadata or {}).get("dt", 1.0))
    inputs = [n for n, v in nodes.items() if type(v).__name__ == "Input"]
    xs = x if isinstance(x, dict) else {inputs[0]: x}
    xs = {k: np.asarray(v, np.float64) for k, v in xs.items()}
    batch = next(iter(xs.values())).shape[0]
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in graph.edges:
        pred[b].append(a)
    neurons = {n: _Neurons(v, batch, dt, as_ir) for n, v in nodes.items() if type(v).__name__ in NEURON_TYPES}
    outputs = [n for n, v in nodes.items() if type(v).__name__ == "Output"]
    integrators = {n: 0.0 for n, v in nodes.items() if type(v).__name__ in INTEGRATOR_TYPES}
    history: dict[str, list[np.ndarray]] = {n: [] for n in neurons}

    def source(name: str, t: int, d: int) -> np.ndarray | float:
        k = t - d  # the tick the source emitted at
        if name in xs:
            return xs[name] if k >= 0 else 0.0
        return history[name][k - 1] if k >= 1 else 0.0

    def evaluate(name: str, t: int, d: int | None, default: int, memo: dict):
        node = nodes[name]
        kind = type(node).__name__
        if kind in NEURON_TYPES or kind == "Input":
            return source(name, t, default if d is None else d)
        if kind in INTEGRATOR_TYPES:
            return integrators[name]
        own = _delay_meta(node)
        d = own if (d is None and own is not None) else d
        if kind == "Delay":
            extra = int(round(float(np.max(np.asarray(node.delay))) / dt))
            d = (default if d is None else d) + extra
        key = (name, d, default)
        if key not in memo:
            total = sum(evaluate(p, t, d, default, memo) for p in pred[name])
            if np.isscalar(total):
                total = np.zeros((batch,) + tuple(int(v) for v in node.input_type["input"])) + total
            memo[key] = apply_linear(node, total)
        return memo[key]

    spikes = {n: np.zeros((batch, ticks) + neurons[n].theta.shape, np.uint8) for n in neurons}
    outs = {n: None for n in outputs}
    for t in range(1, ticks + 1):
        memo: dict = {}
        emitted = {}
        for n, state in neurons.items():
            current = sum(evaluate(p, t, None, 1, memo) for p in pred[n])
            emitted[n] = state.step(np.broadcast_to(current, state.v.shape))
        for n, s in emitted.items():
            history[n].append(s)
            spikes[n][:, t - 1] = s
        memo = {}
        for n in integrators:
            node = nodes[n]
            current = sum(evaluate(p, t, None, 0, memo) for p in pred[n])
            r = np.asarray(node.r, np.float64)
            if type(node).__name__ == "I":
                integrators[n] = integrators[n] + dt * r * current
            else:
                integrators[n] = integrators[n] + dt / np.asarray(node.tau, np.float64) * (
                    np.asarray(node.v_leak, np.float64) - integrators[n] + r * current)
        for n in outputs:
            val = sum(evaluate(p, t, None, 0, memo) for p in pred[n])
            if outs[n] is None:
                outs[n] = np.zeros((batch, ticks) + np.shape(val)[1:])
            outs[n][:, t - 1] = val
    return NIRRun(spikes, outs)


__all__ = ["LINEAR_TYPES", "NEURON_TYPES", "NIRRun", "apply_linear", "conv2d", "simulate_nir"]
