"""The shipped model on every chip model: the allocation realized (``simulate --alloc``) beside the old
device effects by chip name (``simulate --chip``: per-connection quantization, no allocation).

For each chip: ``allocate`` (schedule ``--schedule``, default unrolled so every chip runs the same
network), then ``simulate --alloc`` of that allocation (its cores' realized weights, the chip's neuron,
every clip counted; an infeasible allocation runs with ``--ignore-limits`` and is marked so), and
``simulate --chip`` without an allocation. One conversion, the same synthetic test images and ticks for
every run. Writes ``benchmarks/results/chips.json``; ``scripts/readme_chip_table.py`` turns it into the
README's chip table.

    python benchmarks/bench_chips.py                       # 8 images, 256 ticks, the four chips below
    python benchmarks/bench_chips.py --images 2 --ticks 64 --chips loihi --out /tmp/chips.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CHIPS = ("ideal", "loihi", "spinnaker2", "brainscales2", "truenorth")


def _outputs(res: dict) -> dict:
    """The per-output figures kept in the results file (mIoU, ANN mIoU, latency)."""
    return {"snn_miou": [o["snn_miou"] for o in res["outputs"]],
            "ann_miou": [o["ann_miou"] for o in res["outputs"]],
            "first_output_tick": [o["first_output_tick"] for o in res["outputs"]],
            "ticks_to_90": [o.get("ticks_to_90") for o in res["outputs"]]}


def _allocation(net, chip: str, schedule: str, path: Path) -> dict:
    from mapping import allocfile
    from mapping.allocate import plan

    a = plan(net, chip, schedule)
    allocfile.write(a, path)
    return {"feasible": a.feasible, "schedule": a.schedule, "cores": a.cores_used, "chips": a.chips_used,
            "lower_bound": a.lower_bound, "violations": [str(v) for v in a.violations[:3]],
            "n_violations": len(a.violations)}


def run_chip(chip: str, conv, args, tmp: Path) -> dict:
    """One chip: its allocation realized, and the by-name device effects."""
    from itnet_neuro.sim.experiment import run_experiment

    common = dict(network=conv.network, ann_model=conv.model, images=args.images, ticks=args.ticks,
                  keep_predictions=False)
    row = {"chip": chip}
    path = tmp / f"alloc_{chip}.json"
    row["allocation"] = _allocation(conv.network, chip, args.schedule, path)
    t0 = time.perf_counter()
    res = run_experiment(alloc=str(path), ignore_limits=not row["allocation"]["feasible"], **common)
    row["realized"] = {**_outputs(res), "clipped": res.get("clipped"), "ignore_limits": res["ignore_limits"],
                       "schedule": res["schedule"], "wall_seconds": round(time.perf_counter() - t0, 1)}
    if chip != "ideal":
        res = run_experiment(chip=chip, **common)
        row["by_name"] = {**_outputs(res), "clipped": res.get("clipped"), "schedule": res["schedule"]}
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", nargs="+", default=list(DEFAULT_CHIPS))
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--ticks", type=int, default=256)
    p.add_argument("--schedule", default="unrolled", choices=["unrolled", "looped", "auto"])
    p.add_argument("--out", default=str(HERE / "results" / "chips.json"))
    args = p.parse_args(argv)
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.utils import write_json

    conv = convert_model(SHIPPED_MODEL)
    doc = {"command": "python benchmarks/bench_chips.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "model": "itnet_neuro/resources/itnet_small_shared.h5 (shipped, converted with the defaults)",
           "data": "synthetic test split", "images": args.images, "ticks": args.ticks, "schedule": args.schedule,
           "backend": "fast", "machine": platform.processor() or platform.machine(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for chip in args.chips:  # the file is rewritten after every chip: a long run keeps what it finished
            print(f"== {chip}", flush=True)
            doc["runs"].append(run_chip(chip, conv, args, Path(tmp)))
            write_json(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
