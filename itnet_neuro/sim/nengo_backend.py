"""The IR as a nengo ``Network``: the ``nengo`` (reference simulator) and ``nengo-dl`` backends.

Mapping (same semantics as every backend, :mod:`itnet_neuro.sim.core`)
---------------------------------------------------------------------
* ``dt = 1``: one nengo step is one tick; step ``k`` (time ``k·dt``) is tick ``k``.
* Each population of the unrolled network is an ``Ensemble`` of :class:`IFNeuron` (gain 1, the
  population's per-neuron bias as the ensemble bias, per-neuron threshold and initial voltage as
  neuron state, the leak, reset mode and saturation as neuron parameters):
  ``v = (1 - leak)·v + J; v = clip(v, v_min, v_max); s = v >= θ; v -= θ·s`` (or ``v = 0`` where
  ``s`` for reset to zero), output ``s / dt`` (amplitude 1), one spike per tick at most — not
  :class:`nengo.SpikingRectifiedLinear`, which clips negative input and can emit several spikes per
  step. A chip's trial-to-trial noise is refused (:func:`refuse_input_noise`).
* A connection with delay ``d`` is a neurons→neurons ``Connection`` whose synapse is a pure
  discrete delay ``LinearFilter([1], [1, 0, …, 0], analog=False)`` (``d`` zeros, ``z^-d``); a
  connection without synapse has no delay — both checked by the tests against the reference loop.
  Transforms are this backend's kernels, registered per op in :mod:`itnet_neuro.sim.kernels.nengo_ops`
  (``nengo.Convolution`` where the padding allows, a matrix for dense, ``nengo.Sparse`` otherwise).
* The input is a ``Node`` emitting, at step ``k``, the input's emission of tick ``k - 1``
  (``x`` for the current encoding), connected with a delay of ``d - 1`` steps (``synapse=None``
  for ``d = 1``), so the emission of tick ``e`` arrives at tick ``e + d``.

Tolerances: ``nengo`` runs in float64 and matches the reference spike for spike on exact (dyadic)
networks. ``nengo-dl`` runs in float32 (its default), which on dyadic networks is exact as well; on
networks with arbitrary float weights its spikes may differ where a membrane lands within float32
rounding (≈ 1e-7 relative) of θ — the tests allow no difference on dyadic networks and compare spike
*counts per neuron* within ±1 on float networks.
"""

from __future__ import annotations

import time

import numpy as np

from itnet_neuro.errors import SimulationError, require
from itnet_neuro.ir.graph import Network
from itnet_neuro.sim.core import RunSpec, SimResult, finish_result, local_grid, synapses_per_pre_neuron
from itnet_neuro.sim.kernels.nengo_ops import transform as kernel_transform
from itnet_neuro.utils import process_age

_IF_CLASS = None


def _if_neuron_class():
    """The :class:`IFNeuron` nengo neuron type (defined lazily so importing this module needs no nengo)."""
    global _IF_CLASS
    if _IF_CLASS is not None:
        return _IF_CLASS
    nengo = require("nengo", "nengo")
    from nengo.dists import Choice
    from nengo.params import BoolParam, NumberParam

    class IFNeuron(nengo.neurons.NeuronType):
        """Integrate-and-fire with per-neuron threshold and the IR's neuron options (dt = 1).

        ``v = (1 - leak)·v + J; v = clip(v, v_min, v_max); s = v >= threshold``; then
        ``v -= threshold·s`` (``reset_zero`` False) or ``v = 0`` where ``s`` (True); output ``s / dt``.
        """

        state = {"voltage": Choice([0.0]), "threshold": Choice([1.0])}
        spiking = True
        leak = NumberParam("leak", low=0, high=1, high_open=True)
        reset_zero = BoolParam("reset_zero")
        v_min = NumberParam("v_min")
        v_max = NumberParam("v_max")

        def __init__(self, leak: float = 0.0, reset_zero: bool = False, v_min: float = -np.inf,
                     v_max: float = np.inf, initial_state=None):
            super().__init__(initial_state)
            self.leak = leak
            self.reset_zero = reset_zero
            self.v_min = v_min
            self.v_max = v_max

        def max_rates_intercepts(self, gain, bias):  # gain and bias are always given explicitly
            return np.ones_like(gain), np.zeros_like(gain)

        def step(self, dt, J, output, voltage, threshold):
            if self.leak:
                voltage *= 1.0 - self.leak
            voltage += J
            if self.v_min > -np.inf or self.v_max < np.inf:
                np.clip(voltage, self.v_min, self.v_max, out=voltage)
            spiked = voltage >= threshold
            if self.reset_zero:
                voltage[spiked] = 0.0
            else:
                voltage -= threshold * spiked
            output[:] = spiked / dt

    _IF_CLASS = IFNeuron
    return IFNeuron


