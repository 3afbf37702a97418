"""The IR in brian2: explicit ``NeuronGroup`` s and ``Synapses`` (``brian2`` backend), and continuous-time
LIF dynamics for mixed-signal chips (:func:`run_lif`).

Discrete IF mapping (same semantics as every backend, :mod:`itnet_neuro.sim.core`)
---------------------------------------------------------------------------------
* One brian2 time step of ``dt = 1 ms`` is one tick (step ``k`` is tick ``k + 1``); all variables
  are dimensionless.
* Each population is a ``NeuronGroup`` with per-neuron ``v``, ``theta``, ``b`` (bias), ``keep``
  (``1 - leak``) and ``I`` (synaptic input collected for the next tick). In the ``start`` slot of a
  step: ``v = keep·v + ((I + I_in(t))·n_in(t) + b)``, ``v = clip(v, v_min, v_max)`` where the
  population saturates, ``I = 0``; then ``threshold='v >= theta'`` and ``reset='v -= theta'`` (or
  ``'v = 0'`` for reset to zero). ``n_in`` is the chip's trial-to-trial noise, where it has one.
* Every connection is a ``Synapses`` object built by this backend's kernel for its op
  (:mod:`itnet_neuro.sim.kernels.brian2_ops`) with ``on_pre='I_post += w'``. Brian2
  delivers spikes in the ``synapses`` slot, after the thresholds of the same step, so a synaptic
  delay of ``(d - 1)·dt`` gives the IR's delay ``d`` (a spike of tick ``t`` is integrated at
  ``t + d``).
* The input is not a spiking group: its current into each first-layer population, per tick, is
  precomputed with the same matrices (``W·x`` from tick ``d`` on, or ``W·s_in[t - d]``) and read
  from a ``TimedArray`` ``I_in``.

Images run one after another (one network build each; the compiled code is cached by brian2).
``target``: ``"numpy"`` (default, no compiler) or ``"cython"`` (compiled, faster for long runs).
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.errors import require
from itnet_neuro.ir.graph import Network
from itnet_neuro.sim.core import RunSpec, SimResult
from itnet_neuro.sim.kernels.brian2_ops import synapse_matrix
from itnet_neuro.utils import process_age

_IF_MODEL = """
v : 1
theta : 1 (constant)
b : 1 (constant)
keep : 1 (constant)
I : 1
"""


def _input_currents(spec: RunSpec, image: int) -> dict[str, np.ndarray]:
    """Population name → ``(T, N)`` input current per tick (row ``t - 1`` for tick ``t``)."""

    unet = spec.unrolled
    t_total = spec.ticks
    out: dict[str, np.ndarray] = {}
    for c in unet.connections:
        if c.pre != unet.input.name:
            continue
        m = synapse_matrix(unet, c)
        cur = out.setdefault(c.post, np.zeros((t_total, m.shape[0])))
        if spec.input_spikes is None:
            y = m @ spec.inputs[image].astype(np.float64).reshape(-1)
            if c.delay <= t_total:
                cur[c.delay - 1:] += y[None]
        else:
            frames = spec.input_spikes[image].astype(np.float64).reshape(spec.input_spikes.shape[1], -1)
            for t in range(c.delay, t_total + 1):  # tick t receives the emission of tick t - d
                e = t - c.delay
                if e < len(frames):
                    cur[t - 1] += m @ frames[e]
    return out


def _update_code(p, has_input: bool, noisy: bool) -> str:
    """The ``start``-slot update of one population: ``v = keep·v + (I·n + b)``, then the saturation."""
    drive = "(I + I_in(t, i))" if has_input else "I"
    if noisy:
        drive = f"{drive} * n_in(t, i)"
    code = f"v = keep * v + ({drive} + b)\n"
    if p.v_min is not None or p.v_max is not None:
        code += "v = clip(v, v_lo, v_hi)\n"
    return code + "I = 0"


def _saturation(p) -> dict:
    return {"v_lo": -np.inf if p.v_min is None else p.v_min, "v_hi": np.inf if p.v_max is None else p.v_max}


def build_brian2_network(spec: RunSpec, image: int = 0, hardware=None):
    """A ``brian2.Network`` of the unrolled IR for one image, and its groups and spike monitors.

    ``hardware``: its trial-to-trial noise multiplies each population's synaptic input (a
    ``TimedArray`` ``n_in`` of :meth:`itnet_neuro.sim.hardware.Hardware.input_noise`, the same draws as
    every backend)."""
    b2 = require("brian2", "brian2")

    unet = spec.unrolled
    ms = b2.ms
    currents = _input_currents(spec, image)
    noisy = hardware is not None and hardware.has_input_noise
    objs, groups, monitors = [], {}, {}
    for p in unet.populations:
        theta, bias = (a.astype(np.float64).reshape(-1) for a in p.neuron_params())
        k = len(groups)
        ns = _saturation(p)
        if p.name in currents:
            ns["I_in"] = b2.TimedArray(currents[p.name], dt=1 * ms, name=f"I_in_{k}")
        if noisy:
            factors = hardware.input_noise(p.name, (image,), range(1, spec.ticks + 1), p.shape)[0]
            ns["n_in"] = b2.TimedArray(factors.reshape(spec.ticks, -1), dt=1 * ms, name=f"n_in_{k}")
        reset = "v = 0" if p.reset == "zero" else "v -= theta"
        g = b2.NeuronGroup(p.size, _IF_MODEL, threshold="v >= theta", reset=reset, method="exact",
                           dt=1 * ms, name=f"pop_{k}", namespace=ns)
        g.theta = theta
        g.b = bias
        g.keep = 1.0 - float(p.leak)
        g.v = p.v_init * theta
        g.I = 0.0
        g.run_regularly(_update_code(p, p.name in currents, noisy), when="start", name=f"update_{k}")
        groups[p.name] = g
        monitors[p.name] = b2.SpikeMonitor(g, name=f"spikes_{len(monitors)}")
        objs += [g, monitors[p.name]]
    for k, c in enumerate(unet.connections):
        if c.pre == unet.input.name:
            continue
        m = synapse_matrix(unet, c).tocoo()
        s = b2.Synapses(groups[c.pre], groups[c.post], "w : 1 (constant)", on_pre="I_post += w",
                        delay=(c.delay - 1) * ms, dt=1 * ms, name=f"syn_{k}")
        s.connect(i=m.col.astype(np.int32), j=m.row.astype(np.int32))
        s.w = m.data
        objs.append(s)
    return b2.Network(*objs), groups, monitors


def run(spec: RunSpec, *, record: bool = False, target: str = "numpy", hardware=None, **_) -> SimResult:
    """Run ``spec`` in brian2 (float64), one image at a time, with ``hardware``'s trial-to-trial noise."""
    b2 = require("brian2", "brian2")
    from itnet_neuro.sim.nengo_backend import _collect

    b2.prefs.codegen.target = target
    b2.prefs.logging.console_log_level = "WARNING"
    unet = spec.unrolled
    t_total = spec.ticks
    trains = {p.name: np.zeros((spec.inputs.shape[0], t_total, p.size), np.uint8) for p in unet.populations}
    for image in range(spec.inputs.shape[0]):
        b2.start_scope()
        network, groups, monitors = build_brian2_network(spec, image, hardware)
        first_tick = process_age() if image == 0 else first_tick
        network.run(t_total * b2.ms)
        for name, mon in monitors.items():
            steps = np.rint(np.asarray(mon.t / b2.ms)).astype(int)
            trains[name][image, steps, np.asarray(mon.i)] = 1
    result = _collect(spec, trains, record, "brian2")
    result.info["target"] = target
    result.info["first_tick_after_s"] = first_tick  # issue 17: seconds from the process's start
    return result


