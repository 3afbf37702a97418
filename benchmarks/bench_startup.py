"""Where ``fast``'s start-up goes: TensorFlow's import, jax inside it, the first call.

The ``fast`` simulator's cold run is dominated by things that happen once per process. Measured here,
each in fresh processes, alternating so that the shared machine's load hits both sides of a pair alike:

* ``import tensorflow`` as it is, against :func:`itnet_neuro.utils.import_tf`, which hides jax during
  the import (``tf.lite`` imports jax at start-up only to offer converting jax functions);
* in one process on the ``tiny`` preset network (2 images, 64 ticks): the first ``simulate()`` call
  (TensorFlow imported, kernels initialised, connections prepared) against the second, identical one.

Figures are medians over ``--repeat`` pairs and the ratios of each pair's two sides; the machine is
shared with other jobs, so absolute times are reported only beside their pair.

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


def _python(code: str, *args) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return r.stdout.strip().splitlines()[-1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("-o", "--output", default=str(HERE / "results" / "startup.json"))
    args = p.parse_args(argv)
    from bench_simulate import convert_networks

    out = {"command": " ".join(["python benchmarks/bench_startup.py", *(sys.argv[1:] if argv is None else argv)]),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                       "shared": "yes: other agents' jobs ran meanwhile; read the per-pair ratios"},
           "load_average_before": os.getloadavg()}
    pairs = []
    for _ in range(args.repeat):
        plain, hidden = float(_python(PLAIN)), float(_python(HIDDEN))
        pairs.append({"import_tensorflow": plain, "import_tf_without_jax": hidden, "ratio": hidden / plain})
        print(f"  import: plain {plain:.2f} s, jax hidden {hidden:.2f} s", flush=True)
    out["tensorflow_import"] = {"pairs": pairs, "median_ratio": statistics.median(r["ratio"] for r in pairs),
                                "median_saved_fraction": 1 - statistics.median(r["ratio"] for r in pairs)}
    with tempfile.TemporaryDirectory() as d:
        net, what = convert_networks(Path(d), {"tiny"})["tiny"]
        out["network"] = {"preset": "tiny", **what}
        calls = [json.loads(_python(CALLS, str(net))) for _ in range(args.repeat)]
    out["fast_process"] = {"runs": calls, "median_first_over_second_call": statistics.median(
        c["first_call"] / c["second_call"] for c in calls), "median_import_tf_over_second_call": statistics.median(
        c["import_tf"] / c["second_call"] for c in calls)}
    out["load_average_after"] = os.getloadavg()
    from itnet_neuro.utils import write_json

    write_json(args.output, out)
    print(json.dumps({k: v for k, v in out["fast_process"].items() if k != "runs"}, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
