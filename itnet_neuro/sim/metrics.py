"""Metrics of a simulation: every output decoded over time, mIoU per tick, time-to-first-output.

Definitions (DESIGN.md §7; ticks are absolute, see :mod:`itnet_neuro.sim.core`):

* **Decoded logits** of readout ``r`` at grid tick ``t ≥ t0`` (its window start):
  ``Σ_terms W · (decode_scale · (count(t) - count(t0-1)) / (t - t0 + 1)) + bias``, bilinearly resized to
  ``out_size``; the prediction is the argmax over classes. Before ``t0`` there is no prediction
  (NaN in the curves). Under the looped schedule the window also ends with the readout's phase,
  ``t`` being capped at ``t0 - 1 + T_phase``: the output holds its phase-end value afterwards.
* **mIoU over time**: one confusion matrix over all images per grid tick
  (:func:`itnet_neuro.metrics.confusion_matrix`, void pixels ignored), against the labels
  (``miou_over_time``) and against the ANN's own predictions (``agreement_over_time``).
* **first_output_tick**: the first tick at which the output's prediction can depend on the input:
  ``t0 - 1`` plus the shortest delay path from the input to one of its readout populations (the
  input emits at tick 0, so a population ``k`` ticks of delay away integrates it first at tick
  ``k``). Spikes before that are driven by biases alone and do not count as an output.
* **ticks_to_90 / ticks_to_99**: the first grid tick from which on the mIoU stays at or above 90% /
  99% of the converged mIoU (the value at the last tick), so a transient early peak does not count;
  never earlier than ``first_output_tick`` (a bias-only guess does not count as reaching it).
* Seconds: ticks × the chip's ``timing.tick_seconds``.
"""

from __future__ import annotations

import numpy as np

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


def decode(result: SimResult, net: Network, readout: Readout, grid_index: int) -> np.ndarray | None:
    """Logits of ``readout`` (a readout of the *unrolled* ``net``) at ``result.grid[grid_index]``.

    ``None`` when the tick lies before the readout's window. Under the looped schedule the window ends
    with the readout's phase (the population copy it counts stops there): later ticks hold the value
    decoded at the phase's end instead of diluting its rate over ticks in which it did not run.
    """
    t = int(result.grid[grid_index])
    t0 = result.window_start[readout.name]
    if t < t0:
        return None
    if result.schedule == "looped" and result.phase_ticks:
        t = min(t, t0 - 1 + int(result.phase_ticks))
    decoded = {}
    for term in readout.terms:
        pop = net.population(term.population)
        c = result.counts[term.population][:, grid_index].astype(np.float64) - result.count_at(term.population, t0 - 1)
        rate = c / float(t - t0 + 1)
        decoded[term.population] = rate * pop.decode_scale[0].reshape(1, -1, 1, 1)
    return readout_logits(net, readout, decoded)


def rate_logits(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """The IR's rate (ANN) evaluation: every population's steady-state activation, every readout.

    Population value ``a = decode_scale · clip((Σ_conn op(r_pre) + bias) / θ, 0, 1)`` with ``r_pre``
    the presynaptic rate (the input value itself for the input), i.e. the rate an IF neuron with
    reset by subtraction converges to; returns logits ``(B, K, H, W)`` in readout order. What the SNN
    approximates when no Keras model is at hand.
    """
    from itnet_neuro.sim.kernels.tf_ops import prepare, to_nchw, to_nhwc

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
    from itnet_neuro.metrics import confusion_matrix, miou

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
                   tick_seconds: float | None = None, keep_predictions_at=()) -> list[dict]:
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
    """
    unet = net.unroll()
    arrival = input_arrival_ticks(unet)
    grid = result.grid
    out = []
    for i, r in enumerate(unet.readouts):
        classes = r.classes
        ann_pred = None if ann_logits is None else np.asarray(ann_logits[i]).argmax(1)
        curve = np.full(len(grid), np.nan)
        agree = np.full(len(grid), np.nan)
        kept = {}
        for g in range(len(grid)):
            logits = decode(result, unet, r, g)
            if logits is None:
                continue
            pred = logits.argmax(1)
            if labels is not None:
                curve[g] = _miou(labels, pred, classes, void_label)
            if ann_pred is not None:
                agree[g] = _miou(ann_pred, pred, classes, None)
            if int(grid[g]) in keep_predictions_at:
                kept[int(grid[g])] = pred[0]
        t0 = result.window_start[r.name]
        first = (t0 - 1) + min(arrival[t.population] for t in r.terms)
        final = curve[-1]
        entry = {
            "index": r.index,
            "name": r.name,
            "window_start_tick": t0,
            "ann_miou": None if (ann_pred is None or labels is None) else _miou(labels, ann_pred, classes, void_label),
            "snn_miou": None if labels is None else float(final),
            "agreement_with_ann": None if ann_pred is None else float(agree[-1]),
            "miou_over_time": [None if np.isnan(v) else float(v) for v in curve],
            "agreement_over_time": [None if np.isnan(v) else float(v) for v in agree],
            "first_output_tick": first,
            "ticks_to_90": None if labels is None or np.isnan(final) else _stays_above(curve, grid, 0.9 * final),
            "ticks_to_99": None if labels is None or np.isnan(final) else _stays_above(curve, grid, 0.99 * final),
        }
        for key in ("ticks_to_90", "ticks_to_99"):  # no output reaches anything before it has one
            if entry[key] is not None and first is not None:
                entry[key] = max(entry[key], first)
        if tick_seconds is not None:
            for key in ("first_output_tick", "ticks_to_90", "ticks_to_99"):
                name = "seconds_to_first_output" if key == "first_output_tick" else key.replace("ticks", "seconds")
                entry[name] = None if entry[key] is None else entry[key] * tick_seconds
        if keep_predictions_at:
            entry["predictions"] = kept
        out.append(entry)
    return out


def input_arrival_ticks(net: Network) -> dict[str, int]:
    """Population → first tick at which input can reach it: the shortest delay path from the input
    (:meth:`Network.depth` gives the longest, when every input has arrived). ``net`` without a block."""
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
