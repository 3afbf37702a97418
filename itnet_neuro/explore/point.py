"""One point of a sweep, as a task a worker runs: allocate (cached on disk), then simulate if it fits.

Everything here runs in a worker process (or in-process for ``--scheduler serial``): the functions take
plain values and return JSON-able dicts, so any engine can ship them. The converted network travels as
the bytes of its ``.snn.h5`` (a few hundred kB for the shipped model) and is read once per process.

Cache layout under ``cache`` (safe to share between processes: every file is written to a temporary
name and renamed)::

    net/<model hash>.snn.h5                  the conversion of a Keras model (hash of its bytes + calibration)
    alloc/<net hash>-<chip hash>-<schedule>-<phase>-<state buffer>.json           alloc.json
    alloc/<...>.summary.json                 the comparison row (mapping.compare.summary_row)

The chip hash is of the chip TOML's bytes and of the allocator's source (mapping/, hardware_models/), the
model hash of the model's bytes and of the converter's source: editing a chip's numbers or upgrading
itnet-neuro invalidates what was cached.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path

from itnet_neuro.explore.sweep import DEFAULT_UNROLLED_TICKS, Point, chip_file, code_hash, file_hash, package_dirs

log = logging.getLogger("itnet_neuro.explore")

_NETWORKS: dict[str, object] = {}  # per process: network hash -> Network
_RATES: dict[str, dict] = {}  # per process: network hash -> calibration rates (chips with an event budget)


def convert_once(model: str | None, calibration: str, cache: str) -> tuple[bytes, str]:
    """``(snn.h5 bytes, network hash)`` of ``model`` (None: the shipped ItNet), converted once and cached."""
    from itnet_neuro.utils import atomic_path

    if model is None:
        from itnet_neuro.resources import SHIPPED_MODEL

        model = str(SHIPPED_MODEL)
    path = Path(model)
    if not path.is_file():
        from itnet_neuro.errors import ModelFileError

        raise ModelFileError(f"{path}: model file not found; give a Keras .h5 or a .snn.h5")
    if not path.name.endswith(".snn.h5"):
        key = file_hash(path, f"calibration={calibration} code={_code('itnet_neuro.convert', 'itnet_neuro.ir')}")
        out = Path(cache) / "net" / f"{key}.snn.h5"
        if not out.is_file():
            from itnet_neuro.convert import convert_model
            from itnet_neuro.ir import save_network

            log.info(f"converting {path} (cached as {out}) ...")
            net = convert_model(path, calibration=calibration).network
            with atomic_path(out) as tmp:
                save_network(net, tmp)
        path = out
    data = path.read_bytes()
    return data, file_hash(path)


def network(blob: bytes, net_hash: str, cache: str):
    """The network of ``blob`` (its ``.snn.h5`` bytes), read once per process."""
    if net_hash not in _NETWORKS:
        from itnet_neuro.ir import load_network
        from itnet_neuro.utils import atomic_path

        path = Path(cache) / "net" / f"{net_hash}.ir.snn.h5"
        if not path.is_file():
            with atomic_path(path) as tmp:
                tmp.write_bytes(blob)
        _NETWORKS[net_hash] = load_network(path)
    return _NETWORKS[net_hash]


def alloc_key(net_hash: str, point: Point, state_buffer: str) -> str:
    """The allocation's cache key. An unrolled allocation does not depend on the phase length."""
    phase = point.phase_ticks if point.schedule == "looped" else "x"
    chip = file_hash(chip_file(point.chip), "code=" + _code("mapping", "hardware_models"))
    return f"{net_hash}-{chip}-{point.schedule}-{phase}-{state_buffer}"


def _code(*packages: str) -> str:
    return code_hash(*package_dirs(*packages))


def _rates(net, net_hash: str) -> dict:
    """Spikes per neuron per tick of every population on synthetic calibration images, as ``allocate``
    measures them for chips with a real-time budget of synaptic events (once per process)."""
    if net_hash not in _RATES:
        from itnet_neuro.sim.calibrate import DEFAULT_IMAGES, calibration_inputs, population_rates

        _RATES[net_hash] = population_rates(net, calibration_inputs(net, DEFAULT_IMAGES))
    return _RATES[net_hash]


def _plan(net, net_hash: str, point: Point, state_buffer: str):
    """:func:`mapping.allocate.plan` as ``itnet-neuro allocate`` calls it: rates measured where the chip
    bounds synaptic events, the phase measured for ``auto``, fan-in relays calibrated."""
    from itnet_neuro.cli.allocate import calibrate_relays, needs_rates
    from mapping.schedule import DEFAULT_PHASE_TICKS

    kw = dict(rates=_rates(net, net_hash) if needs_rates(point.chip) else None, state_buffer=state_buffer)
    if point.schedule == "looped" and point.phase_ticks == "auto":
        from itnet_neuro.sim.phase import plan_auto_phase

        alloc = plan_auto_phase(net, point.chip, "looped", **kw)
    else:
        from mapping.allocate import plan

        phase = point.phase_ticks if point.schedule == "looped" else DEFAULT_PHASE_TICKS
        alloc = plan(net, point.chip, point.schedule, phase_ticks=phase, **kw)
    if alloc.split is not None and alloc.split.relays:
        calibrate_relays(alloc, net, None)
    return alloc


