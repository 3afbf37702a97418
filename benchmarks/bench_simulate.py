"""Every simulation backend on the same networks, cold and warm, beside the machine's dense-MAC floor.

One invocation measures, in this order of cells (network, images per batch, ticks):

* networks: the **shipped** model (``itnet_neuro/resources/itnet_small_shared.h5``, trained weights) and
  the model engineer's **tiny** preset (48×64 input, f = 8, N = 4, random Keras initial weights, config
  seed), each converted once by this script with ``itnet_neuro.convert.convert_model`` and saved as a
  ``.snn.h5``, so no time below includes conversion; plus the **micro** test network
  (``itnet_neuro.ir.examples.tiny_iterative_network()``, dyadic weights), the only one small enough for
  brian2's cython target to compile within the budget;
* batches of 1 and 8 images (``--images N --batch-size N``: ``fast``, ``reference`` and nengo-dl
  simulate the batch at once, ``nengo`` and ``brian2`` one image after the other); synthetic test
  images; unrolled schedule; the same ticks for every backend of a cell;
* backends: ``fast`` (float32, the default), ``reference`` (tick-by-tick numpy), ``nengo`` (its reference
  simulator), ``nengo-dl``, ``brian2`` on its numpy target and on its compiled cython target.

Each backend of a cell is timed two ways:

* **cold**: the whole process as a user runs it — ``python -m itnet_neuro simulate NET.snn.h5 --backend
  B …`` from start to exit (imports, loading, building, compiling, simulating, writing results.json);
  brian2's cython target starts from an empty compiled-code cache (its first run ever);
* **warm**: a second identical ``simulate()`` call in one worker process, after a first (libraries
  imported, TensorFlow initialised, brian2's code compiled and cached; the cython worker starts from
  the cache its cold run filled); nengo and nengo-dl build their
  simulator in every call, so their warm time includes that build and ``run_steps_seconds`` says how
  much of it was the simulation proper.

Caps, so that the whole run stays near 20–30 minutes on 2 shared cores (see ``PLAN``, ``LAST``, ``COLD_ONLY``):
32 ticks at one image, 16 at eight; ``nengo-dl`` runs only on ``tiny`` and ``micro`` (its TensorFlow graph
build of the shipped model did not finish 16 ticks in 10 minutes in a trial run) and on ``tiny`` cold only
(each call builds its graph again: minutes); ``brian2`` (numpy) runs on the shipped model at one image
only, cold only (it runs one image after the other, minutes a call: 8 images cost 8×); these run after
everything else, and so does brian2's cython target, which runs only on ``micro`` (it compiles one extension
per generated code object: hundreds for ``tiny``). The paper preset is not run (its conversion and one run alone exceed the
budget). A process that exceeds its timeout is recorded as ``timed out`` with the limit, and
``--budget`` starts no run once the invocation has taken that long (those left are recorded as skipped);
``--stop-at HH:MM`` cuts every process's timeout so that none runs past that time (UTC).

**Per tick** (issue 17): in one process on the shipped model, ``fast`` at 1 and 8 images and ``nengo``
at 1 and 8 images (one after the other), each as the difference of a short and a long warm run
(``PER_TICK``; nengo's stepping only, without its build), set against the floor and each other.

**Floor**: in the same run, a worker times TensorFlow float32 dense matmuls and 3×3 convolutions at
several shapes and keeps the best rate (MAC/s); a network's floor per tick is its unrolled synapse
count × images (every synapse once per tick, as a dense simulation computes it) at that rate.

Ratios are taken only between runs of this invocation: the machine is shared with other jobs; every
process records the load averages before and after it. Agreement: each backend's spike total per
population against the ``reference`` backend of the same cell.

    python benchmarks/bench_simulate.py                  # writes benchmarks/results/simulate.json
    python benchmarks/bench_simulate.py --quick          # 2 cells, 8 ticks, no file
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

ALL = ("fast", "reference", "nengo", "brian2:numpy", "nengo-dl", "brian2:cython")
#: (network, images, ticks, backends): the cells, most important first (``--budget`` cuts from the end).
PLAN = (("shipped", 1, 32, ("fast", "reference", "nengo", "brian2:numpy")),
        ("tiny", 1, 32, ("fast", "reference", "nengo", "brian2:numpy", "nengo-dl")),
        ("micro", 1, 32, ALL),
        ("shipped", 8, 16, ("fast", "reference", "nengo")),
        ("tiny", 8, 16, ("fast", "reference", "nengo", "brian2:numpy", "nengo-dl")))
#: (network, backend) run after everything else (in every cell that has it), in this order, so that ``--budget``
#: and ``--stop-at`` cut them first.
LAST = (("micro", "brian2:cython"), ("tiny", "nengo-dl"), ("shipped", "brian2:numpy"))
#: (network, backend) timed cold only: three TensorFlow graph builds of the tiny preset would take half the
#: budget; brian2 on the shipped model takes minutes a call.
COLD_ONLY = {("tiny", "nengo-dl"), ("shipped", "brian2:numpy")}
QUICK = (("tiny", 1, 8, ("fast", "reference", "nengo")), ("micro", 1, 8, ("fast", "reference", "brian2:numpy")))
TIMEOUT = {"nengo-dl": 600, "brian2:cython": 900}


def _options(name: str) -> tuple[str, dict]:
    backend, _, variant = name.partition(":")
    return backend, ({"target": variant} if backend == "brian2" else {})


def _load_net(path):
    from itnet_neuro.ir.io import load_network

    return load_network(path)


# --------------------------------------------------------------------------------------- worker processes

def worker(args) -> None:
    """One backend in this process: the same simulation twice (first, then warm)."""
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images

    net = _load_net(args.net)
    x, _, _ = load_images("synthetic", net, args.images)
    backend, opts = _options(args.worker)
    calls = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = simulate(net, x, args.ticks, backend=backend, batch_size=args.images, **opts)
        calls.append((time.perf_counter() - t0, {k: v for k, v in res.info.items()
                                                 if isinstance(v, (int, float, str))}))
    out = {"first_call_seconds": calls[0][0], "warm_seconds": calls[1][0], "warm_info": calls[1][1],
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "spikes_per_population": {k: float(v) for k, v in res.spikes_per_population.items()}}
    Path(args.result).write_text(json.dumps(out))


#: Per-tick measurement (issue 17's "per-tick cost"): (backend, images, short, long run length in ticks).
PER_TICK = (("fast", 1, 16, 144), ("fast", 8, 16, 80), ("nengo", 1, 8, 72), ("nengo", 8, 8, 24))


def per_tick_worker(args) -> None:
    """Seconds per tick of ``fast`` and ``nengo`` on one network in this process, warm: the difference of a
    short and a long run divided by the difference in ticks, so set-up and finishing cancel (``fast``:
    each length best of 3 after a warm-up call; ``nengo``: its ``run_steps_seconds``, the stepping
    without the build, each length best of 2). ``fast`` runs TensorFlow's kernels, which ``kernels="auto"``
    picks for any run this long."""
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images

    net = _load_net(args.net)
    x, _, _ = load_images("synthetic", net, 8)
    out = []
    for backend, images, short, long in PER_TICK:
        def call(t):
            t0 = time.perf_counter()
            opts = {"kernels": "tensorflow"} if backend == "fast" else {}
            res = simulate(net, x[:images], t, backend=backend, batch_size=images, show_progress=False, **opts)
            return res.info["run_steps_seconds"] if backend == "nengo" else time.perf_counter() - t0, res.info

        if backend == "fast":
            call(short)
        reps = 3 if backend == "fast" else 2
        a = min(call(short)[0] for _ in range(reps))
        runs = [call(long) for _ in range(reps)]
        b = min(r[0] for r in runs)
        out.append({"backend": backend, "images": images, "ticks": [short, long], "seconds": [a, b],
                    "seconds_per_tick": (b - a) / (long - short),
                    "info": {k: v for k, v in runs[0][1].items() if isinstance(v, (int, float, str))},
                    "load_average": list(os.getloadavg())})
        print(f"    {backend} ×{images}: {out[-1]['seconds_per_tick'] * 1e3:.2f} ms per tick", flush=True)
    Path(args.result).write_text(json.dumps(out))


#: Rounds of the per-tick measurement, each a process of its own: the machine's speed drifts between
#: minutes (the same code measured 1.79 and 3.27 ms per tick at 1 image in two runs of this script), so
#: the file keeps every round and the README quotes the median and the range of the paired ratios.
PER_TICK_ROUNDS = 3


def per_tick(net: Path, synapses: int, rate: float | None, tmp: Path, rounds: int = PER_TICK_ROUNDS) -> dict:
    """:func:`per_tick_worker` on ``net``, ``rounds`` times in a process of its own, and the ratios of each
    round: ``fast`` per tick over the floor, ``nengo`` over ``fast`` at the same number of images (both
    measured in the same process minutes apart); their medians and ranges over the rounds."""
    result = tmp / "per_tick.json"
    out = {"method": "difference of a short and a long warm run in one process (PER_TICK), "
                     f"{rounds} rounds, each its own process", "rounds": []}
    for _ in range(rounds):
        run = _timed([sys.executable, __file__, "--per-tick", "--net", str(net), "--result", str(result)], tmp, 1200)
        if "error" in run:
            return {"error": run["error"], **out}
        out["rounds"].append(_per_tick_ratios(json.loads(result.read_text()), run, synapses, rate))
    out["runs"] = out["rounds"][0]["runs"]  # the run lengths and options (the same in every round)
    for key in ("nengo_over_fast", "fast_over_floor", "ms_per_tick"):
        keys = out["rounds"][0][key]
        values = {k: [r[key][k] for r in out["rounds"]] for k in keys}
        out[key] = {k: round(statistics.median(v), 2 if key == "ms_per_tick" else 1) for k, v in values.items()}
        out[key + "_range"] = {k: [min(v), max(v)] for k, v in values.items()}
    return out


def _per_tick_ratios(rows: list, run: dict, synapses: int, rate: float | None) -> dict:
    """One round of :func:`per_tick`: its rows and the ratios within it."""
    fast = {r["images"]: r["seconds_per_tick"] for r in rows if r["backend"] == "fast"}
    out = {"runs": rows, "process": run, "nengo_over_fast": {}, "fast_over_floor": {},
           "ms_per_tick": {f"{r['backend']} ×{r['images']}": round(r["seconds_per_tick"] * 1e3, 2) for r in rows}}
    for r in rows:
        n = r["images"]
        if r["backend"] == "nengo" and n in fast:
            out["nengo_over_fast"][str(n)] = round(r["seconds_per_tick"] / fast[n], 1)
    if rate:
        out["fast_over_floor"] = {str(n): round(t / (synapses * n / rate), 1) for n, t in fast.items()}
    return out


def floor_worker(args) -> None:
    """Best float32 MAC rate TensorFlow reaches here: dense matmuls and 3×3 convolutions (median of 5)."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    cases = []
    for m in (256, 1024, 2048):
        a, b = tf.random.normal((m, m)), tf.random.normal((m, m))
        cases.append((f"matmul {m}×{m}×{m}", m ** 3, lambda a=a, b=b: tf.linalg.matmul(a, b)))
    for batch, h, w, c in ((1, 96, 128, 32), (8, 96, 128, 32), (8, 48, 64, 64)):
        x, k = tf.random.normal((batch, h, w, c)), tf.random.normal((3, 3, c, c))
        cases.append((f"conv2d 3×3, {batch}×{h}×{w}×{c} → {c}", batch * h * w * c * c * 9,
                      lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME")))
    rates = {}
    for name, macs, fn in cases:
        fn().numpy()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn().numpy()
            times.append(time.perf_counter() - t0)
        rates[name] = macs / sorted(times)[2]
    Path(args.result).write_text(json.dumps({"mac_per_second": rates, "threads": "TensorFlow's default",
                                             "load_average": list(os.getloadavg())}))


# ------------------------------------------------------------------------------------------ measurement

def _env(cwd: Path) -> dict:
    """Environment of a measured process: our code first; brian2 reads ``brian_preferences`` from ``cwd``."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def _timed(cmd: list[str], cwd: Path, timeout: int) -> dict:
    """Run ``cmd``; wall seconds, load averages around it, or the error's last line."""
    load = list(os.getloadavg())
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(cwd), cwd=cwd)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "timeout_seconds": timeout, "load_before": load}
    out = {"seconds": time.perf_counter() - t0, "load_before": load, "load_after": list(os.getloadavg())}
    if proc.returncode:
        out["error"] = (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return out


def _fresh_cwd(tmp: Path, name: str) -> Path:
    """A working directory whose ``brian_preferences`` points brian2 at an empty cython cache."""
    cwd = tmp / name
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "brian_preferences").write_text(f"codegen.runtime.cython.cache_dir = '{cwd / 'cython_cache'}'\n")
    return cwd


