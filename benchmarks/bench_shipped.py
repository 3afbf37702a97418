"""The shipped model on the chips of ``make demo``: the figures of the README's demo and compare tables.

What ``itnet-neuro demo`` runs, with one conversion of the shipped model shared by every run
(``run_experiment(network=…, ann_model=…)`` is what ``itnet-neuro simulate MODEL`` does after converting):

* 8 synthetic test images, 256 ticks, unrolled, fast backend, chip seed 0: the ideal IF chip (no chip),
  TrueNorth and BrainScaleS-2 device effects (quantization, mismatch, noise, tick; fitting or not);
* the Loihi allocation (``plan(net, "loihi", "auto")``, written and read back as ``alloc.json``) with its
  looped schedule and phase length;
* the ideal chip looped with 100- and 200-tick phases (the phase-length comparison in the README);
* ``compare``: the allocation on every packaged chip (the README's compare table).

    nice -n 15 python benchmarks/bench_shipped.py     # writes benchmarks/results/simulate_shipped.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

IMAGES, TICKS = 8, 256


def _slim(results: dict) -> dict:
    """A results dict without its per-tick curves (kept: every figure the README reads)."""
    out = {k: v for k, v in results.items() if k not in ("grid",)}
    out["outputs"] = [{k: v for k, v in o.items() if k not in ("miou_over_time", "predictions")}
                      for o in results["outputs"]]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default=str(HERE / "results" / "simulate_shipped.json"))
    args = p.parse_args(argv)

    from hardware_models import list_chips
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.sim.experiment import run_experiment
    from itnet_neuro.utils import write_json
    from mapping import allocfile
    from mapping.allocate import plan
    from mapping.compare import compare

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    conv = convert_model(SHIPPED_MODEL)
    net = conv.network
    common = dict(network=net, ann_model=conv.model, images=IMAGES, data="synthetic", split="test")
    runs = {}
    for chip in (None, "truenorth", "brainscales2"):
        print(f"simulating on {chip or 'the ideal IF chip'} …", flush=True)
        runs[chip or "ideal"] = _slim(run_experiment(chip=chip, ticks=TICKS, **common))
    with tempfile.TemporaryDirectory() as d:
        alloc_path = Path(d) / "alloc_loihi.json"
        alloc = plan(net, "loihi", "auto")
        allocfile.write(alloc, alloc_path)
        print("simulating the loihi allocation …", flush=True)
        runs["loihi_allocation"] = _slim(run_experiment(alloc=str(alloc_path), ticks=TICKS, **common))
        runs["loihi_allocation"]["allocation"] = {"schedule": alloc.schedule, "cores": alloc.cores_used,
                                                  "phase_ticks": alloc.phase_ticks}
    for phase in (100, 200):
        print(f"simulating the ideal chip looped, {phase}-tick phases …", flush=True)
        runs[f"ideal_looped_{phase}"] = _slim(run_experiment(chip="ideal", schedule="looped", phase_ticks=phase,
                                                             ticks=TICKS, **common))
    rows = compare(net, list_chips(), schedule="auto")
    out = {"command": "python benchmarks/bench_shipped.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
           "model": "itnet_neuro/resources/itnet_small_shared.h5 (shipped)",
           "data": f"synthetic test split, {IMAGES} images", "ticks": TICKS,
           "note": "fast backend, unrolled unless said, chip seed 0, input seed 0; ANN = the Keras model",
           "started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
           "load_average_after": list(os.getloadavg()),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                       "shared": "yes (other agents' jobs); no timing figure of this file is used in the README"},
           "runs": runs, "compare": rows}
    write_json(args.output, out)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
