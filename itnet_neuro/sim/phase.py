"""``allocate --phase-ticks auto``: the looped schedule's phase length from a short measurement.

With the regenerating state buffer (:mod:`mapping.schedule`) a phase needs one iteration's latency,
its depth ``D`` (:func:`mapping.schedule.iteration_depth`), plus the ticks its own rates need to settle
— which only a simulation can tell. :func:`choose_phase_ticks` measures it on a few images with the
chip's own quantization and noise (:class:`itnet_neuro.sim.hardware.Hardware`), against the IR's rate
(ANN) evaluation, so no labels are needed:

1. **Probe.** Simulate the looped schedule with a generous phase ``P = clip(8·D, 32, max_phase)`` and
   decode every output with the default decoder every 4 local ticks (:data:`STEP`; a dense grid
   would keep every copy's counts at every tick — gigabytes at full size). For output n let
   ``a_n`` be its agreement with the ANN (the mIoU of the SNN's class map against the ANN's) at the
   end of its phase, and ``τ_n`` the first local tick of its phase from which the agreement stays
   within ``tolerance`` of ``a_n``.
2. **Choose** ``T = max(max_n τ_n, D + 1)``, rounded up to a multiple of :data:`STEP`.
3. **Verify.** Simulate with phases of ``T``: a shorter phase also shortens the buffer's rate
   window, whose error the later iterations inherit. Accept ``T`` if every output's final agreement
   is within ``2·tolerance`` of the probe's; else lengthen ``T`` by half (at most the probe) and
   verify again.

The record of what was measured goes into ``alloc.json`` (``looped.phase_ticks_choice``).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from itnet_neuro.errors import ValidationError
from itnet_neuro.ir.graph import Network

log = logging.getLogger("itnet_neuro.sim")

#: Agreement (mIoU against the ANN's class maps, 0…1) an output may lose to a shorter phase.
DEFAULT_TOLERANCE = 0.01
#: Below this agreement of every output at the probe's end the measurement says nothing (recorded as
#: a warning): e.g. the random-weight paper preset, whose spiking network hardly fires.
WEAK_AGREEMENT = 0.2


def probe_phase(depth: int, max_phase: int) -> int:
    """The probe's phase length: ``clip(8·depth, 32, max_phase)`` ticks."""
    return int(min(max_phase, max(32, 8 * int(depth))))


def settle_tick(curve: np.ndarray, tolerance: float, ticks=None) -> int:
    """First local tick (of ``ticks``, default 1, 2, …) from which ``curve`` (one value per tick, NaN
    before the output exists) stays within ``tolerance`` of its last value."""
    ticks = np.arange(1, len(curve) + 1) if ticks is None else np.asarray(ticks)
    ok = np.nan_to_num(curve, nan=-np.inf) >= curve[-1] - tolerance
    bad = np.nonzero(~ok)[0]
    return int(ticks[0]) if len(bad) == 0 else int(ticks[bad[-1] + 1])


#: Local ticks between two measurements of the probe's agreement curves (also the phase's rounding).
STEP = 4


def _agreement(net: Network, x, ann, hw, phase: int, images_seed: int, decoder, mode: str) -> list[np.ndarray]:
    """Per output: agreement with the ANN at local ticks ``STEP, 2·STEP, …, phase`` of its phase (looped,
    state buffer ``mode``)."""
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.metrics import decoding_grid, output_metrics

    n_it = net.block.iterations
    local = _local_ticks(phase)
    grid = np.concatenate([n * phase + local for n in range(n_it)])
    sim_grid = decoding_grid(net, grid, decoder, "looped", phase, mode)
    res = simulate(net, x, n_it * phase, schedule="looped", phase_ticks=phase, grid=sim_grid, seed=images_seed,
                   hardware=hw, state_buffer=mode, show_progress=False)
    outs = output_metrics(res, net, None, ann, decoder=decoder, report_grid=grid)
    curves = []
    for n, o in enumerate(outs):
        a = np.array([np.nan if v is None else v for v in o["agreement_over_time"]], np.float64)
        curves.append(a[n * len(local):(n + 1) * len(local)])
    return curves


def _local_ticks(phase: int) -> np.ndarray:
    return np.unique(np.concatenate([np.arange(STEP, phase + 1, STEP), [phase]]))


def phase_depth(net: Network, state_buffer: str = "regenerate") -> int:
    """Ticks from a phase's start until every output and state of its iteration has input on every
    path: one iteration's depth when regenerating, the deepest output's (all iterations) when replaying."""
    from mapping.schedule import arrival_ticks, iteration_depth

    if state_buffer == "regenerate":
        return iteration_depth(net)
    ticks = arrival_ticks(net, state_buffer="replay")
    return max((ticks[t.population] or 0) for r in net.unroll().readouts for t in r.terms)