def measure(name: str, net: Path, images: int, ticks: int, tmp: Path, cold_only: bool = False,
            stop_at: float = float("inf")) -> dict:
    """Cold (the CLI process) then warm (a worker calling ``simulate`` twice) for one backend.

    No process runs past ``stop_at`` (``time.time()``): its timeout is cut to what is left.
    """
    backend, opts = _options(name)
    timeout = lambda: max(1, int(min(TIMEOUT.get(name, 300), stop_at - time.time())))  # noqa: E731
    tag = f"{net.stem}_{images}_{name.replace(':', '_')}"
    cli = ["simulate", str(net.name), "--backend", backend, "--images", str(images), "--batch-size", str(images),
           "--ticks", str(ticks), "--schedule", "unrolled", "--data", "synthetic"]
    cli += ["--brian2-target", opts["target"]] if "target" in opts else []
    cwd = _fresh_cwd(tmp, "cold_" + tag)
    (cwd / net.name).symlink_to(net)
    cold = _timed([sys.executable, "-m", "itnet_neuro", *cli, "-o", "results.json"], cwd, timeout())
    cold["command"] = "itnet-neuro " + " ".join(cli) + " -o results.json"
    out = {"cold": cold}
    if "error" in cold and name == "brian2:cython":
        out["error"] = "cold run failed; warm run skipped (it would compile again)"
        return out
    if cold_only:
        out["warm"] = "not measured (cap: cold only)"
        return out
    result = tmp / f"warm_{tag}.json"
    if name != "brian2:cython":  # cython's worker keeps the cache its cold run filled: warm means compiled
        cwd = _fresh_cwd(tmp, "warm_" + tag)
    warm = _timed([sys.executable, __file__, "--worker", name, "--net", str(net), "--images", str(images),
                   "--ticks", str(ticks), "--result", str(result)], cwd, timeout())
    if "error" in warm:
        out["error"] = f"warm worker: {warm['error']}"
        return out
    out.update(json.loads(result.read_text()))
    out["worker_process"] = warm
    return out


