"""Simulation backends on the same small ItNet, cold and warm; and `fast` at full size.

Part 1: the model engineer's ``tiny`` preset (48×64 input, f = 8, N = 4) with random weights (seed 0),
converted by ``itnet_neuro.convert.convert_model`` — the same IR, the same synthetic test images and the
same ticks for every backend: ``fast`` (float32 currents, the default; and float64), ``nengo`` (reference
simulator), ``nengo-dl``, ``brian2`` on its numpy target and on its compiled cython target, and the
tick-by-tick numpy ``reference``. Each backend is timed twice:

* **cold**: the whole process, as a user runs it — ``python -m itnet_neuro simulate NET --backend B …``
  from start to exit (imports, loading, building, compiling, simulating, writing results.json); for
  brian2's cython target with an empty compiled-code cache (its first run ever);
* **warm**: a second identical ``simulate()`` call in one process after a first (libraries imported,
  TensorFlow kernels initialised, brian2's code compiled and cached); nengo and nengo-dl build their
  simulator again in every call, so their warm time includes the build, and ``run_steps_seconds`` says
  how much of it was the simulation proper.

Ratios are taken between runs of this one invocation only (``speedup``), never against absolute times of
another run: the machine is shared with other jobs (``machine.shared``, load averages before and after).
Agreement: spike counts per neuron against the reference loop.

Part 2: ``paper-camvid-shared`` (480×360, f = 51, N = 16) with random weights, one image, 256 ticks, with
``fast``: the looped schedule (16 phases of 16 ticks: each iteration sees 16 ticks) and the unrolled one
(16 copies of the block, all 256 ticks); cold and warm as above.

    nice -n 5 python benchmarks/bench_simulate.py            # writes benchmarks/results/simulate.json
    python benchmarks/bench_simulate.py --quick              # smaller run, no file
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


def _options(name: str) -> tuple[str, dict]:
    backend, _, variant = name.partition(":")
    if backend == "fast":
        return backend, {"precision": variant or "float32"}
    if backend == "brian2":
        return backend, {"target": variant or "numpy"}
    return backend, {}


def worker(args) -> None:
    """One backend in this process: the same simulation twice (first, then warm); counts and timings."""
    from itnet_neuro.ir.io import load_network
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images

    net = load_network(args.net)
    x, _, _ = load_images("synthetic", net, args.images)
    backend, opts = _options(args.worker)
    calls = []
    if args.warmup_ticks:  # a short first call instead of a second full one (the full-size unrolled run)
        n_it = net.block.iterations if net.block is not None and args.schedule == "looped" else 1
        t0 = time.perf_counter()
        simulate(net, x[:1], args.warmup_ticks * n_it, backend=backend, schedule=args.schedule, **opts)
        calls.append({"seconds": time.perf_counter() - t0, "info": {"ticks": args.warmup_ticks * n_it}})
    while len(calls) < 2:
        t0 = time.perf_counter()
        res = simulate(net, x, args.ticks, backend=backend, schedule=args.schedule, record=args.record, **opts)
        calls.append({"seconds": time.perf_counter() - t0, "info": {
            k: v for k, v in res.info.items() if k != "sequential_neuron_chunks"}})
    out = {"backend": args.worker, "first_call_seconds": calls[0]["seconds"], "first_call_info": calls[0]["info"],
           "warm_seconds": calls[1]["seconds"], "warm_info": calls[1]["info"],
           "warm_after": f"a {args.warmup_ticks}-tick call" if args.warmup_ticks else "an identical call",
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "spikes": float(sum(res.spikes_per_population.values()))}
    if args.record:
        np.savez_compressed(args.counts, **{k.replace("/", "_"): v.sum(axis=1, dtype=np.int32)
                                            for k, v in res.trains.items()})
    Path(args.result).write_text(json.dumps(out))


def _env(cwd: Path) -> dict:
    """Environment of a measured process: our code first; brian2 reads ``brian_preferences`` from ``cwd``."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def cold_run(name: str, net: Path, images: int, ticks: int, schedule: str, tmp: Path, timeout: int) -> dict:
    """The whole ``itnet-neuro simulate`` process, as a user runs it; wall seconds from start to exit."""
    backend, opts = _options(name)
    cmd = [sys.executable, "-m", "itnet_neuro", "simulate", str(net), "--backend", backend, "--images", str(images),
           "--ticks", str(ticks), "--schedule", schedule, "-o", str(tmp / f"cold_{name.replace(':', '_')}.json")]
    if "precision" in opts:
        cmd += ["--precision", opts["precision"]]
    if "target" in opts:
        cmd += ["--brian2-target", opts["target"]]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(tmp), cwd=tmp)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    seconds = time.perf_counter() - t0
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return {"seconds": seconds, "command": "itnet-neuro " + " ".join(cmd[3:-2]) + " -o results.json"}


