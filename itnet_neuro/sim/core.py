"""One simulation interface, one tick semantics, every backend.

Tick semantics (shared by ``reference``, ``fast``, ``nengo``, ``nengo-dl`` and ``brian2``)
-------------------------------------------------------------------------------------------
* **Ticks** are numbered ``t = 1 … T``. Every population updates once per tick, in topological order
  (the order does not matter, since every connection has a delay of at least one tick).
* **Initial state** (before tick 1): ``v = v_init · θ`` for every neuron, no spikes in flight.
* **Neuron update** at tick ``t`` (the IR's neuron, :mod:`itnet_neuro.ir.graph`)::

      v  = (1 - leak) · v + I[t] · n[t] + bias
      v  = clip(v, v_min, v_max)     (membrane saturation, where the population has one)
      s  = v >= θ                    (at most one spike per neuron and tick)
      v -= θ · s                     (reset="subtract")   or   v = 0 where s   (reset="zero")

  with θ and bias per neuron (the population's ``threshold_map`` / ``bias_map``, else its channel
  values) and ``n[t] = 1``, or a chip's trial-to-trial noise factors
  (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`; ``nengo`` and ``nengo-dl`` refuse a noisy
  chip). The bias is added at every tick from tick 1 on, whether input has arrived yet or not.
* **Delays.** A population *emits* its spikes ``s[t]`` at tick ``t``; a connection with ``delay = d``
  delivers the spikes emitted at tick ``t`` to ``post`` at tick ``t + d``:
  ``I_post[t] = Σ_conn W_conn · s_pre[t - d]`` (zero for ``t - d < 0``). With the IR's default
  ``d = 1`` a spike emitted at tick ``t`` is integrated at tick ``t + 1``: latency equals depth.
* **The input is layer 0: it emits at ticks 0, 1, …, T-1.** With ``encoding="current"`` it emits its
  preprocessed value ``x`` (``raw · scale + offset``) at every tick, so a population at depth 1
  (``Network.depth()``) receives ``W·x`` from tick 1 on; with ``"poisson"`` it emits a spike with
  probability ``clip(x, 0, 1)`` per tick (seeded), with ``"regular"`` the count of spikes emitted at
  ticks ``0 … k`` is ``floor((k + 1) · r + 1/2)``, ``r = clip(x, 0, 1)``.
* **Schedules.** ``unrolled``: :meth:`Network.unroll` — one copy ``pop@n`` of each block member per
  iteration, all running from tick 1 (pipelined). ``looped``: one copy of the block, run in phases
  of ``T_phase`` ticks; phase ``n`` covers the absolute ticks ``(n-1)·T_phase + 1 … n·T_phase``, uses
  row ``n-1`` of the parameter tables and starts from ``v = v_init · θ``; populations outside the
  block run during phase 1 (``T_phase`` ticks), and a connection from them into iteration ``n``
  replays their phase-1 spikes at local ticks (none do in an ItNet: the data block feeds iteration 1
  only). What a feedback connection delivers in phase ``n`` is the *state buffer*'s
  (:mod:`mapping.schedule`, :data:`mapping.schedule.STATE_BUFFERS`):

  - ``"regenerate"`` (default): the rate of every state neuron over the last ``W = window_ticks``
    local ticks of phase ``n-1`` (``m`` spikes), re-emitted from local tick 1 of phase ``n`` as a
    regular train, ``floor(k·m/W + 1/2)`` spikes by local tick ``k`` (:func:`regular_train`),
    delivered after the connection's delay. Backends: ``fast`` and ``reference``
    (:data:`REGENERATING_BACKENDS`). The buffer is simulated as exact: the chip's realization of it
    (an emitter neuron's quantized bias, BrainScaleS-2's analog rate error) is not modelled.
  - ``"replay"``: the spikes the state emitted at local tick ``τ - d`` of phase ``n-1``. Hence the
    spikes of ``pop`` in phase ``n`` at local tick ``τ`` equal those of ``pop@n`` of the unrolled
    network at tick ``τ`` (tests check it). Every backend.

  Results of both schedules use the unrolled names ``pop@n`` and absolute ticks.
* **Decoding.** A readout decodes, at tick ``t``, the rate of its populations over their *window*
  ``[t0, t]`` — ``rate = (count(t) - count(t0 - 1)) / (t - t0 + 1)`` — times ``decode_scale``, with
  ``t0 = 1`` for the unrolled schedule and ``t0 = (n-1)·T_phase + 1`` for output ``n`` of the looped
  one. Before ``t0`` an output has no prediction.

Exactness: all backends agree spike for spike whenever the arithmetic is exact — weights, biases,
thresholds and inputs that are dyadic rationals with a few significant bits, as every integer-weight
chip has and the tests use. With arbitrary float weights the backends sum in different orders and
precisions (``fast``: float32 currents and membranes by default; ``reference``/``nengo``/``brian2``:
float64), so a neuron whose membrane lands within rounding error of θ may spike one tick apart.
``nengo-dl`` runs in float32 throughout (tolerance stated in its module).

Backends are registered by name with lazy imports (:data:`BACKENDS`); :func:`simulate` is the one
entry point.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from itnet_neuro.errors import SimulationError, ValidationError
from itnet_neuro.ir.graph import Network
from mapping.schedule import (DEFAULT_STATE_BUFFER, STATE_BUFFERS, default_window, feedback_names, iteration_depth,
                              split_copy)

SCHEDULES = ("unrolled", "looped")

#: Backends that simulate the regenerating state buffer (the others run the looped schedule as the
#: unrolled copies shifted by a phase, which is the replaying buffer).
REGENERATING_BACKENDS = ("fast", "reference")

#: backend name → "module:function"; each function has the signature of :func:`_backend_signature`.
BACKENDS: dict[str, str] = {
    "fast": "itnet_neuro.sim.fast:run",
    "reference": "itnet_neuro.sim.reference:run",
    "nengo": "itnet_neuro.sim.nengo_backend:run_nengo",
    "nengo-dl": "itnet_neuro.sim.nengo_backend:run_nengo_dl",
    "brian2": "itnet_neuro.sim.brian2_backend:run",
}


def get_backend(name: str) -> Callable[..., "SimResult"]:
    """The run function of backend ``name`` (imported on first use)."""
    if name not in BACKENDS:
        raise ValidationError(f"unknown simulation backend {name!r}; valid: {', '.join(BACKENDS)}")
    module, func = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), func)


@dataclass
class SimResult:
    """What a simulation produced (every backend fills the same fields).

    Attributes
    ----------
    backend, schedule : str
    ticks : int
        Total ticks simulated (``T``; for ``looped``, ``N · T_phase``).
    phase_ticks : int or None
        ``T_phase`` of the looped schedule.
    grid : np.ndarray
        ``(G,)`` ticks (1-based, increasing) at which cumulative counts were taken.
    counts : dict of str to np.ndarray
        Unrolled readout population name → ``(B, G, C, H, W)`` cumulative spike counts at ``grid``
        (uint32); for the looped schedule a :class:`PhaseCounts` (use :meth:`count_at`).
    window_start : dict of str to int
        Readout name → first tick ``t0`` of its decoding window.
    spikes_per_population : dict of str to float
        Unrolled population name → total spikes over all images and ticks.
    synaptic_ops : dict of str to float
        Connection name (unrolled) → synaptic events (spikes × synapses per presynaptic neuron), all
        images; input connections with ``current`` encoding count one event per nonzero input value
        per tick and synapse.
    trains : dict of str to np.ndarray or None
        With ``record=True``: unrolled population name → ``(B, T, C, H, W)`` uint8 spikes.
    images : int
    wall_seconds : float
    info : dict
        Backend-specific extras (e.g. neurons that needed the sequential update).
    state_buffer : str or None
        ``"regenerate"`` or ``"replay"`` for the looped schedule, else None.
    window_ticks : int or None
        Rate window of the regenerating buffer.
    """

    backend: str
    schedule: str
    ticks: int
    phase_ticks: int | None
    grid: np.ndarray
    counts: dict[str, np.ndarray]
    window_start: dict[str, int]
    spikes_per_population: dict[str, float]
    synaptic_ops: dict[str, float]
    trains: dict[str, np.ndarray] | None = None
    images: int = 0
    wall_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    state_buffer: str | None = None
    window_ticks: int | None = None

    def count_at(self, population: str, tick: int) -> np.ndarray:
        """Cumulative counts ``(B, C, H, W)`` of ``population`` at grid tick ``tick`` (0 at tick 0)."""
        if isinstance(self.counts, PhaseCounts):
            return self.counts.at(population, tick)
        if tick <= 0:
            return np.zeros_like(self.counts[population][:, 0])
        idx = np.searchsorted(self.grid, tick)
        if idx >= len(self.grid) or self.grid[idx] != tick:
            raise ValidationError(f"tick {tick} is not on the simulation grid")
        return self.counts[population][:, idx]


@dataclass(frozen=True)
class RunSpec:
    """What every backend is asked to run (built by :func:`prepare_run`).

    Attributes
    ----------
    net : Network
        The network as given (with its iterative block); backends that need it call ``unroll()``.
    unrolled : Network
    inputs : np.ndarray
        ``(B, C, H, W)`` preprocessed input values ``x``.
    input_spikes : np.ndarray or None
        ``(B, T_in, C, H, W)`` float32 emissions of the input at ticks ``0 … T_in-1`` for the spike
        encodings; ``None`` for ``current`` (the input emits ``x`` every tick).
    ticks : int
        Ticks each population copy runs: ``T`` for unrolled, ``T_phase`` for looped.
    schedule : str
    phase_ticks : int or None
    grid : np.ndarray
        Absolute ticks of the result grid.
    readout_populations : tuple of str
        Unrolled populations that readouts decode.
    state_buffer : str or None
        Looped schedule: ``"regenerate"`` or ``"replay"`` (module docstring); None for unrolled.
    window_ticks : int or None
        Regenerating buffer: ticks of the final window whose spike count sets the regenerated rate.
    """

    net: Network
    unrolled: Network
    inputs: np.ndarray
    input_spikes: np.ndarray | None
    ticks: int
    schedule: str
    phase_ticks: int | None
    grid: np.ndarray
    readout_populations: tuple[str, ...]
    state_buffer: str | None = None
    window_ticks: int | None = None

    @property
    def regenerated(self) -> frozenset[str]:
        """Unrolled connections (``name@n``) whose input the regenerating buffer supplies."""
        if self.schedule != "looped" or self.state_buffer != "regenerate":
            return frozenset()
        fb = feedback_names(self.net)
        return frozenset(c.name for c in self.unrolled.connections
                         if split_copy(c.name)[1] is not None and split_copy(c.name)[0] in fb)

    @property
    def total_ticks(self) -> int:
        return self.ticks if self.schedule == "unrolled" else self.ticks * self.iterations

    @property
    def iterations(self) -> int:
        return 1 if self.net.block is None else self.net.block.iterations

    def offset(self, unrolled_name: str) -> int:
        """Absolute tick of local tick 0 for a population copy (``(n-1)·T_phase`` for a looped member)."""
        if self.schedule == "unrolled" or "@" not in unrolled_name:
            return 0
        return (int(unrolled_name.rsplit("@", 1)[1]) - 1) * self.ticks

    def window_start(self) -> dict[str, int]:
        out = {}
        for r in self.net.readouts:
            n = r.iteration
            out[r.name] = 1 if (self.schedule == "unrolled" or n is None) else (n - 1) * self.ticks + 1
        return out


def default_grid(total_ticks: int, points: int = 64) -> np.ndarray:
    """About ``points`` ticks from 1 to ``total_ticks``: every tick early, then evenly spaced."""
    if total_ticks <= points:
        return np.arange(1, total_ticks + 1)
    lin = np.linspace(1, total_ticks, points)
    return np.unique(np.concatenate([np.arange(1, min(16, total_ticks) + 1), np.round(lin).astype(int)]))


def encode_input(net: Network, x: np.ndarray, ticks: int, seed: int = 0) -> np.ndarray | None:
    """The input's emissions at ticks ``0 … ticks-1`` for the spike encodings (see module docstring).

    Returns ``(B, ticks, C, H, W)`` float32, or ``None`` for ``"current"``.
    """
    enc = net.input.encoding
    if enc == "current":
        return None
    r = np.clip(x, 0.0, 1.0).astype(np.float64)[:, None]
    if enc == "poisson":
        rng = np.random.default_rng(seed)
        return (rng.random((x.shape[0], ticks) + x.shape[1:]) < r).astype(np.float32)
    k = np.arange(ticks, dtype=np.float64).reshape(1, ticks, 1, 1, 1)
    counts = np.floor((k + 1) * r + 0.5) - np.floor(k * r + 0.5)
    return counts.astype(np.float32)


def preprocess(net: Network, raw: np.ndarray) -> np.ndarray:
    """Images → network input ``x`` ``(B, C, H, W)`` float32.

    ``raw``: ``(B, H, W, C)``: ``uint8`` pixels become ``raw · scale + offset``; floats are model
    inputs, used as they are once their range fits the network's (else refused: a float image is never
    rescaled silently, :func:`itnet_neuro.data.inputs.model_inputs`). A channels-first float array of
    the input's shape is model inputs too.
    """
    from itnet_neuro.data.inputs import model_inputs

    raw = np.asarray(raw)
    c, h, w = net.input.shape
    if raw.ndim == 3:
        raw = raw[None]
    rng = net.metadata.get("input_range")
    if raw.shape[1:] == (c, h, w) and raw.dtype.kind == "f" and (h, w, c) != (c, h, w):
        return model_inputs(raw, net.input.scale, net.input.offset, recorded_range=rng, what=f"{net.name} input")
    if raw.shape[1:] != (h, w, c):
        raise ValidationError(f"images of shape {raw.shape[1:]} do not fit the network input "
                              f"{(h, w, c)} (H, W, C) of {net.name!r}; resize them or use --data at that size")
    x = model_inputs(raw, net.input.scale, net.input.offset, recorded_range=rng, what=f"{net.name} input")
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def regular_train(count: np.ndarray, window: int, k0: int, k1: int) -> np.ndarray:
    """Spikes the regenerating buffer emits at local ticks ``k0 … k1-1`` (1-based; none before 1).

    ``count`` ``(B, ...)`` integer spike counts over a window of ``window`` ticks; returns
    ``(B, k1 - k0, ...)`` uint8 with ``floor((2km + W) / 2W) - floor((2(k-1)m + W) / 2W)`` at tick
    ``k`` — so ``floor(k·m/W + 1/2)`` spikes by tick ``k``, a regular train at rate ``m / W`` —
    in exact integer arithmetic.
    """
    m = np.asarray(count, np.int64)[:, None]
    k = np.arange(k0, k1, dtype=np.int64).reshape((1, -1) + (1,) * (m.ndim - 2))
    w = int(window)
    spikes = (2 * k * m + w) // (2 * w) - (2 * (k - 1) * m + w) // (2 * w)
    return np.where(k >= 1, spikes, 0).astype(np.uint8)


def regenerated_spikes(count: np.ndarray, window: int, until: int) -> int:
    """Spikes a regenerating buffer with window counts ``count`` emits at local ticks ``1 … until``."""
    m = np.asarray(count, np.int64)
    return int(((2 * max(int(until), 0) * m + window) // (2 * window)).sum())


def _buffer_args(net: Network, phase_ticks: int, state_buffer, window_ticks):
    """Validated ``(state_buffer, window_ticks)`` of a looped run."""
    state_buffer = state_buffer or DEFAULT_STATE_BUFFER
    if state_buffer not in STATE_BUFFERS:
        raise ValidationError(f"unknown state buffer {state_buffer!r}; valid: {', '.join(STATE_BUFFERS)}")
    if state_buffer == "replay":
        return state_buffer, None
    w = default_window(phase_ticks, iteration_depth(net)) if window_ticks is None else int(window_ticks)
    if not 1 <= w <= phase_ticks:
        raise ValidationError(f"state-buffer window of {w} ticks: must be between 1 and the phase's "
                              f"{phase_ticks} ticks")
    return state_buffer, w


def prepare_run(net: Network, x: np.ndarray, ticks: int, schedule: str = "unrolled", grid=None,
                phase_ticks: int | None = None, seed: int = 0, state_buffer: str | None = None,
                window_ticks: int | None = None) -> RunSpec:
    """Validate the arguments shared by every backend and build the :class:`RunSpec`.

    ``ticks`` is the total simulated time ``T``; for ``looped`` it is split into ``N`` phases of
    ``T_phase = phase_ticks or T // N`` ticks (the run is always ``N · T_phase`` ticks), with the
    given state buffer (default ``"regenerate"``, window :func:`mapping.schedule.default_window`).
    """
    if schedule not in SCHEDULES:
        raise ValidationError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if int(ticks) < 1:
        raise ValidationError(f"ticks must be >= 1, got {ticks}")
    x = np.asarray(x, np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != net.input.shape:
        raise ValidationError(f"input must be (B, C, H, W) = (B, {', '.join(map(str, net.input.shape))}), "
                              f"got {x.shape}")
    n_it = 1 if net.block is None else net.block.iterations
    if schedule == "looped":
        if net.block is None:
            schedule = "unrolled"  # nothing to loop: both schedules are the same network
        else:
            phase_ticks = int(phase_ticks or ticks // n_it)
            if phase_ticks < 1:
                raise ValidationError(f"looped schedule: {ticks} ticks for {n_it} iterations leave "
                                      f"{ticks // n_it} per phase; use --ticks >= {n_it}")
            ticks = phase_ticks
    buffer, window = (None, None) if schedule == "unrolled" else _buffer_args(net, ticks, state_buffer,
                                                                                window_ticks)
    if schedule == "unrolled":
        phase_ticks = None
    total = ticks * (n_it if schedule == "looped" else 1)
    g = default_grid(total) if grid is None else np.unique(np.clip(np.asarray(grid, int), 1, total))
    if schedule == "looped":  # the decoding windows need the counts at phase ends
        g = np.unique(np.concatenate([g, np.arange(1, n_it + 1) * ticks]))
    unrolled = net.unroll()
    ro_pops = tuple(dict.fromkeys(t.population for r in unrolled.readouts for t in r.terms))
    spikes = encode_input(net, x, ticks, seed)
    return RunSpec(net=net, unrolled=unrolled, inputs=x, input_spikes=spikes, ticks=int(ticks), schedule=schedule,
                   phase_ticks=phase_ticks, grid=g.astype(int), readout_populations=ro_pops, state_buffer=buffer,
                   window_ticks=window)


def simulate(net: Network, x: np.ndarray, ticks: int, *, backend: str = "fast", schedule: str = "unrolled",
             grid=None, phase_ticks: int | None = None, record: bool = False, seed: int = 0,
             hardware=None, state_buffer: str | None = None, window_ticks: int | None = None,
             **options) -> SimResult:
    """Simulate ``net`` on the preprocessed inputs ``x`` ``(B, C, H, W)`` for ``ticks`` ticks.

    Parameters
    ----------
    backend : str
        One of :data:`BACKENDS`.
    schedule : str
        ``"unrolled"`` or ``"looped"`` (see the module docstring).
    grid : array of int, optional
        Ticks at which readout counts are kept (default :func:`default_grid`).
    record : bool
        Keep every population's full spike train (small networks and tests only).
    hardware : itnet_neuro.sim.hardware.Hardware, optional
        Chip effects: weights, the chip's neuron, ranges and mismatch go into the network itself
        (:meth:`itnet_neuro.sim.hardware.Hardware.apply`); the backends draw its trial-to-trial noise
        (``fast``, ``reference``, ``brian2``; ``nengo`` and ``nengo-dl`` refuse a chip that has it).
    state_buffer : {"regenerate", "replay"}, optional
        Looped schedule: what carries the state between phases (module docstring; default
        ``"regenerate"``, which only :data:`REGENERATING_BACKENDS` simulate).
    window_ticks : int, optional
        Regenerating buffer: the rate window (default :func:`mapping.schedule.default_window`).
    options
        Backend-specific keywords (e.g. ``batch_size``, ``max_memory`` for ``fast``).
    """
    from itnet_neuro.sim.memory import check_run

    run = get_backend(backend)
    if hardware is not None:
        net = hardware.apply(net, schedule)
    # before the input is encoded (B × T × input for spike encodings) and before any backend starts
    check_run(net, int(np.shape(x)[0]), int(ticks), backend, record=record, batch=options.get("batch_size"),
              max_memory=options.get("max_memory"))
    spec = prepare_run(net, x, ticks, schedule, grid, phase_ticks, seed, state_buffer, window_ticks)
    if spec.state_buffer == "regenerate" and backend not in REGENERATING_BACKENDS:
        raise SimulationError(f"backend {backend!r} runs the looped schedule as the unrolled copies shifted by a "
                              "phase, i.e. with the replaying state buffer only; use state_buffer='replay' "
                              f"(--state-buffer replay) or backend {' or '.join(map(repr, REGENERATING_BACKENDS))}")
    t0 = time.perf_counter()
    result = run(spec, record=record, hardware=hardware, seed=seed, **options)
    result.wall_seconds = time.perf_counter() - t0
    result.backend = backend
    return result


class PhaseCounts(dict):
    """The readout counts of a looped run, kept per copy on the local ticks of its phase.

    A copy's counts are 0 before its phase and frozen after it, so storing them on the absolute grid
    would repeat N-1 phases' worth of constant values (gigabytes for the full-size preset). ``[pop]``
    still gives the ``(B, G, C, H, W)`` array on the absolute grid (built on each access; tests);
    :meth:`at` reads one tick without building it.
    """

    def __init__(self, local: dict, local_grid: np.ndarray, grid: np.ndarray, offsets: dict, phase_ticks: int):
        super().__init__(local)
        self.local_grid, self.grid, self.offsets, self.phase_ticks = local_grid, grid, offsets, phase_ticks

    def at(self, pop: str, tick: int) -> np.ndarray:
        c = dict.__getitem__(self, pop)
        local = min(max(int(tick) - self.offsets[pop], 0), self.phase_ticks)
        if local == 0:
            return np.zeros_like(c[:, 0])
        idx = int(np.searchsorted(self.local_grid, local))
        if idx >= len(self.local_grid) or self.local_grid[idx] != local:
            raise ValidationError(f"tick {tick} is not on the simulation grid")
        return c[:, idx]

    def __getitem__(self, pop: str) -> np.ndarray:
        c = dict.__getitem__(self, pop)
        local = np.clip(self.grid - self.offsets[pop], 0, self.phase_ticks)
        out = np.zeros((c.shape[0], len(self.grid)) + c.shape[2:], np.uint32)
        ok = local > 0
        out[:, ok] = c[:, np.searchsorted(self.local_grid, local[ok])]
        return out

    def items(self):
        return ((k, self[k]) for k in self)

    def values(self):
        return (self[k] for k in self)


def finish_result(spec: RunSpec, backend: str, counts_local: dict[str, np.ndarray], local_grid: np.ndarray,
                  spikes: dict[str, float], synops: dict[str, float], trains: dict[str, np.ndarray] | None,
                  info: dict | None = None) -> SimResult:
    """Turn a backend's per-copy results (local ticks) into a :class:`SimResult` on absolute ticks.

    ``counts_local[pop]`` is ``(B, len(local_grid), C, H, W)`` cumulative counts of an unrolled
    population at the local ticks ``local_grid`` (which must contain every ``grid - offset`` that
    lies in ``[1, spec.ticks]``). For the looped schedule a copy's counts are 0 before its phase and
    frozen after it (kept as :class:`PhaseCounts`).
    """
    grid = spec.grid
    counts = {}
    if spec.schedule == "looped":
        offsets = {pop: spec.offset(pop) for pop in counts_local}
        counts = PhaseCounts({p: np.asarray(c, np.uint32) for p, c in counts_local.items()}, np.asarray(local_grid),
                             grid, offsets, spec.ticks)
        counts_local = {}
    for pop in list(counts_local):
        c = counts_local.pop(pop)  # released as it is mapped: a whole-run array
        off = spec.offset(pop)
        local = np.clip(grid - off, 0, spec.ticks)
        idx = np.searchsorted(local_grid, local)
        ok = local > 0
        if ok.all() and len(local_grid) == len(grid) and c.dtype == np.uint32:
            counts[pop] = c  # the local grid is the grid (unrolled): no copy
            continue
        out = np.zeros((c.shape[0], len(grid)) + c.shape[2:], np.uint32)
        out[:, ok] = c[:, idx[ok]]
        counts[pop] = out
    if trains is not None and spec.schedule == "looped":
        total = spec.total_ticks
        shifted = {}
        for pop, tr in trains.items():
            off = spec.offset(pop)
            full = np.zeros((tr.shape[0], total) + tr.shape[2:], np.uint8)
            full[:, off:off + spec.ticks] = tr
            shifted[pop] = full
        trains = shifted
    return SimResult(backend=backend, schedule=spec.schedule, ticks=spec.total_ticks, phase_ticks=spec.phase_ticks,
                     grid=grid, counts=counts, window_start=spec.window_start(), spikes_per_population=spikes,
                     synaptic_ops=synops, trains=trains, images=int(spec.inputs.shape[0]), info=info or {},
                     state_buffer=spec.state_buffer, window_ticks=spec.window_ticks)


def local_grid(spec: RunSpec) -> np.ndarray:
    """Local ticks at which a backend must take counts so that :func:`finish_result` can map them."""
    offsets = {spec.offset(p) for p in spec.readout_populations} or {0}
    ticks = set()
    for off in offsets:
        loc = spec.grid - off
        ticks.update(int(t) for t in loc[(loc >= 1) & (loc <= spec.ticks)])
    ticks.add(spec.ticks)
    return np.array(sorted(ticks), int)


def synapses_per_pre_neuron(net: Network) -> dict[str, float]:
    """Connection name → mean synapses per presynaptic neuron (for synaptic-operation counts)."""
    out = {}
    for c in net.connections:
        pre = int(np.prod(net.shape_of(c.pre)))
        out[c.name] = net.synapses(c) / pre
    return out


__all__ = ["BACKENDS", "REGENERATING_BACKENDS", "SCHEDULES", "PhaseCounts", "RunSpec", "SimResult", "default_grid",
           "encode_input", "finish_result", "get_backend", "local_grid", "prepare_run", "preprocess", "regenerated_spikes",
           "regular_train", "simulate",
           "synapses_per_pre_neuron"]