def floor(tmp: Path) -> dict:
    result = tmp / "floor.json"
    run = _timed([sys.executable, __file__, "--floor", "--result", str(result)], tmp, 300)
    if "error" in run:
        return {"error": run["error"]}
    out = json.loads(result.read_text())
    best = max(out["mac_per_second"], key=out["mac_per_second"].get)
    out.update(best=best, best_mac_per_second=out["mac_per_second"][best])
    return out


# ----------------------------------------------------------------------------------------------- networks

def convert_networks(tmp: Path, names: set) -> dict:
    """``{name: (path, description)}``: the shipped model and the tiny preset converted, the micro net."""
    from itnet_neuro.convert import convert_model
    from itnet_neuro.ir.examples import tiny_iterative_network
    from itnet_neuro.ir.io import save_network
    from itnet_neuro.model.build import build_itnet
    from itnet_neuro.model.io import save_itnet
    from itnet_neuro.model.presets import get_preset
    from itnet_neuro.resources import SHIPPED_MODEL

    nets = {}
    for name in sorted(names, key=["shipped", "tiny", "micro"].index):
        path = tmp / f"{name}.snn.h5"
        if name == "shipped":
            net = convert_model(SHIPPED_MODEL).network
            what = {"model": "itnet_neuro/resources/itnet_small_shared.h5 (shipped)", "weights": "trained"}
        elif name == "tiny":
            cfg = get_preset("tiny")
            save_itnet(build_itnet(cfg), cfg, tmp / "tiny.keras.h5")
            net = convert_model(tmp / "tiny.keras.h5", n_calibration=4).network
            what = {"model": "preset tiny", "weights": "random (Keras initializers, config seed)"}
        else:
            net = tiny_iterative_network()
            what = {"model": "itnet_neuro.ir.examples.tiny_iterative_network()", "weights": "dyadic, fixed"}
        save_network(net, path)
        u = net.unroll()
        what.update(input=list(net.input.shape), iterations=net.block.iterations if net.block else 1,
                    populations=len(u.populations), neurons_unrolled=u.n_neurons, synapses_unrolled=u.n_synapses)
        nets[name] = (path, what)
    return nets