def choose_phase_ticks(net: Network, chip, *, images: int = 2, data: str = "synthetic", seed: int = 0,
                       tolerance: float = DEFAULT_TOLERANCE, max_phase: int = 256, decoder=None,
                       state_buffer: str = "regenerate") -> tuple[int, dict]:
    """Measure the looped schedule's phase length for ``net`` on ``chip`` (module docstring).

    Returns ``(phase_ticks, record)``; ``record`` says what was measured (for ``alloc.json``). With
    ``state_buffer="replay"`` the depth is the deepest output's over all iterations (a replayed phase
    carries every earlier iteration's latency).
    """
    from itnet_neuro.sim.experiment import load_images
    from itnet_neuro.sim.hardware import Hardware
    from itnet_neuro.sim.metrics import Decoder, rate_logits
    if net.block is None:
        raise ValidationError(f"{net.name}: no iterative block, so no phase length to choose")
    t_start = time.perf_counter()
    decoder = Decoder.parse(decoder)
    hw = Hardware.from_chip(chip)
    depth = phase_depth(net, state_buffer)
    x, _, _ = load_images(data, net, images, seed=seed)
    ann = rate_logits(net, x)
    probe = probe_phase(depth, max_phase)
    log.info(f"phase ticks auto: a phase is {depth} ticks deep ({state_buffer}); probing {probe}-tick phases on "
             f"{images} {data} image(s) on {hw.name}")
    ref = _agreement(net, x, ann, hw, probe, seed, decoder, state_buffer)
    settle = [settle_tick(c, tolerance, _local_ticks(probe)) for c in ref]
    phase = min(probe, STEP * math.ceil(max(max(settle), depth + 1) / STEP))
    tries = []
    while True:
        got = [c[-1] for c in _agreement(net, x, ann, hw, phase, seed, decoder, state_buffer)] if phase < probe else \
            [c[-1] for c in ref]
        loss = max(float(r[-1] - g) for r, g in zip(ref, got))
        tries.append({"phase_ticks": phase, "final_agreement": [round(float(g), 4) for g in got],
                      "largest_loss": round(loss, 4)})
        if loss <= 2 * tolerance or phase >= probe:
            break
        phase = min(probe, STEP * math.ceil(1.5 * phase / STEP))
    record = {"method": "measured (itnet_neuro.sim.phase.choose_phase_ticks)", "phase_ticks": phase,
              "state_buffer": state_buffer, "phase_depth_ticks": depth, "probe_phase_ticks": probe, "images": images,
              "data": data, "chip": hw.name, "decoder": decoder.spec, "tolerance": tolerance,
              "probe_final_agreement": [round(float(c[-1]), 4) for c in ref],
              "settle_local_ticks": settle, "verified": tries,
              "seconds": round(time.perf_counter() - t_start, 1)}
    if max(float(c[-1]) for c in ref) < WEAK_AGREEMENT:
        record["warning"] = (f"every output agrees with the ANN below {WEAK_AGREEMENT:g} at the probe's end (an "
                             "untrained or nearly silent network?): the measurement cannot tell convergence, so "
                             "the phase is one iteration's depth rounded up")
        log.warning(f"phase ticks auto: {record['warning']}")
    log.info(f"phase ticks auto: {phase} (outputs settle within {tolerance:g} of the {probe}-tick probe by local "
             f"ticks {settle}; {record['seconds']} s)")
    return phase, record


def plan_auto_phase(net: Network, chip, schedule: str = "auto", *, state_buffer: str = "regenerate",
                    window_ticks: int | None = None, rates: dict | None = None, images: int = 2,
                    split: bool = True):
    """:func:`mapping.allocate.plan` with the phase length measured (:func:`choose_phase_ticks`) where the
    result loops; the measurement's record is ``allocation.phase_choice`` (``alloc.json``:
    ``looped.phase_ticks_choice``). The schedule is decided with :data:`mapping.schedule.DEFAULT_PHASE_TICKS`."""
    from mapping.allocate import plan
    from mapping.schedule import DEFAULT_PHASE_TICKS

    kw = dict(rates=rates, state_buffer=state_buffer, window_ticks=window_ticks, split=split)
    alloc = plan(net, chip, schedule, phase_ticks=DEFAULT_PHASE_TICKS, **kw)
    if alloc.schedule != "looped" or net.block is None:
        return alloc
    mode = alloc.view.state_buffer.get("mode", state_buffer)
    phase, record = choose_phase_ticks(net, alloc.spec, state_buffer=mode, images=images)
    alloc = plan(net, alloc.spec, schedule, phase_ticks=phase, **kw)
    alloc.phase_choice = record
    alloc.schedule_reason = f"{alloc.schedule_reason}; phase length measured (--phase-ticks auto)"
    return alloc


__all__ = ["DEFAULT_TOLERANCE", "STEP", "choose_phase_ticks", "phase_depth", "plan_auto_phase", "probe_phase",
           "settle_tick"]
