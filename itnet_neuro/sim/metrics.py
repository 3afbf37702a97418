"""Metrics of a simulation: every output decoded over time, mIoU per tick, latency.

Definitions (DESIGN.md §7; ticks are absolute, see :mod:`itnet_neuro.sim.core`):

* **Decoded logits** of readout ``r`` at grid tick ``t ≥ t0`` (its window start):
  ``Σ_terms W · (decode_scale · rate) + bias``, bilinearly resized to ``out_size``; the prediction is
  the argmax over classes. ``rate`` is the :class:`Decoder`'s estimate of each neuron's firing rate
  from its spike counts up to ``t`` (:data:`DECODERS`: cumulative, from-depth, late-window,
  sliding-window, exponentially filtered); the default, :data:`DEFAULT_DECODER`, was chosen by
  ``benchmarks/bench_decoders.py`` (``benchmarks/results/decoders.json``). Before ``t0`` there is no
  prediction (NaN in the curves). Under the looped schedule the window also ends with the readout's
  phase, ``t`` being capped at ``t0 - 1 + T_phase``: the output holds its phase-end value afterwards.
* **mIoU over time** (a classifier's readout — one class per image — reports the accuracy under the
  same keys, with ``"metric": "accuracy"``): one confusion matrix over all images per grid tick
  (:func:`itnet_neuro.metrics.confusion_matrix`, void pixels ignored), against the labels
  (``miou_over_time``) and against the ANN's own predictions (``agreement_over_time``).
* **first_output_tick**: the output's latency as the paper defines it (§2.3), its *depth*: ``t0 - 1``
  plus the longest delay path from the input to its readout populations
  (:func:`mapping.schedule.arrival_ticks`; under the regenerating state buffer the path of output
  n ≥ 2 starts at the buffer's first emission, local tick 1 of its phase). ``None`` where that lies
  beyond the output's looped phase.
* **first_spike_tick**: the same along the *shortest* path — the first tick an input-driven spike
  can reach the output. Spikes before it are driven by biases alone.
* **ticks_to_90 / ticks_to_99**: the first grid tick from which on the output's mIoU stays at or
  above 90% / 99% of the ANN's mIoU for that output (so a transient early peak does not count);
  ``None`` when it never gets there (or without labels or ANN); never earlier than
  ``first_spike_tick``.
* Seconds: ticks × the chip's ``timing.tick_seconds`` (``seconds_to_first_output``,
  ``seconds_to_first_spike``, ``seconds_to_90``, ``seconds_to_99``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from itnet_neuro.errors import ValidationError
from itnet_neuro.ir.graph import Network, Readout
from itnet_neuro.sim.core import SimResult


def _resize(logits: np.ndarray, out_size) -> np.ndarray:
    from itnet_neuro.ir.ops import resize_matrix

    b, k, h, w = logits.shape
    if out_size is None or tuple(out_size) == (h, w):
        return logits
    ah = resize_matrix(h, out_size[0], "bilinear")
    aw = resize_matrix(w, out_size[1], "bilinear")
    return np.einsum("oh,bkhw,pw->bkop", ah, logits, aw, optimize=True)


def readout_logits(net: Network, readout: Readout, decoded: dict[str, np.ndarray]) -> np.ndarray:
    """Logits ``(B, K, H_out, W_out)`` of ``readout`` from decoded values ``(B, C, H, W)`` per population."""
    total = None
    for term in readout.terms:
        x = decoded[term.population].astype(np.float64)
        if term.pool == "global_avg":
            y = np.einsum("kc,bc->bk", term.weight, x.mean(axis=(2, 3)))[:, :, None, None]
        else:
            y = np.einsum("kc,bchw->bkhw", term.weight, x)
        total = y if total is None else total + y
    total = total + readout.bias.reshape(1, -1, 1, 1)
    return _resize(total, readout.out_size)


@dataclass(frozen=True)
class Decoder:
    """How a readout turns spike counts into a rate estimate at tick ``t`` (window start ``t0``).

    ``name`` is one of :data:`DECODERS`; ``parameter`` its one knob. The count-difference decoders
    estimate ``rate = (count(t) - count(a - 1)) / (t - a + 1)`` over a window ``[a, t]``:

    ``cumulative``
        ``a = t0``: everything since the window start, the start-up transient included.
    ``from-depth``
        ``a = depth`` (the output's first_output_tick) once ``t ≥ depth``, else ``t0``: skips the
        ticks before input has arrived on every path.
    ``late`` (parameter f, 0 < f ≤ 1)
        ``a = t - ceil(f·(t - t0 + 1)) + 1``: the most recent fraction f of the elapsed time, so the
        transient's share shrinks while the window keeps growing.
    ``sliding`` (parameter w ticks)
        ``a = max(t0, t - w + 1)``: the last w ticks.

    ``exponential`` (parameter τ ticks) filters the spikes, ``y_t = (1-α) y_{t-1} + α s_t`` with
    ``α = 1 - exp(-1/τ)`` from ``y_{t0-1} = 0``, and reports ``y_t / (1 - (1-α)^{t-t0+1})`` (bias
    corrected for the zero start). Exact when the grid holds every tick; between grid ticks the
    spikes are taken as evenly spread.
    """

    name: str = "cumulative"
    parameter: float | None = None

    def __post_init__(self):
        if self.name not in DECODERS:
            raise ValidationError(f"unknown decoder {self.name!r}; valid: {', '.join(DECODERS)}")
        knob = DECODERS[self.name]
        if knob is None and self.parameter is not None:
            raise ValidationError(f"decoder {self.name!r} takes no parameter, got {self.parameter}")
        if knob is not None:
            value = knob[1] if self.parameter is None else float(self.parameter)
            if not (value > 0 and (self.name != "late" or value <= 1)):
                raise ValidationError(f"decoder {self.name!r}: {knob[0]} must be "
                                      + ("in (0, 1]" if self.name == "late" else "> 0") + f", got {value}")
            object.__setattr__(self, "parameter", value)

    @classmethod
    def parse(cls, text: "str | Decoder | None") -> "Decoder":
        """``"late:0.5"``, ``"sliding:32"``, ``"cumulative"`` … (None: :data:`DEFAULT_DECODER`)."""
        if text is None:
            return DEFAULT_DECODER
        if isinstance(text, Decoder):
            return text
        name, _, value = str(text).partition(":")
        try:
            parameter = float(value) if value else None
        except ValueError:
            raise ValidationError(f"decoder {text!r}: the parameter after ':' must be a number") from None
        return cls(name.strip(), parameter)

    @property
    def spec(self) -> str:
        return self.name if self.parameter is None else f"{self.name}:{self.parameter:g}"

    def to_json(self) -> dict:
        knob = DECODERS[self.name]
        return {"name": self.name, "parameter": self.parameter, "parameter_name": None if knob is None else knob[0],
                "spec": self.spec}

    def start(self, t0: int, t: int, depth: int | None) -> int:
        """First tick ``a`` of the counting window at tick ``t`` (count-difference decoders)."""
        if self.name == "from-depth":
            return depth if depth is not None and t0 <= depth <= t else t0
        if self.name == "late":
            return t - int(math.ceil(self.parameter * (t - t0 + 1) - 1e-9)) + 1
        if self.name == "sliding":
            return max(t0, t - int(self.parameter) + 1)
        return t0


#: decoder name → ``None`` or ``(parameter name, default value)`` (see :class:`Decoder`).
DECODERS = {"cumulative": None, "from-depth": None, "late": ("fraction", 0.5), "sliding": ("ticks", 32.0),
            "exponential": ("tau_ticks", 16.0)}

#: The decoder results use unless told otherwise: the best anytime mIoU in
#: ``benchmarks/results/decoders.json`` (written by ``benchmarks/bench_decoders.py``).
DEFAULT_DECODER = Decoder("late", 0.25)


def needed_ticks(decoder: Decoder, grid, starts: dict[str, int], caps: dict[str, int | None],
                 depths: dict[str, int | None]) -> np.ndarray:
    """Ticks whose counts ``decoder`` reads to decode every readout at every tick of ``grid``
    (readout name → window start, phase-end cap, depth); add them to a simulation's grid."""
    need = set(int(t) for t in grid)
    if decoder.name == "exponential":
        return np.array(sorted(need))
    for name, t0 in starts.items():
        cap = caps.get(name)
        for t in grid:
            t = int(t) if cap is None else min(int(t), cap)
            if t >= t0:
                need.update((t, decoder.start(t0, t, depths.get(name)) - 1))
    return np.array(sorted(n for n in need if n >= 1))


def _cap(result: SimResult, t0: int) -> int | None:
    return t0 - 1 + int(result.phase_ticks) if result.schedule == "looped" and result.phase_ticks else None


def iter_rates(result: SimResult, population: str, t0: int, decoder: Decoder, depth: int | None = None,
               indices=None):
    """Per grid index in ``indices`` (default all, increasing): the decoded rate ``(B, C, H, W)`` of an
    unrolled population whose readout window starts at ``t0``, or None before ``t0``."""
    grid = result.grid
    cap = _cap(result, t0)
    indices = range(len(grid)) if indices is None else indices
    if decoder.name == "exponential":
        yield from _iter_exponential(result, population, t0, cap, decoder.parameter, indices)
        return
    for g in indices:
        t = int(grid[g]) if cap is None else min(int(grid[g]), cap)
        if t < t0:
            yield None
            continue
        a = decoder.start(t0, t, depth)
        c = _count(result, population, t) - _count(result, population, a - 1)
        yield c.astype(np.float64) / float(t - a + 1)


def _count(result: SimResult, population: str, tick: int) -> np.ndarray:
    try:
        return result.count_at(population, tick).astype(np.float64)
    except ValidationError:
        raise ValidationError(f"decoding needs the counts at tick {tick}, which the simulation grid does not hold; "
                              "simulate with the ticks of itnet_neuro.sim.metrics.needed_ticks on the grid") from None


def _iter_exponential(result: SimResult, population: str, t0: int, cap, tau: float, indices):
    keep = math.exp(-1.0 / tau)
    grid = result.grid
    y = None
    last_t, last_c = t0 - 1, None
    want = set(indices)
    for g in range(len(grid)):
        t = int(grid[g]) if cap is None else min(int(grid[g]), cap)
        if t < t0:
            if g in want:
                yield None
            continue
        if t > last_t:
            c = _count(result, population, t)
            prev = _count(result, population, t0 - 1) if last_c is None else last_c
            dt = t - last_t
            decay = keep ** dt
            y = (0.0 if y is None else y * decay) + (c - prev) / dt * (1.0 - decay)
            last_t, last_c = t, c
        if g in want:
            yield y / (1.0 - keep ** (last_t - t0 + 1))


def window_starts(net: Network, schedule: str, phase_ticks: int | None) -> dict[str, int]:
    """Readout name → first tick of its decoding window (1, or ``(n-1)·T_phase + 1`` when looped)."""
    looped = schedule == "looped" and phase_ticks
    return {r.name: (r.iteration - 1) * int(phase_ticks) + 1 if looped and r.iteration is not None else 1
            for r in net.readouts}


def readout_latency(net: Network, schedule: str, phase_ticks: int | None = None, state_buffer: str | None = None,
                    longest: bool = True) -> dict[str, int | None]:
    """Readout name → absolute first_output_tick (``longest``: the depth) or first_spike_tick (the
    shortest path); None where that lies beyond the output's looped phase (module docstring)."""
    from mapping.schedule import arrival_ticks

    looped = schedule == "looped" and net.block is not None
    local = arrival_ticks(net, longest=longest, state_buffer=state_buffer if looped else None)
    starts = window_starts(net, "looped" if looped else "unrolled", phase_ticks)
    out = {}
    for r in net.unroll().readouts:
        ticks = [local[t.population] for t in r.terms if local[t.population] is not None]
        d = (max if longest else min)(ticks) if ticks else None
        if d is not None and looped and phase_ticks and d > phase_ticks:
            d = None
        out[r.name] = None if d is None else starts[r.name] - 1 + int(d)
    return out


def _readout_depths(result: SimResult, net: Network, longest: bool = True) -> dict[str, int | None]:
    return readout_latency(net, result.schedule, result.phase_ticks, result.state_buffer, longest)


def decoding_grid(net: Network, grid, decoder, schedule: str, phase_ticks: int | None = None,
                  state_buffer: str | None = None) -> np.ndarray:
    """``grid`` plus the ticks whose counts ``decoder`` needs to decode every output on it: the grid to
    simulate with (report on ``grid`` with ``output_metrics(report_grid=grid)``)."""
    decoder = Decoder.parse(decoder)
    starts = window_starts(net, schedule, phase_ticks)
    looped = schedule == "looped" and phase_ticks
    caps = {name: t0 - 1 + int(phase_ticks) if looped else None for name, t0 in starts.items()}
    depths = readout_latency(net, schedule, phase_ticks, state_buffer)
    return needed_ticks(decoder, grid, starts, caps, depths)


def decode(result: SimResult, net: Network, readout: Readout, grid_index: int, decoder=None,
           depth: int | None = None) -> np.ndarray | None:
    """Logits of ``readout`` (a readout of the *unrolled* ``net``) at ``result.grid[grid_index]``.

    ``None`` when the tick lies before the readout's window. Under the looped schedule the window ends
    with the readout's phase (the population copy it counts stops there): later ticks hold the value
    decoded at the phase's end instead of diluting its rate over ticks in which it did not run.
    ``decoder``: a :class:`Decoder` or its spec string (default :data:`DEFAULT_DECODER`); ``depth``:
    the readout's first_output_tick, for ``from-depth``.
    """
    decoder = Decoder.parse(decoder)
    t0 = result.window_start[readout.name]
    decoded = {}
    for term in readout.terms:
        rate = next(iter_rates(result, term.population, t0, decoder, depth, [grid_index]))
        if rate is None:
            return None
        pop = net.population(term.population)
        decoded[term.population] = rate * pop.decode_scale[0].reshape(1, -1, 1, 1)
    return readout_logits(net, readout, decoded)


def rate_logits(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """The IR's rate (ANN) evaluation: every population's steady-state activation, every readout.

    Population value ``a = decode_scale · clip((Σ_conn op(r_pre) + bias) / θ, 0, 1)`` with ``r_pre``
    the presynaptic rate (the input value itself for the input), i.e. the rate an IF neuron with
    reset by subtraction converges to; returns logits ``(B, K, H, W)`` in readout order. What the SNN
    approximates when no Keras model is at hand. TensorFlow's kernels once it is imported, else numpy's
    (one evaluation does not pay for importing it).
    """
    from itnet_neuro.sim.fast import choose_kernels, kernel_factory
    from itnet_neuro.sim.kernels.tf_ops import to_nchw, to_nhwc

    prepare = kernel_factory(choose_kernels("auto", net, 1))

    unet = net.unroll()
    rates = {unet.input.name: to_nhwc(np.asarray(x, np.float32))}
    values = {}
    for p in unet.populations:
        c, h, w = p.shape
        cur = np.zeros((x.shape[0], h, w, c), np.float32)
        for conn in unet.incoming(p.name):
            y = np.asarray(prepare(unet, conn)(rates[conn.pre]))
            cur[..., conn.post_offset:conn.post_offset + y.shape[-1]] += y
        thr, bias, scale = p.params()
        rate = np.clip((cur + bias) / thr, 0.0, 1.0)
        rates[p.name] = rate
        values[p.name] = to_nchw(rate * scale)
    return [readout_logits(unet, r, values) for r in unet.readouts]


def _miou(labels, preds, classes: int, void: int | None):
    """mIoU of class maps; for a classifier (one label per image, 1×1 predictions) the accuracy."""
    from itnet_neuro.metrics import confusion_matrix, miou

    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.ndim == 1 or preds.shape[1:] == (1, 1):
        p = preds.reshape(preds.shape[0], -1)
        lab = labels.reshape(labels.shape[0], -1)
        if p.shape[1] != 1 or lab.shape[1] != 1:
            from itnet_neuro.errors import ValidationError

            raise ValidationError(f"class labels of shape {labels.shape[1:]} and predictions of shape "
                                  f"{preds.shape[1:]}: a classifier needs one label per image, a segmentation "
                                  "readout one map per image")
        keep = np.ones(len(lab), bool) if void is None else lab[:, 0] != void
        return float(np.mean(p[keep, 0] == lab[keep, 0])) if keep.any() else float("nan")
    return miou(confusion_matrix(labels, preds, classes, void))[0]


def _stays_above(curve: np.ndarray, grid: np.ndarray, level: float):
    ok = np.nan_to_num(curve, nan=-np.inf) >= level
    if not ok[-1]:
        return None
    bad = np.nonzero(~ok)[0]
    first = 0 if len(bad) == 0 else bad[-1] + 1
    return int(grid[first])


def output_metrics(result: SimResult, net: Network, labels: np.ndarray | None = None,
                   ann_logits: list[np.ndarray] | None = None, void_label: int | None = None,
                   tick_seconds: float | None = None, keep_predictions_at=(), decoder=None,
                   report_grid=None) -> list[dict]:
    """Per-output metrics over the grid (see the module docstring).

    Parameters
    ----------
    result : SimResult
    net : Network
        The simulated network (its unrolled readouts are used).
    labels : (B, H, W) int, optional
    ann_logits : list of (B, K, H, W), optional
        The ANN's logits per output in readout order (Keras model or :func:`rate_logits`).
    void_label : int, optional
    tick_seconds : float, optional
        Hardware seconds per tick (adds the ``seconds_*`` fields).
    keep_predictions_at : sequence of int
        Grid ticks at which the class maps of image 0 are kept (for plots), under ``"predictions"``.
    decoder : Decoder or str, optional
        Default :data:`DEFAULT_DECODER`.
    report_grid : array of int, optional
        Ticks (a subset of ``result.grid``) at which the curves are reported (default: all).
    """
    decoder = Decoder.parse(decoder)
    unet = net.unroll()
    grid = result.grid
    idx = np.arange(len(grid)) if report_grid is None else np.searchsorted(grid, np.asarray(report_grid, int))
    depth, first_spike = _readout_depths(result, net), _readout_depths(result, net, longest=False)
    out = []
    for i, r in enumerate(unet.readouts):
        ann_pred = None if ann_logits is None else np.asarray(ann_logits[i]).argmax(1)
        curve, agree, kept = _curves(result, unet, r, idx, decoder, depth[r.name], labels, ann_pred, void_label,
                                     keep_predictions_at)
        ann_miou = None if (ann_pred is None or labels is None) else _miou(labels, ann_pred, r.classes, void_label)
        entry = {
            "index": r.index, "name": r.name,
            "metric": "accuracy" if r.out_size in (None, (1, 1)) and _is_classifier(unet, r) else "miou",
            "window_start_tick": result.window_start[r.name],
            "ann_miou": ann_miou,
            "snn_miou": None if labels is None else float(curve[-1]),
            "agreement_with_ann": None if ann_pred is None else float(agree[-1]),
            "miou_over_time": [None if np.isnan(v) else float(v) for v in curve],
            "agreement_over_time": [None if np.isnan(v) else float(v) for v in agree],
            "first_output_tick": depth[r.name], "first_spike_tick": first_spike[r.name],
        }
        for frac, key in ((0.9, "ticks_to_90"), (0.99, "ticks_to_99")):
            reached = None if ann_miou is None else _stays_above(curve, grid[idx], frac * ann_miou)
            entry[key] = None if reached is None else max(reached, first_spike[r.name] or 0)
        if tick_seconds is not None:
            for key, name in (("first_output_tick", "seconds_to_first_output"),
                              ("first_spike_tick", "seconds_to_first_spike"),
                              ("ticks_to_90", "seconds_to_90"), ("ticks_to_99", "seconds_to_99")):
                entry[name] = None if entry[key] is None else float(f"{entry[key] * tick_seconds:.9g}")
        if keep_predictions_at:
            entry["predictions"] = kept
        out.append(entry)
    return out


def _curves(result, unet, r, idx, decoder, depth, labels, ann_pred, void_label, keep_at):
    """mIoU against the labels and against the ANN at the grid indices ``idx``; kept class maps."""
    curve = np.full(len(idx), np.nan)
    agree = np.full(len(idx), np.nan)
    kept = {}
    t0 = result.window_start[r.name]
    streams = {t.population: iter_rates(result, t.population, t0, decoder, depth, idx) for t in r.terms}
    for k, g in enumerate(idx):
        rates = {pop: next(it) for pop, it in streams.items()}
        if any(v is None for v in rates.values()):
            continue
        decoded = {pop: v * unet.population(pop).decode_scale[0].reshape(1, -1, 1, 1) for pop, v in rates.items()}
        pred = readout_logits(unet, r, decoded).argmax(1)
        if labels is not None:
            curve[k] = _miou(labels, pred, r.classes, void_label)
        if ann_pred is not None:
            agree[k] = _miou(ann_pred, pred, r.classes, None)
        if int(result.grid[g]) in keep_at:
            kept[int(result.grid[g])] = pred[0]
    return curve, agree, kept
def _is_classifier(net: Network, readout: Readout) -> bool:
    """A readout that gives one class per image (global average, or a 1×1 population)."""
    return all(t.pool == "global_avg" or net.population(t.population).shape[1:] == (1, 1) for t in readout.terms)


def input_arrival_ticks(net: Network) -> dict[str, int]:
    """Population → first tick at which input can reach it: the shortest delay path from the input
    (:meth:`Network.depth` gives the longest, when every input has arrived; for the looped schedule
    see :func:`mapping.schedule.arrival_ticks`). ``net`` without a block."""
    first = {net.input.name: 0}
    for p in net.populations:
        ins = [first[c.pre] + c.delay for c in net.incoming(p.name) if c.pre in first]
        first[p.name] = min(ins) if ins else 10 ** 9
    return first


def layer_activity(result: SimResult, net: Network) -> dict:
    """Spikes, mean rate (spikes per neuron and tick) and synaptic operations per population, per image."""
    unet = net.unroll()
    b = max(result.images, 1)
    rows = {}
    synops_in = {}
    for c in unet.connections:
        synops_in[c.post] = synops_in.get(c.post, 0.0) + result.synaptic_ops.get(c.name, 0.0)
    for p in unet.populations:
        spikes = result.spikes_per_population.get(p.name, 0.0)
        ticks = result.phase_ticks or result.ticks
        rows[p.name] = {"neurons": p.size, "spikes": spikes / b, "rate": spikes / b / (p.size * ticks),
                        "synaptic_ops_in": synops_in.get(p.name, 0.0) / b}
    return rows