def _register_nengo_dl():
    """Give :class:`IFNeuron` a TensorFlow implementation in nengo-dl (else it runs as Python)."""
    require("nengo_dl", "nengo")
    import tensorflow as tf
    from nengo_dl.neuron_builders import SimNeuronsBuilder, TFNeuronBuilder

    neuron = _if_neuron_class()
    if neuron in SimNeuronsBuilder.TF_NEURON_IMPL:
        return

    class IFNeuronBuilder(TFNeuronBuilder):
        spiking = True

        def build_pre(self, signals, config):
            super().build_pre(signals, config)
            neurons, sizes = [op.neurons for op in self.ops], [op.J.shape[0] for op in self.ops]
            self.keep = 1.0 - signals.op_constant(neurons, sizes, "leak", signals.dtype)
            self.zero = signals.op_constant(neurons, sizes, "reset_zero", signals.dtype)
            self.v_min = signals.op_constant(neurons, sizes, "v_min", signals.dtype)
            self.v_max = signals.op_constant(neurons, sizes, "v_max", signals.dtype)

        def step(self, J, dt, voltage, threshold):
            voltage = tf.clip_by_value(self.keep * voltage + J, self.v_min, self.v_max)
            spiked = tf.cast(voltage >= threshold, voltage.dtype)
            # reset: subtract θ (zero = 0) or subtract v itself (zero = 1), exact in both cases
            voltage -= spiked * (self.zero * voltage + (1.0 - self.zero) * threshold)
            return spiked * self.alpha, voltage, threshold

        def training_step(self, J, dt, **state):
            return tf.nn.relu(J)

    SimNeuronsBuilder.TF_NEURON_IMPL[neuron] = IFNeuronBuilder


def _delay(d: int):
    nengo = require("nengo", "nengo")
    if d <= 0:
        return None
    return nengo.LinearFilter([1.0], [1.0] + [0.0] * d, analog=False)  # z^-d (tests check the count)


