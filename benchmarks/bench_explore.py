"""The shipped ItNet over every packaged chip × both schedules × 3 phase lengths (``itnet-neuro explore``),
and the sweep engine's wall time, serial against a local Dask cluster.

1. **Sweep** (run niced, ``--nice``): every packaged chip × looped, unrolled × ``--phase-ticks`` on
   ``--images`` synthetic test images, on a local cluster of ``--workers`` worker processes. TrueNorth
   is allocated but not simulated by default (``--allocate-only``): realizing its per-core axon types
   (:func:`mapping.axon_types.fit_types`) takes 16–24 min on this model, alone. Its resumable results
   file lives in ``--work``; a killed run picks up where it stopped.
   Writes ``benchmarks/results/explore.json`` (the table, conditions), ``explore.csv`` and the Pareto
   fronts ``docs/explore_{cores,energy,latency}.png``.
2. **Timing** (``--timing``; un-niced, the load average before and after each run recorded): a
   sub-sweep (``--timing-chips`` × both schedules × one phase length) from a cold results file but the
   warm allocation cache, once serially in this process and once on a fresh local cluster (its start-up
   included). Writes ``benchmarks/results/explore_timing.json``.

    python benchmarks/bench_explore.py                      # the full sweep
    python benchmarks/bench_explore.py --timing             # serial against a local cluster
    python benchmarks/bench_explore.py --images 1 --chips ideal,loihi --phase-ticks 8 --out /tmp/e.json
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import finish, header  # noqa: E402

TRUENORTH_REASON = ("not simulated: realizing TrueNorth's per-core axon types (mapping.axon_types.fit_types) takes "
                    "16-24 min on this model on one core, beyond this benchmark's budget; allocated only")


def _args(argv):
    from hardware_models import list_chips

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", default=",".join(list_chips()))
    p.add_argument("--phase-ticks", default="8,16,32")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--allocate-only", action="append", default=None, metavar="CHIP[|SCHEDULE][=REASON]",
                   help="a chip (or one schedule of it) allocated but not simulated, with the reason (default: "
                        "truenorth, see above)")
    p.add_argument("--timing", action="store_true", help="time the engines on a sub-sweep instead")
    p.add_argument("--timing-chips", default="ideal,dynapcnn,brainscales2")
    p.add_argument("--timing-phase", default="16")
    p.add_argument("--timing-out", default=str(HERE / "results" / "explore_timing.json"))
    p.add_argument("--nice", type=int, default=15, help="niceness of the sweep (not of the timing runs)")
    p.add_argument("--work", default=str(Path.home() / ".cache" / "itnet-neuro" / "bench_explore"))
    p.add_argument("--out", default=str(HERE / "results" / "explore.json"))
    p.add_argument("--plots", default=str(ROOT / "docs" / "explore"), help="PNG prefix ('' to skip)")
    return p.parse_args(argv)


def _sweep(args, chips, phases, images):
    from itnet_neuro.explore import make_sweep

    only = {}
    for item in ["truenorth"] if args.allocate_only is None else args.allocate_only:
        chip, _, why = item.partition("=")
        if chip.partition("|")[0] in chips:
            only[chip] = why or (TRUENORTH_REASON if chip == "truenorth" else "--allocate-only")
    return make_sweep(chips, ["looped", "unrolled"], phases, "bench_explore", images=images, allocate_only=only)


def _timed(sweep, prefix, scheduler, workers, cache) -> dict:
    from itnet_neuro.explore import explore

    load = list(os.getloadavg())
    t0 = time.perf_counter()
    table = explore(sweep, prefix, scheduler=scheduler, workers=workers, cache=cache, fresh=True, plots=False)
    return {"engine": table["engine"], "workers": table["workers"], "points": table["points"],
            "wall_seconds": round(time.perf_counter() - t0, 1), "load_average_before": load,
            "load_average_after": list(os.getloadavg()),
            "statuses": [r["status"] for r in table["rows"]]}


def main(argv=None) -> int:
    args = _args(argv)
    doc = header("python benchmarks/bench_explore.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    work = Path(args.work)
    if args.timing:
        return _timing(args, doc, work)
    from itnet_neuro.explore import explore
    from itnet_neuro.explore.report import format_table, plot_fronts, to_csv
    from itnet_neuro.utils import atomic_path

    sweep = _sweep(args, args.chips.split(","), args.phase_ticks.split(","), args.images)
    os.nice(args.nice)
    t0 = time.perf_counter()
    table = explore(sweep, work / "sweep", scheduler="local", workers=args.workers, cache=work / "cache", plots=False)
    doc["sweep"] = {"model": "itnet_neuro/resources/itnet_small_shared.h5 (shipped, converted with the defaults)",
                    "data": "synthetic test split", "backend": "fast", "niceness": args.nice,
                    "wall_seconds_this_run": round(time.perf_counter() - t0, 1), **table}
    print(format_table(table["rows"]))
    if args.plots:
        doc["plots"] = [str(Path(p).relative_to(ROOT)) if Path(p).is_relative_to(ROOT) else str(p) for p in
                        plot_fronts(table["rows"], args.plots, f"shipped ItNet, {args.images} synthetic images, "
                                                               f"phases {args.phase_ticks} ticks")]
    with atomic_path(Path(args.out).with_suffix(".csv")) as tmp:
        tmp.write_text(to_csv(table["rows"]))
    finish(doc, args.out)
    print(f"wrote {args.out}")
    return 0


def _timing(args, doc: dict, work: Path) -> int:
    """Serial against a local cluster on the sub-sweep (allocations from the full sweep's cache)."""
    sub = _sweep(args, args.timing_chips.split(","), [args.timing_phase], args.images)
    doc.update(what="sub-sweep from a cold results file, warm allocation cache; cluster start-up included",
               chips=list(sub.chips), phase_ticks=args.timing_phase, images=args.images, niceness=os.nice(0),
               serial=_timed(sub, work / "timing_serial", "serial", None, work / "cache"),
               local_cluster=_timed(sub, work / "timing_cluster", "local", args.workers, work / "cache"))
    finish(doc, args.timing_out)
    print(f"serial {doc['serial']['wall_seconds']} s, local cluster {doc['local_cluster']['wall_seconds']} s; "
          f"wrote {args.timing_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
