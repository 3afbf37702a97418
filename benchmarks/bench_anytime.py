"""The anytime promise on one chip: unrolled, looped with exact replay, looped with the regenerating buffer.

The shipped model (``itnet_small_shared.h5``) on one chip (``--chip``, default Loihi: its weight
quantization, its neuron, its tick), with 8 synthetic test images, the fast backend and the default
decoder:

1. allocate looped with ``--phase-ticks auto`` and the regenerating state buffer (phase T measured);
   looped with the same T and the replaying buffer; unrolled (cores and buffer cost of each);
2. simulate looped-regenerating, looped-replay and unrolled for the same total time, 6 × T ticks;
3. the regenerating buffer's rate window W: ``T - D`` (D: one iteration's depth), ``(T - D) / 2`` and
   ``(T - D) / 4`` (one of them the default, :func:`mapping.schedule.default_window`); with T > 64 also
   64-tick phases (the issue asks for at most 64);
4. on a chip whose neuron does not reset by subtraction (Loihi resets to zero): unrolled once more with
   that chip's neuron resetting by subtraction, to show what its reset costs.

Writes ``benchmarks/results/anytime_schedules_<chip>.json`` and ``docs/anytime_schedules_<chip>.png``
(mIoU of every output over wall-clock hardware time, one panel per schedule).

    nice -n 5 python benchmarks/bench_anytime.py                 # Loihi (reset to zero)
    nice -n 5 python benchmarks/bench_anytime.py --chip loihi2   # Loihi 2 (reset by subtraction)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

KEEP = ("schedule", "ticks", "phase_ticks", "state_buffer", "decoder", "images", "chip", "tick_seconds", "grid",
        "run_notes", "energy_joules", "hardware_seconds", "wall_seconds")


def _alloc(a, folder: Path, name: str) -> tuple[Path, dict]:
    from mapping import allocfile

    path = folder / f"{name}.json"
    allocfile.write(a, path)
    sb = a.view.state_buffer if a.schedule == "looped" else None
    return path, {"schedule": a.schedule, "feasible": a.feasible, "cores": a.cores_used, "chips": a.chips_used,
                  "phase_ticks": a.phase_ticks if a.schedule == "looped" else None, "state_buffer": sb,
                  "phase_ticks_choice": a.phase_choice}


def _trim(res: dict) -> dict:
    out = {k: res.get(k) for k in KEEP}
    out["spikes_per_image"] = res["spikes"]["per_image"]
    out["outputs"] = []
    for o in res["outputs"]:
        gap = None if o["snn_miou"] is None else round(o["snn_miou"] - o["ann_miou"], 4)
        out["outputs"].append({k: o.get(k) for k in (
            "index", "ann_miou", "snn_miou", "first_output_tick", "first_spike_tick", "ticks_to_90", "ticks_to_99",
            "seconds_to_first_output", "seconds_to_90", "seconds_to_99", "miou_over_time")} | {"gap": gap})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--chip", default="loihi", help="a packaged chip that can loop the block")
    ap.add_argument("-o", "--output", default=None, help="default benchmarks/results/anytime_schedules_<chip>.json")
    ap.add_argument("--plot", default=None, help="default docs/anytime_schedules_<chip>.png")
    args = ap.parse_args(argv)
    chip = args.chip
    args.output = args.output or str(HERE / "results" / f"anytime_schedules_{chip}.json")
    args.plot = args.plot or str(ROOT / "docs" / f"anytime_schedules_{chip}.png")
    from hardware_models.spec import load_chip
    from itnet_neuro.sim.experiment import load_model, run_experiment
    from itnet_neuro.sim.phase import plan_auto_phase
    from itnet_neuro.sim.plots import plot_schedules
    from mapping.allocate import plan
    from mapping.schedule import default_window, iteration_depth

    from common import finish, header

    doc = header("nice -n 5 python benchmarks/bench_anytime.py" + (" " + " ".join(argv) if argv else ""))
    doc |= {"chip": chip, "model": "itnet_small_shared.h5", "data": "synthetic test split", "allocations": {},
            "runs": {}}
    net, keras_model, _ = load_model(None)
    n_it = net.block.iterations
    depth = iteration_depth(net)
    shared = dict(network=net, ann_model=keras_model, images=args.images, keep_predictions=False)

    def run(name, alloc_path, **kw):
        t0 = time.perf_counter()
        res = run_experiment(alloc=alloc_path, **shared, **kw)
        doc["runs"][name] = _trim(res) | {"process_seconds": round(time.perf_counter() - t0, 1)}
        gaps = " ".join(f"{o['gap']:+.3f}" for o in doc["runs"][name]["outputs"])
        print(f"{name}: {res['ticks']} ticks, gaps to the ANN {gaps} ({time.perf_counter() - t0:.0f} s)", flush=True)
        return res

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        regen = plan_auto_phase(net, chip, "looped")
        doc["auto_phase_seconds"] = round(time.perf_counter() - t0, 1)
        phase = regen.phase_ticks
        a_regen, doc["allocations"]["looped-regenerate"] = _alloc(regen, tmp, "regen")
        a_replay, doc["allocations"]["looped-replay"] = _alloc(
            plan(net, chip, "looped", phase_ticks=phase, state_buffer="replay"), tmp, "replay")
        a_unrolled, doc["allocations"]["unrolled"] = _alloc(plan(net, chip, "unrolled"), tmp, "unrolled")
        total = n_it * phase
        shown = {f"looped, regenerating buffer ({n_it} × {phase} ticks)": run("looped-regenerate", a_regen),
                 f"looped, exact replay ({n_it} × {phase} ticks)": run("looped-replay", a_replay),
                 f"unrolled ({total} ticks)": run("unrolled", a_unrolled, ticks=total)}
        default = default_window(phase, depth)
        doc["window_ticks_default"] = default
        for w in sorted({phase - depth, (phase - depth) // 2, (phase - depth) // 4} - {default}, reverse=True):
            run(f"looped-regenerate-window-{w}", a_regen, window_ticks=w)
        if phase > 64:
            run("looped-regenerate-64", a_regen, phase_ticks=64)
        spec = load_chip(chip)
        if spec.neuron.reset != "subtract":  # what the chip's reset costs: the same chip resetting by subtraction
            sub = dataclasses.replace(spec, neuron=dataclasses.replace(spec.neuron, reset="subtract"))
            run("unrolled-reset-subtract", None, chip=sub, schedule="unrolled", ticks=total)
    doc["iteration_depth_ticks"] = depth
    doc["phase_ticks"] = phase
    plot_schedules(shown, args.plot)
    doc["plot"] = str(Path(args.plot).relative_to(ROOT)) if Path(args.plot).is_relative_to(ROOT) else args.plot
    finish(doc, args.output)
    print(f"wrote {args.output} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