def agreement(cell: dict) -> None:
    """Per backend: populations whose spike total differs from the reference backend's, in place."""
    ref = cell["runs"].get("reference", {}).get("spikes_per_population")
    for r in cell["runs"].values():
        mine = r.get("spikes_per_population")
        if ref is None or mine is None:
            continue
        diff = [k for k in ref if abs(ref[k] - mine.get(k, -1)) > 0]
        total, total_ref = sum(mine.values()), sum(ref.values())
        r["agreement_with_reference"] = {"populations": len(ref), "populations_with_different_spike_total": len(diff),
                                         "spikes_reference": total_ref, "spikes": total,
                                         "relative_difference_of_all_spikes": (total - total_ref) / max(total_ref, 1)}
    for r in cell["runs"].values():
        r.pop("spikes_per_population", None)


def ratios(cell: dict, floor_rate: float | None, synapses: int) -> dict:
    """Each backend's cold and warm time over ``fast``'s, and ``fast`` warm per tick over the floor."""
    runs = cell["runs"]
    fast = runs.get("fast", {})
    out = {}
    for name, r in runs.items():
        out[name] = {"cold": _ratio(r.get("cold", {}).get("seconds"), fast.get("cold", {}).get("seconds")),
                     "warm": _ratio(r.get("warm_seconds"), fast.get("warm_seconds"))}
    if floor_rate and fast.get("warm_seconds"):
        floor_tick = synapses * cell["images"] / floor_rate
        out["fast_warm_per_tick_over_floor"] = round(fast["warm_seconds"] / cell["ticks"] / floor_tick, 1)
        out["floor_seconds_per_tick"] = floor_tick
    return out


