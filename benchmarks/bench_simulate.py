"""Simulation backends on the same small ItNet: wall time, peak memory, spike agreement; and `fast` at full size.

Part 1: the model engineer's ``tiny`` preset (48×64 input, f = 8, N = 4) with random weights (seed 0),
converted by ``itnet_neuro.convert.convert_model`` — the same IR, the same synthetic test images and the
same ticks for every backend: ``fast`` (float32 currents, the default; and float64), ``nengo`` (reference
simulator), ``nengo-dl`` and ``brian2`` (numpy target by default: its cython target generates one C++
extension per code object and group — hundreds for this network — which took over ten minutes of
compiling before the first tick here; ``--brian2-target cython`` measures it with a cache warmed by a
short first run), plus the
tick-by-tick numpy ``reference``. Every backend runs in its own subprocess, so its peak RSS (which
includes the imported libraries) is its own. Agreement: spike counts per neuron against the reference.

Part 2: ``paper-camvid-shared`` (480×360, f = 51, N = 16) with random weights, one image, 256 ticks, with
``fast`` (looped schedule: 16 phases of 16 ticks; ``--full-unrolled`` adds the unrolled schedule, 16 copies
of the block for all 256 ticks).

    python benchmarks/bench_simulate.py            # writes benchmarks/results/simulate.json
    python benchmarks/bench_simulate.py --quick    # smaller run, no file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def _convert(preset: str, path: Path, n_calibration: int) -> dict:
    from itnet_neuro.convert import convert_model
    from itnet_neuro.ir.io import save_network
    from itnet_neuro.model.build import build_itnet
    from itnet_neuro.model.io import save_itnet
    from itnet_neuro.model.presets import get_preset

    cfg = get_preset(preset)
    model = build_itnet(cfg)  # random initial weights, seed from the config
    h5 = path.with_suffix(".keras.h5")
    save_itnet(model, cfg, h5)
    t0 = time.perf_counter()
    conv = convert_model(h5, n_calibration=n_calibration)
    seconds = time.perf_counter() - t0
    save_network(conv.network, path)
    net = conv.network
    unrolled = net.unroll()
    return {"preset": preset, "weights": "random (Keras initializers, config seed)", "input": list(net.input.shape),
            "populations": len(unrolled.populations), "neurons_unrolled": unrolled.n_neurons,
            "synapses_unrolled": unrolled.n_synapses, "iterations": net.block.iterations if net.block else 1,
            "conversion_seconds": round(seconds, 1)}


def worker(args) -> None:
    """One backend in this process: simulate, write counts and timings."""
    from itnet_neuro.ir.io import load_network
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images

    net = load_network(args.net)
    x, _, _ = load_images("synthetic", net, args.images)
    backend, _, variant = args.worker.partition(":")
    opts = {}
    if backend == "fast":
        opts["precision"] = variant or "float32"
    if backend == "brian2":
        opts["target"] = variant or "cython"
    warm = None
    if backend in ("fast", "brian2"):  # compiled-code cache / TensorFlow kernels warm, as a user's second run
        t0 = time.perf_counter()
        n_it = net.block.iterations if net.block is not None else 1
        simulate(net, x[:1], 2 * n_it if args.schedule == "looped" else 2, backend=backend, schedule=args.schedule,
                 **opts)
        warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = simulate(net, x, args.ticks, backend=backend, schedule=args.schedule, record=args.record, **opts)
    wall = time.perf_counter() - t0
    out = {"backend": args.worker, "wall_seconds": wall, "warmup_seconds": warm,
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "spikes": float(sum(res.spikes_per_population.values())), "info": {
               k: v for k, v in res.info.items() if k != "sequential_neuron_chunks"}}
    if args.record:
        np.savez_compressed(args.counts, **{k.replace("/", "_"): v.sum(axis=1, dtype=np.int32)
                                            for k, v in res.trains.items()})
    Path(args.result).write_text(json.dumps(out))


def run_worker(name: str, net: Path, images: int, ticks: int, schedule: str, record: bool, tmp: Path,
               timeout: int) -> dict:
    result = tmp / f"{name.replace(':', '_')}.json"
    counts = tmp / f"{name.replace(':', '_')}.npz"
    cmd = [sys.executable, __file__, "--worker", name, "--net", str(net), "--images", str(images), "--ticks",
           str(ticks), "--schedule", schedule, "--result", str(result), "--counts", str(counts)]
    if record:
        cmd.append("--record")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"backend": name, "error": f"timed out after {timeout} s"}
    if proc.returncode:
        return {"backend": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    out = json.loads(result.read_text())
    out["process_seconds"] = time.perf_counter() - t0
    out["counts_file"] = str(counts) if record else None
    print(f"  {name:16s} {out['wall_seconds']:8.2f} s   peak RSS {out['peak_rss_bytes'] / 2**30:5.2f} GiB", flush=True)
    return out


def agreement(ref_file: str, other_file: str) -> dict:
    a, b = np.load(ref_file), np.load(other_file)
    diff = sum(int(np.count_nonzero(a[k] != b[k])) for k in a.files)
    total = sum(int(a[k].size) for k in a.files)
    spikes_a = sum(int(a[k].sum()) for k in a.files)
    spikes_b = sum(int(b[k].sum()) for k in b.files)
    return {"neurons_with_different_count": diff, "neurons": total,
            "identical_spike_counts": diff == 0, "spikes_reference": spikes_a, "spikes": spikes_b}


def _small_part(out: dict, args, small: Path, images: int, ticks: int, tmp: Path) -> None:
    """Part 1: every backend on the converted tiny preset, in subprocesses."""
    print("converting the tiny preset …", flush=True)
    out["small"] = {"network": _convert("tiny", small, 4), "images": images, "ticks": ticks,
                    "schedule": "unrolled", "data": "synthetic test split"}
    backends = ["reference", "fast:float32", "fast:float64", "nengo", f"brian2:{args.brian2_target}", "nengo-dl"]
    runs = {}
    for name in backends:
        runs[name] = run_worker(name, small, images, ticks, "unrolled", True, tmp, timeout=1800)
    ref = runs["reference"]
    for name, r in runs.items():
        if "error" not in r and "error" not in ref and name != "reference":
            r["agreement_with_reference"] = agreement(ref["counts_file"], r["counts_file"])
    for r in runs.values():
        r.pop("counts_file", None)
    out["small"]["runs"] = runs
    out["small"]["speedup"] = _speedups(runs)


def _speedups(runs: dict) -> dict:
    """Wall-time ratios other / fast for every pair (None where a run failed)."""
    def ratio(a, b):
        ra, rb = runs.get(a, {}), runs.get(b, {})
        if "wall_seconds" not in ra or "wall_seconds" not in rb:
            return None
        return round(rb["wall_seconds"] / ra["wall_seconds"], 1)

    others = [k for k in runs if not k.startswith("fast")]
    return {f"{f} vs {o}": ratio(f, o) for f in ("fast:float32", "fast:float64") for o in others}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", default=None)
    p.add_argument("--net")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--ticks", type=int, default=64)
    p.add_argument("--schedule", default="unrolled")
    p.add_argument("--result")
    p.add_argument("--counts")
    p.add_argument("--record", action="store_true")
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--full-only", action="store_true", help="rerun part 2 only, updating the existing results file")
    p.add_argument("--brian2-target", default="numpy", choices=("numpy", "cython"),
                   help="cython compiles one extension per generated code object (hundreds here; an hour "
                        "of compiling on a cold cache)")
    p.add_argument("--full-unrolled", action="store_true",
                   help="also the unrolled schedule at full size (46.6M neurons × 256 ticks: many minutes)")
    p.add_argument("-o", "--output", default=str(HERE / "results" / "simulate.json"))
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    images, ticks = (1, 16) if args.quick else (args.images, args.ticks)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    load_before = os.getloadavg()
    out = {"command": "nice -n 5 python benchmarks/bench_simulate.py" + (" --quick" if args.quick else ""),
           "started": started, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version()},
           "load_average_before": load_before}
    if args.full_only:
        out = json.loads(Path(args.output).read_text())
        out["command_full"] = "nice -n 5 python benchmarks/bench_simulate.py --full-only"
        out["small"]["speedup"] = _speedups(out["small"]["runs"])
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as d:
        tmp = Path(d)
        small = tmp / "tiny.snn.h5"
        if not args.full_only:
            _small_part(out, args, small, images, ticks, tmp)
        if not args.skip_full and not args.quick:
            full = tmp / "full.snn.h5"
            print("converting paper-camvid-shared (random weights) …", flush=True)
            out["full"] = {"network": _convert("paper-camvid-shared", full, 2), "images": 1, "ticks": 256}
            for schedule in ("looped",) + (("unrolled",) if args.full_unrolled else ()):
                r = run_worker("fast:float32", full, 1, 256, schedule, False, tmp, timeout=1800)
                r.pop("counts_file", None)
                out["full"][schedule] = r
    out["load_average_after"] = os.getloadavg()
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(json.dumps(out["small"].get("speedup"), indent=1))
    if not args.quick:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