def build_nengo_network(net: Network, x: np.ndarray | None = None, *, input_spikes: np.ndarray | None = None,
                        probe: bool = True, sparse_only: bool = False, input_node_output=None):
    """Build the IR as a :class:`nengo.Network` (the block is unrolled first).

    Parameters
    ----------
    net : Network
    x : (C, H, W) array, optional
        Preprocessed input of one image (current encoding); default zeros. Ignored when
        ``input_node_output`` is given.
    input_spikes : (T, C, H, W) array, optional
        The input's emissions at ticks ``0 … T-1`` for the spike encodings.
    probe : bool
        Add a probe on every population's neurons.
    sparse_only : bool
        Express every op as a ``nengo.Sparse`` transform (no ``nengo.Convolution``).
    input_node_output : optional
        The input ``Node``'s ``output`` (e.g. a callable reading a mutable buffer).

    Returns
    -------
    nengo.Network
        With attributes ``itnet_ensembles`` (population name → Ensemble), ``itnet_probes``
        (name → Probe) and ``itnet_input`` (the input Node).
    """
    nengo = require("nengo", "nengo")
    neuron = _if_neuron_class()
    unet = net.unroll()
    size = unet.input.size
    if input_node_output is None:
        if input_spikes is not None:
            flat = np.asarray(input_spikes, np.float64).reshape(len(input_spikes), -1)

            def input_node_output(t, flat=flat):
                k = int(round(t)) - 1  # step k emits the input of tick k - 1
                return flat[k] if 0 <= k < len(flat) else np.zeros(size)
        else:
            input_node_output = np.zeros(size) if x is None else np.asarray(x, np.float64).reshape(-1)
    model = nengo.Network(label=unet.name)
    ens, probes = {}, {}
    with model:
        inp = nengo.Node(input_node_output, size_out=size, label=unet.input.name)
        for p in unet.populations:
            theta, bias = (a.astype(np.float64).reshape(-1) for a in p.neuron_params())
            lo, hi = (-np.inf if p.v_min is None else p.v_min), (np.inf if p.v_max is None else p.v_max)
            ens[p.name] = nengo.Ensemble(
                p.size, 1, neuron_type=neuron(leak=float(p.leak), reset_zero=p.reset == "zero", v_min=lo, v_max=hi,
                                              initial_state={"voltage": p.v_init * theta, "threshold": theta}),
                gain=np.ones(p.size), bias=bias, label=p.name)
        for c in unet.connections:
            transform, sl = kernel_transform(unet, c, sparse_only)
            post = ens[c.post].neurons[sl]
            if c.pre == unet.input.name:
                nengo.Connection(inp, post, transform=transform, synapse=_delay(c.delay - 1))
            else:
                nengo.Connection(ens[c.pre].neurons, post, transform=transform, synapse=_delay(c.delay))
        if probe:
            for name, e in ens.items():
                probes[name] = nengo.Probe(e.neurons, label=name)
    model.itnet_ensembles = ens
    model.itnet_probes = probes
    model.itnet_input = inp
    return model


def _collect(spec: RunSpec, trains: dict[str, np.ndarray], record: bool, backend: str) -> SimResult:
    """Spike trains ``(B, T, N)`` per unrolled population → :class:`SimResult`."""
    unet = spec.unrolled
    lg = local_grid(spec)
    shapes = {p.name: p.shape for p in unet.populations}
    spikes = {name: float(tr.sum()) for name, tr in trains.items()}
    counts = {}
    for name in spec.readout_populations:
        cs = np.cumsum(trains[name], axis=1, dtype=np.uint32)[:, lg - 1]
        counts[name] = cs.reshape(cs.shape[:2] + shapes[name])
    per_pre = synapses_per_pre_neuron(unet)
    synops = {}
    for c in unet.connections:
        if c.pre == unet.input.name:
            src = spec.inputs if spec.input_spikes is None else spec.input_spikes
            events = np.count_nonzero(src) * (spec.ticks if spec.input_spikes is None else 1)
        else:
            events = spikes[c.pre]
        synops[c.name] = float(events * per_pre[c.name])
    out = None
    if record:
        out = {name: tr.reshape(tr.shape[:2] + shapes[name]).astype(np.uint8) for name, tr in trains.items()}
    return finish_result(spec, backend, counts, lg, spikes, synops, out)


def refuse_input_noise(backend: str, hardware) -> None:
    """Raise for a chip with trial-to-trial noise: the nengo backends do not model it (the per-tick input
    factors would need a node per population in front of every ensemble)."""
    if hardware is not None and hardware.has_input_noise:
        raise SimulationError(
            f"{backend} backend: trial-to-trial noise of chip {hardware.name!r} (noise.temporal_noise_rel_std = "
            f"{hardware.chip.noise.temporal_noise_rel_std:g}) is not modelled in {backend}; use --backend fast, "
            "reference or brian2 for this chip")


