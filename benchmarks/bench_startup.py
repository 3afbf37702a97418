"""Where ``fast``'s start-up goes: TensorFlow's import, jax inside it, the first call; the CLI's first tick.

The ``fast`` simulator's cold run is dominated by things that happen once per process. Measured here,
each in fresh processes, alternating so that the shared machine's load hits both sides of a pair alike:

* ``import tensorflow`` as it is, against :func:`itnet_neuro.utils.import_tf`, which hides jax during
  the import (``tf.lite`` imports jax at start-up only to offer converting jax functions);
* in one process on the ``tiny`` preset network (2 images, 64 ticks): the first ``simulate()`` call
  (TensorFlow imported, kernels initialised, connections prepared) against the second, identical one.

Figures are medians over ``--repeat`` pairs and the ratios of each pair's two sides; the machine is
shared with other jobs, so absolute times are reported only beside their pair.

The CLI as a user runs it (issue 17), on the shipped model converted once (``itnet-neuro convert``),
``itnet-neuro simulate shipped.snn.h5 --chip ideal`` at 1 and 4 images × 64 and 256 ticks (4 × 256
is the default run), each a fresh process (cold: interpreter, imports, TensorFlow where the run
uses its kernels) on a warm disk (the files were read moments before), the four runs in turn
``--repeat`` times so that the machine's load drifts over all of them alike:

* ``first_tick_after_s``: when the simulator's first tick started, in wall seconds since the process
  was started (``results.json`` ``wall_seconds.first_tick_after_process_start``,
  :func:`itnet_neuro.utils.process_age`: Linux's own start time of the process, so the interpreter's
  start-up is included);
* the whole process's wall time, measured from here around the child (cold end-to-end);
* the load average before and after each run; ``python -c pass`` alone for the interpreter's share;
* once more 1 × 64 with an empty itnet-neuro cache (``1x64-new``): a file no command has read before,
  whose HDF5 check (:mod:`itnet_neuro.untrusted`) walks it in a child; the other runs find that
  check remembered (one untimed run first warms the disk and the cache).

    nice -n 5 python benchmarks/bench_startup.py      # writes benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PLAIN = "import time; t = time.perf_counter(); import tensorflow; print(time.perf_counter() - t)"
HIDDEN = ("import time; t = time.perf_counter(); from itnet_neuro.utils import import_tf; import_tf(); "
          "print(time.perf_counter() - t)")
CALLS = """
import json, sys, time
t0 = time.perf_counter()
from itnet_neuro.ir.io import load_network
from itnet_neuro.sim.core import simulate
from itnet_neuro.sim.experiment import load_images
net = load_network(sys.argv[1]); x, _, _ = load_images("synthetic", net, 2)
t1 = time.perf_counter()
from itnet_neuro.utils import import_tf
import_tf()
t2 = time.perf_counter()
simulate(net, x, 64, backend="fast")
t3 = time.perf_counter()
simulate(net, x, 64, backend="fast")
t4 = time.perf_counter()
print(json.dumps({"load_and_images": t1 - t0, "import_tf": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3}))
"""


def _env(**extra) -> dict:
    """The environment of a child: this checkout first on the path."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra)


