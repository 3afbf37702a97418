"""The shipped model on the chips whose neurons take too few inputs for it: fan-in splitting (issue 12 §1).

For each chip (default: TrueNorth and BrainScaleS-2): ``itnet-neuro allocate`` on the shipped model
(exit code, cores, chips, lower bound, ratio, the split per layer, the latency the relays add), then
the mIoU of every output after ``--ticks`` ticks on ``--images`` synthetic test images, three ways:

* ``ideal``: the unsplit network, no chip effects (the reference);
* ``ideal_split``: the split network the allocation recorded, no chip effects — the accuracy cost
  of the relays alone;
* ``chip``: ``simulate --alloc`` — the split network realized core by core as the allocation placed it
  (:func:`mapping.realize.realize`: each core's integer weights, thresholds and biases; TrueNorth's axon
  types) with the chip's neuron, mismatch and noise on top (``--ignore-limits`` where the allocation is
  still infeasible, which the row says).

The looped schedule gives each output ``--ticks`` ticks of its own phase (``--phase-ticks`` = ``--ticks``).
``--multichip`` adds a variant of each chip TOML without its chip-count limit (``chip.max_chips``),
for chips where only that limit is left (BrainScaleS-2: one chip of 512 neurons).

    python benchmarks/bench_fanin.py --chips truenorth   # -> benchmarks/results/fanin_truenorth.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
CACHE = Path(tempfile.gettempdir()) / "itnet-neuro-bench"


def allocate(model: Path, chip: str, out: Path, ticks: int) -> dict:
    """Run ``itnet-neuro allocate`` and summarize alloc.json."""
    from itnet_neuro.cli import main
    from mapping import allocfile

    start = time.perf_counter()
    code = main(["allocate", str(model), "--chip", chip, "-o", str(out), "--plot", "none",
                 "--phase-ticks", str(ticks)])
    a = allocfile.read_header(out)
    split = a.split
    return {"exit_code": code, "seconds": round(time.perf_counter() - start, 2), "schedule": a.schedule,
            "feasible": a.feasible, "cores": a.cores_used, "chips": a.chips_used, "lower_bound": a.lower_bound,
            "ratio": a.ratio_to_lower_bound, "violations": [str(v) for v in a.violations],
            "traffic": {k: a.placement.get(k) for k in ("spikes", "inter_chip_spikes", "spike_hops", "rates")},
            "split": None if split is None else {
                "mode": split.mode, "levels": split.levels, "relays": len(split.relays),
                "relay_neurons": sum(n["relay_neurons"] for n in split.nodes),
                "extra_ticks": split.extra_ticks, "calibration": split.calibration,
                "layers": [{k: n[k] for k in ("population", "iteration", "channels", "level", "need_before",
                                              "need_after", "relay_neurons")} | {"relays": len(n["relays"])}
                           for n in split.nodes],
                "unsplit": list(split.unsplit)}}


def simulate(net, alloc_path: Path, schedule: str, images: int, ticks: int, ignore: bool) -> dict:
    from mapping import allocfile
    from mapping.split import apply_record
    from itnet_neuro.sim.experiment import run_experiment

    record = allocfile.read_header(alloc_path).split
    phase = ticks if schedule == "looped" else None
    out = {}
    runs = {"ideal": dict(network=net), "ideal_split": dict(network=apply_record(net, record) if record else net),
            "chip": dict(network=net, alloc=str(alloc_path), ignore_limits=ignore)}
    for name, kw in runs.items():
        start = time.perf_counter()
        r = run_experiment(images=images, ticks=ticks, schedule=schedule, phase_ticks=phase,
                           keep_predictions=False, **kw)
        out[name] = {"snn_miou": [round(o["snn_miou"], 4) for o in r["outputs"]],
                     "ann_miou": [round(o["ann_miou"], 4) for o in r["outputs"]],
                     "first_output_tick": [o["first_output_tick"] for o in r["outputs"]],
                     "seconds": round(time.perf_counter() - start, 1)}
        if name == "chip":
            out[name]["clipped"] = r.get("clipped")
            out[name]["ignore_limits"] = r["ignore_limits"]
        print(f"  {name:12s} mIoU {out[name]['snn_miou']}", flush=True)
    return out


def multichip_toml(chip: str, folder: Path) -> Path:
    """The packaged TOML of ``chip`` without its chip-count limit (a hypothetical multi-chip system)."""
    import re

    from hardware_models.spec import PACKAGED_CHIPS_DIR

    text = (PACKAGED_CHIPS_DIR / f"{chip}.toml").read_text()
    text = re.sub(r'^name = "([^"]+)"', r'name = "\1-multichip"', text, count=1, flags=re.M)
    text = re.sub(r"^max_chips = .*$", 'max_chips = "none"', text, count=1, flags=re.M)
    text = re.sub(r"^max_chips_(uncertain|note|source) = .*\n", "", text, flags=re.M)
    text = text.replace('max_chips = "none"', 'max_chips = "none"\nmax_chips_source = '
                        '"bench_fanin.py --multichip: the chip-count limit removed (hypothetical)"', 1)
    path = folder / f"{chip}-multichip.toml"
    path.write_text(text)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", default="truenorth,brainscales2")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--ticks", type=int, default=256)
    parser.add_argument("--multichip", action="store_true", help="also each chip without its chip-count limit")
    parser.add_argument("--no-simulate", action="store_true")
    parser.add_argument("--output", help="default: benchmarks/results/fanin_<chip>.json for one chip, else fanin.json")
    args = parser.parse_args(argv)
    if args.output is None:
        one = "," not in args.chips and not args.multichip
        args.output = str(RESULTS / (f"fanin_{Path(args.chips).stem}.json" if one else "fanin.json"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from itnet_neuro.cli.allocate import load_model_network
    from itnet_neuro.ir import save_network
    from itnet_neuro.utils import write_json

    CACHE.mkdir(parents=True, exist_ok=True)
    net = load_model_network(None, CACHE)
    model = save_network(net, CACHE / "shipped.snn.h5")
    work = Path(tempfile.mkdtemp(prefix="bench-fanin-"))
    chips = args.chips.split(",")
    if args.multichip:
        chips += [str(multichip_toml(c, work)) for c in list(chips)]
    results = {"command": "python benchmarks/bench_fanin.py" + ("" if not (argv or sys.argv[1:])
                                                                 else " " + " ".join(argv or sys.argv[1:])),
               "model": "itnet_neuro/resources/itnet_small_shared.h5", "images": args.images, "ticks": args.ticks,
               "hardware_apply": "per-core realization from the allocation (mapping.realize: each core's integer "
                                 "weights, thresholds, biases) + the chip's neuron (reset, leak, ranges), mismatch "
                                 "and noise", "chips": {}}
    for chip in chips:
        name = Path(chip).stem
        out = work / f"{name}.json"
        row = allocate(model, chip, out, args.ticks)
        print(f"{name}: exit {row['exit_code']}, {row['cores']:,} cores on {row['chips']:,} chip(s), bound "
              f"{row['lower_bound']:,} ({row['ratio']:.2f}×), +{(row['split'] or {}).get('extra_ticks', {}).get('max', 0)}"
              " ticks", flush=True)
        if not args.no_simulate:
            row["miou"] = simulate(net, out, row["schedule"], args.images, args.ticks, not row["feasible"])
        results["chips"][name] = row
        write_json(args.output, results)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