def run_nengo(spec: RunSpec, *, record: bool = False, sparse_only: bool = False, hardware=None, **_) -> SimResult:
    """Run ``spec`` in nengo's reference simulator (float64), one image at a time."""
    refuse_input_noise("nengo", hardware)
    nengo = require("nengo", "nengo")
    holder = {"x": None}
    size = spec.unrolled.input.size

    def node_output(t):
        k = int(round(t)) - 1
        if spec.input_spikes is None:
            return holder["x"]
        frames = holder["x"]
        return frames[k] if 0 <= k < len(frames) else np.zeros(size)

    model = build_nengo_network(spec.net, input_node_output=node_output, sparse_only=sparse_only)
    trains = {name: [] for name in model.itnet_probes}
    run_s = 0.0
    with nengo.Simulator(model, dt=1.0, progress_bar=False, optimize=True) as sim:
        for b in range(spec.inputs.shape[0]):
            if spec.input_spikes is None:
                holder["x"] = spec.inputs[b].astype(np.float64).reshape(-1)
            else:
                holder["x"] = spec.input_spikes[b].astype(np.float64).reshape(spec.input_spikes.shape[1], -1)
            sim.reset()
            first_tick = process_age() if b == 0 else first_tick
            t0 = time.perf_counter()
            sim.run_steps(spec.ticks)
            run_s += time.perf_counter() - t0
            for name, probe in model.itnet_probes.items():
                trains[name].append(np.rint(sim.data[probe]).astype(np.uint8))
    trains = {name: np.stack(v) for name, v in trains.items()}
    result = _collect(spec, trains, record, "nengo")
    result.info["run_steps_seconds"] = run_s  # the simulation proper, without building the simulator
    result.info["first_tick_after_s"] = first_tick  # issue 17: seconds from the process's start
    return result


def run_nengo_dl(spec: RunSpec, *, record: bool = False, batch_size: int | None = None, sparse_only: bool = False,
                 hardware=None, **_) -> SimResult:
    """Run ``spec`` in nengo-dl (TensorFlow, float32), the images as one minibatch."""
    refuse_input_noise("nengo-dl", hardware)
    nengo_dl = require("nengo_dl", "nengo")
    _register_nengo_dl()
    b_total = spec.inputs.shape[0]
    mb = int(batch_size or b_total)
    model = build_nengo_network(spec.net, sparse_only=sparse_only)
    size = spec.unrolled.input.size
    if spec.input_spikes is None:
        feed = np.repeat(spec.inputs.reshape(b_total, 1, size), spec.ticks, axis=1)
    else:
        # data row j is step j + 1, which emits the input of tick j
        feed = spec.input_spikes[:, :spec.ticks].reshape(b_total, spec.ticks, size).astype(np.float32)
    trains = {name: [] for name in model.itnet_probes}
    run_s = 0.0
    with nengo_dl.Simulator(model, dt=1.0, minibatch_size=mb, progress_bar=False) as sim:
        for b0 in range(0, b_total, mb):
            chunk = feed[b0:b0 + mb]
            n = chunk.shape[0]
            if n < mb:
                chunk = np.concatenate([chunk, np.zeros((mb - n,) + chunk.shape[1:], chunk.dtype)])
            sim.reset(include_probes=True, include_trainable=False)
            first_tick = process_age() if b0 == 0 else first_tick
            t0 = time.perf_counter()
            sim.run_steps(spec.ticks, data={model.itnet_input: chunk})
            run_s += time.perf_counter() - t0
            for name, probe in model.itnet_probes.items():
                trains[name].append(np.rint(sim.data[probe][:n]).astype(np.uint8))
    trains = {name: np.concatenate(v) for name, v in trains.items()}
    result = _collect(spec, trains, record, "nengo-dl")
    result.info["run_steps_seconds"] = run_s  # the simulation proper, without building the TensorFlow graph
    result.info["first_tick_after_s"] = first_tick  # issue 17: seconds from the process's start
    return result