def _python(code: str, *args) -> str:
    env = _env(TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return r.stdout.strip().splitlines()[-1]


#: The CLI runs timed: label → extra ``simulate`` arguments (the default run is 4 images × 256 ticks).
#: ``*-new``: with an empty itnet-neuro cache, as on a file no command has read before (its HDF5 check,
#: :mod:`itnet_neuro.untrusted`, walks it in a child process; the others find it remembered).
CLI_RUNS = {"4x256": [], "1x64": ["--images", "1", "--ticks", "64"], "1x256": ["--images", "1"],
            "4x64": ["--ticks", "64"], "1x64-new": ["--images", "1", "--ticks", "64"]}


def _cli_run(model: Path, extra: list[str], out: Path, cache: Path) -> dict:
    """One ``simulate MODEL --chip ideal`` process (itnet-neuro cache ``cache``): its wall time from outside,
    its first tick, load averages."""
    cmd = [sys.executable, "-m", "itnet_neuro", "simulate", str(model), "--chip", "ideal", *extra, "-o", str(out)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(cmd, env=_env(ITNET_NEURO_CACHE=str(cache)), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r = json.loads(out.read_text())
    return {"wall_s": wall, "first_tick_after_s": r["wall_seconds"]["first_tick_after_process_start"],
            "kernels": r["simulator"]["kernels"],
            "load_average_before": load_before, "load_average_after": os.getloadavg()}


def cli_section(tmp: Path, repeat: int) -> dict:
    """The shipped model converted into ``tmp`` by the CLI, then :func:`cli_runs` on it."""
    from itnet_neuro.resources import SHIPPED_MODEL

    model = tmp / "shipped.snn.h5"
    subprocess.run([sys.executable, "-m", "itnet_neuro", "convert", str(SHIPPED_MODEL), "-o", str(model)],
                   env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"model": "itnet_neuro/resources/itnet_small_shared.h5 (shipped), converted by `itnet-neuro convert`",
            "chip": "ideal", "disk": "warm", "process": "cold (a fresh one each run)",
            "command": "python -m itnet_neuro simulate shipped.snn.h5 --chip ideal ARGUMENTS -o RESULTS",
            "python_c_pass_median_s": interpreter_start(repeat), "runs": cli_runs(model, repeat)}


def cli_runs(model: Path, repeat: int) -> dict:
    """:data:`CLI_RUNS`, each ``repeat`` times in turn: per run the raw figures and their medians."""
    runs = {label: [] for label in CLI_RUNS}
    warm = model.with_name("cache")
    _cli_run(model, ["--images", "1", "--ticks", "1"], model.with_name("warm-up.json"), warm)  # disk and cache
    for k in range(repeat):
        for label, extra in CLI_RUNS.items():
            cache = model.with_name(f"empty-cache-{k}") if label.endswith("-new") else warm
            runs[label].append(r := _cli_run(model, extra, model.with_name(f"{label}.json"), cache))
            print(f"  [{k + 1}/{repeat}] simulate {label}: first tick {r['first_tick_after_s']:.2f} s, whole process "
                  f"{r['wall_s']:.2f} s ({r['kernels']} kernels), load {r['load_average_before'][0]:.2f}", flush=True)
    out = {}
    for label, rs in runs.items():
        images, ticks = map(int, label.removesuffix("-new").split("x"))
        loads = [x for r in rs for x in (r["load_average_before"][0], r["load_average_after"][0])]
        out[label] = {"images": images, "ticks": ticks, "arguments": " ".join(CLI_RUNS[label]),
                      "file_checked_before": not label.endswith("-new"),
                      "kernels": sorted({r["kernels"] for r in rs}),
                      "median_first_tick_after_s": statistics.median(r["first_tick_after_s"] for r in rs),
                      "median_wall_s": statistics.median(r["wall_s"] for r in rs),
                      "load_average_1min_range": [min(loads), max(loads)], "runs": rs}
    return out


def interpreter_start(repeat: int) -> float:
    """Median wall seconds of ``python -c pass`` (this interpreter, site-packages included)."""
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("-o", "--output", default=str(HERE / "results" / "startup.json"))
    args = p.parse_args(argv)
    from bench_simulate import convert_networks

    out = {"command": " ".join(["python benchmarks/bench_startup.py", *(sys.argv[1:] if argv is None else argv)]),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                       "shared": "2 cores, possibly shared with other jobs: see the load averages, read ratios"},
           "load_average_before": os.getloadavg()}
    pairs = []
    print("importing TensorFlow, plain and with jax hidden", flush=True)
    for _ in range(args.repeat):
        plain, hidden = float(_python(PLAIN)), float(_python(HIDDEN))
        pairs.append({"import_tensorflow": plain, "import_tf_without_jax": hidden, "ratio": hidden / plain})
        print(f"  import: plain {plain:.2f} s, jax hidden {hidden:.2f} s", flush=True)
    out["tensorflow_import"] = {"pairs": pairs, "median_ratio": statistics.median(r["ratio"] for r in pairs),
                                "median_saved_fraction": 1 - statistics.median(r["ratio"] for r in pairs)}
    print("fast in one process on the tiny preset", flush=True)
    with tempfile.TemporaryDirectory() as d:
        net, what = convert_networks(Path(d), {"tiny"})["tiny"]
        out["network"] = {"preset": "tiny", **what}
        calls = [json.loads(_python(CALLS, str(net))) for _ in range(args.repeat)]
        print("the CLI on the shipped model, --chip ideal (4 runs per round)", flush=True)
        out["cli"] = cli_section(Path(d), args.repeat)
    out["fast_process"] = {"runs": calls, "median_first_over_second_call": statistics.median(
        c["first_call"] / c["second_call"] for c in calls), "median_import_tf_over_second_call": statistics.median(
        c["import_tf"] / c["second_call"] for c in calls)}
    out["load_average_after"] = os.getloadavg()
    from itnet_neuro.utils import write_json

    write_json(args.output, out)
    print(json.dumps({k: v for k, v in out["fast_process"].items() if k != "runs"}, indent=1))
    for label, r in out["cli"]["runs"].items():
        print(f"simulate {label}: median first tick {r['median_first_tick_after_s']:.2f} s, whole process "
              f"{r['median_wall_s']:.2f} s")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