def _ratio(a, b):
    return None if a is None or b is None else round(a / b, 2)


# ------------------------------------------------------------------------------------------------- main

def run(plan, budget: float, tmp: Path, out: dict, partial: Path | None, stop_at: float = float("inf")) -> None:
    t_start = time.perf_counter()
    print("converting the networks …", flush=True)
    nets = convert_networks(tmp, {c[0] for c in plan})
    out["networks"] = {k: v[1] for k, v in nets.items()}
    print("measuring the dense-MAC floor …", flush=True)
    out["floor"] = floor(tmp)
    rate = out["floor"].get("best_mac_per_second")
    print("fast and nengo per tick on the shipped model …", flush=True)
    if "shipped" in nets:
        out["per_tick"] = per_tick(nets["shipped"][0], nets["shipped"][1]["synapses_unrolled"], rate, tmp)
    out["cells"] = [{"network": n, "images": b, "batch_size": b, "ticks": t, "runs": dict.fromkeys(names)}
                    for n, b, t, names in plan]
    cells = {(c["network"], c["images"]): c for c in out["cells"]}
    order = [(c, k) for c in out["cells"] for k in c["runs"] if (c["network"], k) not in LAST]
    order += [(c, k) for net, k in LAST for c in out["cells"] if c["network"] == net and k in c["runs"]]
    for cell, name in order:
        if time.perf_counter() - t_start > budget or time.time() > stop_at - 60:
            cell["runs"][name] = {"skipped": f"the run had taken its budget of {budget:.0f} s" if time.time() <
                                  stop_at - 60 else "the invocation's --stop-at time had come"}
            continue
        r = measure(name, nets[cell["network"]][0], cell["images"], cell["ticks"], tmp,
                    cold_only=(cell["network"], name) in COLD_ONLY, stop_at=stop_at)
        cell["runs"][name] = r
        print(f"  {cell['network']:8s} ×{cell['images']} {name:14s} cold {r['cold'].get('seconds', float('nan')):7.1f}"
              f" s   warm {r.get('warm_seconds', float('nan')):7.2f} s   {r.get('error', r['cold'].get('error', ''))}",
              flush=True)
        if partial:
            partial.write_text(json.dumps(out, indent=1))
    for cell in out["cells"]:
        agreement(cell)
        cell["ratio_to_fast"] = ratios(cell, rate, nets[cell["network"]][1]["synapses_unrolled"])
    out["total_seconds"] = round(time.perf_counter() - t_start)