def run_worker(name: str, net: Path, images: int, ticks: int, schedule: str, record: bool, tmp: Path,
               timeout: int, *, cold: bool = True, warmup_ticks: int = 0) -> dict:
    """Cold (the CLI process) then warm (a worker process calling simulate twice) for one backend."""
    result = tmp / f"{name.replace(':', '_')}.json"
    counts = tmp / f"{name.replace(':', '_')}.npz"
    cold = cold_run(name, net, images, ticks, schedule, tmp, timeout) if cold else {"skipped": "too long"}
    if name == "brian2:cython" and "error" in cold:
        return {"backend": name, "cold": cold, "error": f"cold run: {cold['error']}; warm run skipped (it would "
                                                        "compile again)"}
    cmd = [sys.executable, __file__, "--worker", name, "--net", str(net), "--images", str(images), "--ticks",
           str(ticks), "--schedule", schedule, "--result", str(result), "--counts", str(counts),
           "--warmup-ticks", str(warmup_ticks)]
    if record:
        cmd.append("--record")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(tmp), cwd=tmp)
    except subprocess.TimeoutExpired:
        return {"backend": name, "cold": cold, "error": f"timed out after {timeout} s"}
    if proc.returncode:
        return {"backend": name, "cold": cold, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(result.read_text())
    out["cold"] = cold
    out["worker_process_seconds"] = time.perf_counter() - t0
    out["counts_file"] = str(counts) if record else None
    print(f"  {name:16s} cold {cold.get('seconds', float('nan')):8.2f} s   warm {out['warm_seconds']:8.2f} s   "
          f"peak RSS {out['peak_rss_bytes'] / 2**30:5.2f} GiB", flush=True)
    return out


def agreement(ref_file: str, other_file: str) -> dict:
    a, b = np.load(ref_file), np.load(other_file)
    diff = sum(int(np.count_nonzero(a[k] != b[k])) for k in a.files)
    total = sum(int(a[k].size) for k in a.files)
    spikes_a = sum(int(a[k].sum()) for k in a.files)
    spikes_b = sum(int(b[k].sum()) for k in b.files)
    return {"neurons_with_different_count": diff, "neurons": total,
            "identical_spike_counts": diff == 0, "spikes_reference": spikes_a, "spikes": spikes_b}


BACKENDS = ("reference", "fast:float64", "nengo", "brian2:numpy", "brian2:cython", "nengo-dl")


def _paired_runs(args, net: Path, images: int, ticks: int, tmp: Path, cython_timeout: int) -> dict:
    """Every backend of ``args.backends``, each right after a fresh ``fast:float32`` run (its pair).

    Cold and warm of the pair are measured minutes apart at most, so a change of the shared machine's
    load between backends does not enter their ratio. brian2's cython target starts from an empty
    compiled-code cache and gets ``cython_timeout`` seconds for its cold run (its warm run is skipped
    when that run could not finish: it would compile again).
    """
    cache = tmp / f"brian_cache_{net.stem}"
    (tmp / "brian_preferences").write_text(f"codegen.runtime.cython.cache_dir = '{cache}'\n")
    runs, pairs = {}, {}
    for name in args.backends.split(","):
        fast = run_worker("fast:float32", net, images, ticks, "unrolled", True, tmp, timeout=args.timeout)
        timeout = cython_timeout if name == "brian2:cython" else args.timeout
        r = run_worker(name, net, images, ticks, "unrolled", True, tmp, timeout=timeout)
        if name == "brian2:cython":
            r["cache_files_after"] = len(list(cache.glob("*.so"))) if cache.exists() else 0
        runs[name] = r
        pairs[name] = fast
    ref = runs.get("reference")
    for name, r in list(runs.items()) + [(f"fast:float32 (before {k})", v) for k, v in pairs.items()]:
        if ref and "error" not in r and "error" not in ref and r is not ref:
            r["agreement_with_reference"] = agreement(ref["counts_file"], r["counts_file"])
    for r in list(runs.values()) + list(pairs.values()):
        r.pop("counts_file", None)
    return {"runs": runs, "fast_pairs": pairs, "speedup": speedups(runs, pairs)}


def _small_part(out: dict, args, small: Path, images: int, ticks: int, tmp: Path) -> None:
    """Part 1: every backend on the converted tiny preset, cold and warm, in subprocesses."""
    print("converting the tiny preset …", flush=True)
    out["small"] = {"network": _convert("tiny", small, 4), "images": images, "ticks": ticks,
                    "schedule": "unrolled", "data": "synthetic test split",
                    "brian2_cython_cold_limit_seconds": args.cython_timeout}
    out["small"].update(_paired_runs(args, small, images, ticks, tmp, args.cython_timeout))


def _micro_part(out: dict, args, tmp: Path) -> None:
    """Part 1b: the same comparison on a network small enough for brian2's cython target to compile."""
    from itnet_neuro.ir.examples import tiny_iterative_network
    from itnet_neuro.ir.io import save_network

    net = tiny_iterative_network()
    path = tmp / "micro.snn.h5"
    save_network(net, path)
    unrolled = net.unroll()
    out["micro"] = {"network": {"name": "itnet_neuro.ir.examples.tiny_iterative_network()", "weights": "dyadic, fixed",
                                "input": list(net.input.shape), "populations": len(unrolled.populations),
                                "neurons_unrolled": unrolled.n_neurons, "synapses_unrolled": unrolled.n_synapses,
                                "iterations": net.block.iterations},
                    "images": args.images, "ticks": args.ticks, "schedule": "unrolled", "data": "synthetic test split"}
    out["micro"].update(_paired_runs(args, path, args.images, args.ticks, tmp, args.timeout))


def speedups(runs: dict, pairs: dict) -> dict:
    """Per backend: its time over its paired fast run's, cold and warm (None where a run failed).

    ``run_steps_only``: nengo's and nengo-dl's simulation proper (their ``run_steps``, without building the
    simulator) against fast's warm call, which does everything.
    """
    def ratio(a, b):
        return None if a is None or b is None else round(b / a, 2)

    out = {}
    for name, r in runs.items():
        f = pairs[name]
        out[f"fast:float32 vs {name}"] = {
            "cold": ratio(f.get("cold", {}).get("seconds"), r.get("cold", {}).get("seconds")),
            "warm": ratio(f.get("warm_seconds"), r.get("warm_seconds")),
            "run_steps_only": ratio(f.get("warm_seconds"), r.get("warm_info", {}).get("run_steps_seconds"))}
    return out


def _full_part(out: dict, args, tmp: Path) -> None:
    """Part 2: fast on paper-camvid-shared at full size, looped and unrolled."""
    full = tmp / "full.snn.h5"
    print("converting paper-camvid-shared (random weights) …", flush=True)
    out["full"] = {"network": _convert("paper-camvid-shared", full, 2), "images": 1, "ticks": 256,
                   "conditions": "random weights (Keras initializers); looped: 16 phases of 16 ticks, so each "
                                 "iteration sees 16 ticks; unrolled: 16 copies of the block for all 256 ticks"}
    for schedule in ("looped", "unrolled"):
        unrolled = schedule == "unrolled"  # 46.6 M neurons × 256 ticks: one full call, after a short one
        r = run_worker("fast:float32", full, 1, 256, schedule, False, tmp, timeout=args.timeout,
                       cold=not unrolled, warmup_ticks=2 if unrolled else 0)
        r.pop("counts_file", None)
        out["full"][schedule] = r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 image, 16 ticks, no full-size part, no file")
    p.add_argument("--worker", default=None)
    p.add_argument("--net")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--ticks", type=int, default=64)
    p.add_argument("--schedule", default="unrolled")
    p.add_argument("--result")
    p.add_argument("--counts")
    p.add_argument("--record", action="store_true")
    p.add_argument("--warmup-ticks", type=int, default=0)
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, of " + ", ".join(BACKENDS))
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per process")
    p.add_argument("--cython-timeout", type=int, default=1800,
                   help="seconds for brian2's cython target to compile and run the tiny preset cold")
    p.add_argument("-o", "--output", default=str(HERE / "results" / "simulate.json"))
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    images, ticks = (1, 16) if args.quick else (args.images, args.ticks)
    out = {"command": "nice -n 5 python benchmarks/bench_simulate.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                       "shared": "yes: several other agents' jobs ran on these CPUs during the measurement, so "
                                 "absolute times vary from run to run; compare the ratios of this file "
                                 "(speedup), which pair runs of one invocation"},
           "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as d:
        tmp = Path(d)
        _small_part(out, args, tmp / "tiny.snn.h5", images, ticks, tmp)
        _micro_part(out, args, tmp)
        if not args.skip_full and not args.quick:
            _full_part(out, args, tmp)
    out["load_average_after"] = os.getloadavg()
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(json.dumps(out["small"].get("speedup"), indent=1))
    if not args.quick:
        from itnet_neuro.utils import write_json

        write_json(args.output, out)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