def allocation(net, net_hash: str, point: Point, state_buffer: str, cache: str) -> tuple[Path, dict]:
    """``(alloc.json path, summary row)`` of the point, from the cache or allocated now."""
    from mapping import allocfile
    from mapping.compare import summary_row

    from itnet_neuro.utils import write_json

    base = Path(cache) / "alloc" / alloc_key(net_hash, point, state_buffer)
    path, summary = base.with_suffix(".json"), base.with_suffix(".summary.json")
    if path.is_file() and summary.is_file():
        return path, dict(json.loads(summary.read_text()), cached=True)
    alloc = _plan(net, net_hash, point, state_buffer)
    allocfile.write(alloc, path)
    row = summary_row(alloc)
    row["phase_ticks"] = alloc.phase_ticks if alloc.schedule == "looped" else None
    row["phase_choice"] = alloc.phase_choice
    write_json(summary, row)
    return path, dict(row, cached=False)


def run_point(blob: bytes, net_hash: str, point: Point, settings: dict, cache: str,
              allocate_only: str | None = None) -> dict:
    """The results row of one point; a failure becomes a row with ``status = "error"`` (never raises)."""
    t0 = time.perf_counter()
    row = {"key": point.key, "chip": point.chip, "schedule": point.schedule, "phase_ticks": point.phase_ticks}
    try:
        from hardware_models import load_chip

        row["chip_kind"] = load_chip(point.chip).kind  # "ideal": the reference, kept off the Pareto fronts
        row.update(_run(blob, net_hash, point, settings, cache, allocate_only))
    except Exception as exc:  # a failing point is a result: the sweep goes on (issue 18)
        row.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc(limit=8))
    row["wall_seconds"] = round(time.perf_counter() - t0, 2)
    return row


def _run(blob, net_hash, point, settings, cache, allocate_only) -> dict:
    net = network(blob, net_hash, cache)
    path, a = allocation(net, net_hash, point, settings["state_buffer"], cache)
    out = {"fits": a["feasible"], "cores": a["cores"], "chips": a["chips"], "lower_bound_cores": a["lower_bound_cores"],
           "ratio_to_bound": a["ratio_to_lower_bound"], "first_violation": a["first_violation"],
           "allocation_cached": a["cached"], "phase_ticks_used": a.get("phase_ticks")}
    if a.get("phase_choice"):
        out["phase_choice"] = {k: a["phase_choice"].get(k) for k in ("phase_ticks", "probe_phase_ticks", "seconds")}
    if not a["feasible"]:
        return dict(out, status="infeasible")
    if allocate_only:
        return dict(out, status="allocated", skipped=allocate_only)
    return dict(out, status="ok", **_simulate(net, path, point, settings))


def point_ticks(net, point: Point, settings: dict) -> int | None:
    """Simulated ticks: N phases (looped: set by the allocation), ``N × T`` unrolled (or ``unrolled_ticks``
    for ``auto``)."""
    if point.schedule == "looped":
        return None
    if point.phase_ticks == "auto":
        return int(settings.get("unrolled_ticks") or DEFAULT_UNROLLED_TICKS)
    n_it = 1 if net.block is None else net.block.iterations
    return n_it * int(point.phase_ticks)


def _simulate(net, alloc_path: Path, point: Point, settings: dict) -> dict:
    """Run the point's allocation (:func:`itnet_neuro.sim.experiment.run_experiment`) and keep the figures
    the table needs."""
    from itnet_neuro.sim.experiment import run_experiment

    res = run_experiment(network=net, alloc=str(alloc_path), images=settings["images"], data=settings["data"],
                         ticks=point_ticks(net, point, settings), decoder=settings.get("decoder"),
                         seed=settings.get("seed", 0), chip_seed=settings.get("chip_seed", 0),
                         keep_predictions=False)
    outs = res["outputs"]
    energy = res.get("energy") or {}
    return {"ticks": res["ticks"], "phase_ticks_used": res["phase_ticks"], "tick_seconds": res["tick_seconds"],
            "hardware_seconds": res["hardware_seconds"], "images": res["images"], "decoder": res["decoder"]["spec"],
            "miou": [o["snn_miou"] for o in outs], "ann_miou": [o["ann_miou"] for o in outs],
            "ticks_to_90": [o.get("ticks_to_90") for o in outs], "seconds_to_90": [o.get("seconds_to_90") for o in outs],
            "first_output_tick": [o.get("first_output_tick") for o in outs],
            "energy_j_per_image": res["energy_joules"], "energy_lower_bound": bool(energy.get("lower_bound")),
            "energy_missing": list(energy.get("missing") or []),
            "clipped": res.get("clipped"), "simulation_seconds": round(res["wall_seconds"]["total"], 2)}