def _stop_at(hhmm: str | None) -> float:
    """``time.time()`` of the next ``HH:MM`` UTC (infinity without one)."""
    if not hhmm:
        return float("inf")
    h, m = map(int, hhmm.split(":"))
    now = time.time()
    t = now - now % 86400 + h * 3600 + m * 60
    return t if t > now else t + 86400


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two small cells of 8 ticks; no file written")
    p.add_argument("--budget", type=float, default=1800,
                   help="seconds after which no further run starts (those left are recorded as skipped)")
    p.add_argument("--stop-at", help="HH:MM (UTC): no process runs past it (timeouts are cut, recorded as such)")
    p.add_argument("-o", "--output", default=str(HERE / "results" / "simulate.json"))
    p.add_argument("--worker")
    p.add_argument("--floor", action="store_true")
    p.add_argument("--per-tick", action="store_true")
    p.add_argument("--net")
    p.add_argument("--images", type=int)
    p.add_argument("--ticks", type=int)
    p.add_argument("--result")
    args = p.parse_args(argv)
    if args.worker or args.floor or args.per_tick:
        (floor_worker if args.floor else per_tick_worker if args.per_tick else worker)(args)
        return 0
    from common import finish, header

    command = "python benchmarks/bench_simulate.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    out = header(command)
    out["machine"]["shared"] = ("yes: other agents' jobs ran on these CPUs, so absolute times vary from run to "
                                "run; compare the ratios between runs of this file, with the load averages")
    out["plan"] = {"cells": [list(c[:3]) + [list(c[3])] for c in (QUICK if args.quick else PLAN)],
                   "caps": "32 ticks at 1 image, 16 at 8; nengo-dl only on tiny (cold only) and micro; brian2 "
                           "(numpy) on the shipped model at 1 image, cold only; brian2 cython only on micro; no "
                           "paper preset", "budget_seconds": args.budget,
                   "timeouts_seconds": dict(TIMEOUT, other=300), "schedule": "unrolled",
                   "data": "synthetic test split", "conversion": "once, before timing (not in any time)"}
    with tempfile.TemporaryDirectory(prefix="bench_simulate_") as d:
        partial = None if args.quick else Path(tempfile.gettempdir()) / "bench_simulate.partial.json"
        run(QUICK if args.quick else PLAN, args.budget, Path(d), out, partial, _stop_at(args.stop_at))
    out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    for cell in out["cells"]:
        print(cell["network"], cell["images"], json.dumps(cell["ratio_to_fast"]))
    if not args.quick:
        finish(out, args.output)
        partial.unlink(missing_ok=True)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
