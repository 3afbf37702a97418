"""Allocation of the paper's ItNet presets on every packaged chip — issue #6's measurement.

For ``paper-camvid-shared`` (f=51) and ``paper-camvid-independent`` (f=29), both 480×360, N=16,
L=3, K=1: the Keras model is built with random (seeded) weights and converted to the spiking IR
(``itnet_neuro.convert.convert_model``, 2 synthetic calibration images: allocation depends on the
structure, not on the values); then every packaged chip allocates it under the ``unrolled`` and
the ``looped`` schedule. Measured per (preset, chip, schedule):

* allocation time (goal: < 10 s), cores and chips used, the independent lower bound on cores and
  the ratio (goal: ≤ 1.15×), feasibility and the first violation;
* the looped/unrolled footprint ratio (cores looped ÷ cores unrolled);
* placement: spikes × hops against a random placement (uniform rates).

The converted IRs are cached in the system's temp folder. ``--generator`` uses
``mapping.testing.itnet_like_network`` (ItNet-shaped IR built directly, no TensorFlow) instead.

    python benchmarks/bench_allocate.py                 # ~5 min on 2 CPU cores
    python benchmarks/bench_allocate.py --quick         # the shipped model only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
PRESETS = ("paper-camvid-shared", "paper-camvid-independent")
CACHE = Path(tempfile.gettempdir()) / "itnet-neuro-bench"


def preset_network(name: str, seed: int, generator: bool):
    """The spiking IR of a preset with random weights (converted, or built directly with --generator)."""
    from itnet_neuro.ir import load_network, save_network

    if generator:
        from itnet_neuro.model import get_preset
        from mapping.testing import itnet_like_network

        cfg = get_preset(name)
        net = itnet_like_network(cfg.input_height, cfg.input_width, cfg.width, cfg.iterations, seed=seed,
                                 shared=cfg.shared)
        return net, {"source": "mapping.testing.itnet_like_network", "seconds": 0.0}
    path = CACHE / f"{name}-seed{seed}.snn.h5"
    if path.is_file():
        return load_network(path), {"source": f"converted (cached {path})", "seconds": None}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from itnet_neuro.convert import convert_model
    from itnet_neuro.model import build_itnet, get_preset
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    cfg = get_preset(name)
    net = convert_model(build_itnet(cfg), itnet_config=cfg, n_calibration=2).network
    seconds = time.perf_counter() - start
    save_network(net, path)
    return net, {"source": "itnet_neuro.convert.convert_model(build_itnet(preset)), random weights", "seconds": seconds}


def measure(net, chip: str, schedule: str) -> dict:
    from mapping.allocate import plan

    start, cpu = time.perf_counter(), time.process_time()
    a = plan(net, chip, schedule)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    tr = a.traffic
    # CPU seconds beside wall seconds: on a shared machine the wall time is mostly other people's load
    return {"chip": chip, "schedule": schedule, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "feasible": a.feasible,
            "cores": a.cores_used, "chips": a.chips_used, "lower_bound_cores": a.lower_bound,
            # None where layers are unplaced (a conv-layer chip out of cores): cores of part of the network
            "ratio_to_lower_bound": None if a.ratio_to_lower_bound is None else round(a.ratio_to_lower_bound, 3),
            "unplaced_layers": len(a.unplaced_layers),
            "bound_resource": max(a.lower_bound_detail, key=lambda k: a.lower_bound_detail[k].get("cores", 0))
            if a.lower_bound_detail else None,
            "neuron_copies": int(a.tile_res["neurons"].sum() - a.tile_res["own"].sum()),
            "violations": len(a.violations), "first_violation": str(a.violations[0]) if a.violations else None,
            "spike_hops_vs_random": round(tr["spike_hops"] / tr["spike_hops_random"], 3)
            if tr.get("spike_hops_random") else None,
            "state_buffer": a.view.state_buffer.get("mechanism") if schedule == "looped" else None}


def _ratio_text(row: dict) -> str:
    if row["ratio_to_lower_bound"] is None:
        return f"no ratio: {row['unplaced_layers']} layers unplaced"
    return f"{row['ratio_to_lower_bound']:.2f}×"


def plot(results: dict, path: Path) -> None:
    import numpy as np

    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt

    presets = list(results["presets"])
    fig, axes = plt.subplots(1, len(presets), figsize=(6.5 * len(presets), 4.2), squeeze=False)
    for ax, name in zip(axes[0], presets):
        rows = results["presets"][name]["runs"]
        chips = sorted({r["chip"] for r in rows})
        x = np.arange(len(chips))
        for k, (schedule, color) in enumerate((("unrolled", "tab:blue"), ("looped", "tab:orange"))):
            vals = [next((r for r in rows if r["chip"] == c and r["schedule"] == schedule), None) for c in chips]
            cores = [v["cores"] if v else np.nan for v in vals]
            bars = ax.bar(x + (k - 0.5) * 0.38, cores, 0.38, color=color, label=schedule)
            for b, v in zip(bars, vals):
                if v and not v["feasible"]:
                    b.set_hatch("//")
                    b.set_alpha(0.5)
            lb = [v["lower_bound_cores"] if v else np.nan for v in vals]
            ax.scatter(x + (k - 0.5) * 0.38, lb, marker="_", s=180, color="k", zorder=3,
                       label="lower bound" if k == 0 else None)
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(chips, rotation=40, ha="right")
        ax.set_ylabel("cores")
        ax.set_title(f"{name} (hatched: does not fit)")
        ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the shipped model only")
    parser.add_argument("--generator", action="store_true", help="ItNet-shaped IR built directly (no TensorFlow)")
    parser.add_argument("--chips", default=None, help="comma-separated subset of the packaged chips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "allocate.json"))
    args = parser.parse_args(argv)
    from hardware_models.spec import list_chips
    CACHE.mkdir(parents=True, exist_ok=True)
    chips = args.chips.split(",") if args.chips else list_chips()
    from common import finish, header

    # the load average goes in the file: allocation times are wall-clock seconds on a shared machine
    results = {**header("python benchmarks/bench_allocate.py" + ("" if argv is None and len(sys.argv) < 2
                                                                  else " " + " ".join(argv or sys.argv[1:]))),
               "goals": {"seconds": 10.0, "ratio_to_lower_bound": 1.15},
               "phase_ticks": None, "presets": {}}
    from mapping.schedule import DEFAULT_PHASE_TICKS

    results["phase_ticks"] = DEFAULT_PHASE_TICKS
    if args.quick:
        from itnet_neuro.cli.allocate import load_model_network

        nets = {"shipped (itnet_small_shared)": (load_model_network(None, CACHE), {"source": "shipped model"})}
    else:
        nets = {name: preset_network(name, args.seed, args.generator) for name in PRESETS}
    for name, (net, info) in nets.items():
        entry = {"ir": {"neurons": net.n_neurons, "synapses": net.n_synapses, "populations": len(net.populations),
                        "iterations": net.block.iterations if net.block else None,
                        "shared_block": net.block is not None, **info}, "runs": []}
        schedules = ("unrolled", "looped") if net.block is not None else ("unrolled",)
        for chip in chips:
            for schedule in schedules:
                row = measure(net, chip, schedule)
                entry["runs"].append(row)
                print(f"{name:28s} {chip:13s} {schedule:9s} {row['seconds']:6.2f} s ({row['cpu_seconds']:5.2f} s CPU)  "
                      f"cores {row['cores']:>11,}  "
                      f"bound {row['lower_bound_cores']:>9,} ({_ratio_text(row)})  "
                      f"{'fits' if row['feasible'] else 'does NOT fit'}", flush=True)
            if net.block is not None:
                un, lo = entry["runs"][-2], entry["runs"][-1]
                lo["looped_over_unrolled_cores"] = round(lo["cores"] / max(un["cores"], 1), 4)
        runs = entry["runs"]
        entry["summary"] = {
            "max_seconds": max(r["seconds"] for r in runs),
            "max_cpu_seconds": max(r["cpu_seconds"] for r in runs),
            "within_10s": sum(r["seconds"] < 10 for r in runs),
            "within_10s_cpu": sum(r["cpu_seconds"] < 10 for r in runs), "runs": len(runs),
            "within_1.15x_of_bound": sum(r["ratio_to_lower_bound"] is not None and r["ratio_to_lower_bound"] <= 1.15
                                         for r in runs),
            "with_unplaced_layers": sum(r["unplaced_layers"] > 0 for r in runs),
            "looped_over_unrolled_cores": {r["chip"]: r["looped_over_unrolled_cores"] for r in runs
                                           if "looped_over_unrolled_cores" in r},
        }
        results["presets"][name] = entry
    out = Path(args.output)
    finish(results, out)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