# ------------------------------------------------------------------------------------------------
# continuous-time LIF for mixed-signal chips


def _tau_m(p, tau_m_s: float | None, tick_s: float) -> float:
    """Membrane time constant of population ``p``: ``tau_m_s`` if given, else from its per-tick leak
    (``leak = 1 − exp(−tick/τ_m)`` ⇒ ``τ_m = −tick / ln(1 − leak)``); ``inf`` for a non-leaky neuron."""
    if tau_m_s is not None:
        return float(tau_m_s)
    return float("inf") if p.leak == 0 else -tick_s / float(np.log1p(-p.leak))


def run_lif(net: Network, x: np.ndarray, duration_s: float, *, tau_m_s: float | None = None,
            tau_syn_s: float = 5e-3, tick_s: float = 1e-3, weight_mismatch: float = 0.0, neuron_mismatch: float = 0.0,
            seed: int = 0, record_v: int = 8, dt_s: float = 0.05e-3, target: str = "numpy") -> dict:
    """Continuous-time leaky integrate-and-fire emulation of a (non-iterative) IR in biological time.

    The analog neuron of a mixed-signal chip (BrainScaleS-2 is an adaptive-exponential LIF circuit
    run 1000× faster than biology) integrates an exponentially decaying synaptic current instead of
    a per-tick sum::

        dv/dt = -v/τ_m + I_syn/τ_syn + b/tick,   τ_syn dI_syn/dt = -I_syn,
        v = clip(v, v_min, v_max);   spike: v >= θ → v -= θ (reset "subtract") or v = 0 ("zero")

    so that one spike of weight ``w`` delivers the charge of ``w`` units of input, as one IF tick
    would (up to the leak). Bias is a constant current of ``b`` per ``tick_s``. The input drives the
    first layer with the current ``W·x`` per ``tick_s``. The neuron is each population's own (the
    chip's, after :meth:`itnet_neuro.sim.hardware.Hardware.apply`): per-neuron thresholds and biases
    (``threshold_map``, ``bias_map``), reset mode, saturation, and ``τ_m`` from its per-tick leak
    (``leak = 1 − exp(−tick/τ_m)``; no leak term for ``leak = 0``) unless ``tau_m_s`` sets one for all.
    Extra mismatch: per-synapse weight factors and per-neuron threshold factors ``max(0, 1 + σξ)``,
    fixed by ``seed``.

    Parameters
    ----------
    net : Network
        A network without an iterative block (or it is unrolled).
    x : (C, H, W) array
        One preprocessed input.
    duration_s : float
        Emulated (biological) time.
    tau_m_s : float, optional
        Membrane time constant (s) for every population, overriding their leaks.
    record_v : int
        Membrane traces of the first ``record_v`` neurons of every population are returned.

    Returns
    -------
    dict
        ``t`` (s), ``v`` (population → (record_v, steps)), ``theta`` (population → per-neuron θ),
        ``rates`` (population → spikes per neuron per ``tick_s``), ``counts`` (population → spikes).
    """
    b2 = require("brian2", "brian2")

    b2.prefs.codegen.target = target
    b2.prefs.logging.console_log_level = "WARNING"
    b2.start_scope()
    unet = net.unroll()
    rng = np.random.default_rng([seed, 11])
    second = b2.second
    model = """
    dv/dt = {leak}I_syn / tau_syn + b / tick + I_in / tau_syn : 1
    dI_syn/dt = -I_syn / tau_syn : 1
    theta : 1 (constant)
    b : 1 (constant)
    I_in : 1 (constant)
    """
    groups, spikes, states, thetas = {}, {}, {}, {}
    objs = []
    x_flat = np.asarray(x, np.float64).reshape(-1)
    inputs: dict[str, np.ndarray] = {}
    for c in unet.connections:
        if c.pre == unet.input.name:
            m = synapse_matrix(unet, c)
            # I_in in units per tau_syn: a constant input of y per tick equals y·τ_syn/tick
            inputs[c.post] = inputs.get(c.post, 0) + (m @ x_flat) * tau_syn_s / tick_s
    for k, p in enumerate(unet.populations):
        theta, bias = (a.astype(np.float64).reshape(-1) for a in p.neuron_params())
        if neuron_mismatch > 0:
            theta = np.maximum(theta * np.maximum(0.0, 1.0 + neuron_mismatch * rng.standard_normal(theta.shape)),
                               1e-6)
        tau_m = _tau_m(p, tau_m_s, tick_s)
        ns = {"tau_syn": tau_syn_s * second, "tick": tick_s * second, "tau_m": tau_m * second, **_saturation(p)}
        reset = "v = 0" if p.reset == "zero" else "v -= theta"
        leaky = bool(np.isfinite(tau_m))  # without a leak the system has a zero eigenvalue: "exact" refuses it
        g = b2.NeuronGroup(p.size, model.format(leak="-v / tau_m + " if leaky else ""), threshold="v >= theta",
                           reset=reset, method="exact" if leaky else "euler", namespace=ns, dt=dt_s * second,
                           name=f"lif_{k}")
        g.theta = theta
        g.b = bias
        g.v = p.v_init * theta
        g.I_in = inputs.get(p.name, np.zeros(p.size))
        if p.v_min is not None or p.v_max is not None:
            g.run_regularly("v = clip(v, v_lo, v_hi)", when="after_groups", name=f"lif_clip_{k}")
        groups[p.name], thetas[p.name] = g, theta
        spikes[p.name] = b2.SpikeMonitor(g, name=f"lif_spikes_{k}")
        states[p.name] = b2.StateMonitor(g, "v", record=np.arange(min(record_v, p.size)), name=f"lif_v_{k}")
        objs += [g, spikes[p.name], states[p.name]]
    for k, c in enumerate(unet.connections):
        if c.pre == unet.input.name:
            continue
        m = synapse_matrix(unet, c).tocoo()
        weights = m.data.copy()
        if weight_mismatch > 0:
            weights = weights * np.maximum(0.0, 1.0 + weight_mismatch * rng.standard_normal(weights.shape))
        s = b2.Synapses(groups[c.pre], groups[c.post], "w : 1 (constant)", on_pre="I_syn_post += w",
                        delay=c.delay * tick_s * second, dt=dt_s * second, name=f"lif_syn_{k}")
        s.connect(i=m.col.astype(np.int32), j=m.row.astype(np.int32))
        s.w = weights  # dv/dt = I_syn/τ_syn → Δv = ∫ w·e^(−t/τ_syn)/τ_syn dt = w per spike
        objs.append(s)
    b2.Network(*objs).run(duration_s * second)
    ticks = duration_s / tick_s
    return {
        "t": np.asarray(states[unet.populations[0].name].t / second),
        "v": {name: np.asarray(mon.v) for name, mon in states.items()},
        "theta": thetas,
        "counts": {name: np.bincount(np.asarray(mon.i), minlength=groups[name].N) for name, mon in spikes.items()},
        "rates": {name: np.bincount(np.asarray(mon.i), minlength=groups[name].N) / ticks
                  for name, mon in spikes.items()},
    }
