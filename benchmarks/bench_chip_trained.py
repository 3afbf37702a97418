"""The TrueNorth-trained ItNet (issue 13) beside the float shipped model: fit, cores, mIoU per output.

For each model (``--models``, default the two shipped ones):

1. Keras mIoU per output on the synthetic validation split the models were trained against
   (``--n-val`` images, seed 0; the chip-trained model's forward pass is its chip's weight grid);
2. ``allocate --chip truenorth --no-split`` (unrolled): feasible, cores, the lower bound and the ratio;
3. for a feasible allocation, ``simulate --alloc`` with the per-core realization (TrueNorth's axon
   types, 4 signed 9-bit weights per neuron, thresholds and leaks in range) at ``--ticks`` ticks on
   ``--images`` synthetic test images, beside the ideal chip (no realization) on the same images, and
   the Keras mIoU on those images (``ann_miou``). TrueNorth's per-core type fitting
   (``mapping.axon_types.fit_types``) dominates the time, so few images are used.

Writes ``benchmarks/results/chip_trained.json``::

    nice -n 15 python benchmarks/bench_chip_trained.py                 # 4 images, 256 ticks
    nice -n 15 python benchmarks/bench_chip_trained.py --images 2 --out /tmp/ct.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from common import finish, header  # noqa: E402

RESOURCES = ROOT / "itnet_neuro" / "resources"
DEFAULT_MODELS = (str(RESOURCES / "itnet_small_shared.h5"), str(RESOURCES / "itnet_small_truenorth.h5"))


def _rounded(values) -> list:
    return [None if v is None else round(float(v), 5) for v in values]


def keras_miou(model, config, n_val: int) -> list[float]:
    """mIoU per output on the synthetic validation split (train_shipped_model.py's data)."""
    from itnet_neuro.train import evaluate_miou, load_data

    _, (xv, yv), void = load_data("synthetic", config, n_train=1, n_val=n_val, seed=0)
    return _rounded(evaluate_miou(model, xv, yv, config.num_classes, void)[0])


def allocation(net, chip: str, path: Path) -> dict:
    from mapping import allocfile
    from mapping.allocate import plan

    t0 = time.perf_counter()
    a = plan(net, chip, "unrolled", split=False)
    allocfile.write(a, path)
    return {"chip": chip, "split": False, "feasible": a.feasible, "schedule": a.schedule, "cores": a.cores_used,
            "chips": a.chips_used, "lower_bound": a.lower_bound,
            "ratio_to_bound": round(a.cores_used / a.lower_bound, 3) if a.lower_bound else None,
            "n_violations": len(a.violations), "violations": [str(v) for v in a.violations[:3]],
            "seconds": round(time.perf_counter() - t0, 2)}


def simulated(conv, args, alloc_path: Path | None) -> dict:
    from itnet_neuro.sim.experiment import run_experiment

    t0 = time.perf_counter()
    res = run_experiment(network=conv.network, ann_model=conv.model, alloc=None if alloc_path is None else
                         str(alloc_path), images=args.images, ticks=args.ticks, keep_predictions=False)
    outs = res["outputs"]
    return {"snn_miou": _rounded(o["snn_miou"] for o in outs), "ann_miou": _rounded(o["ann_miou"] for o in outs),
            "ticks_to_90": [o.get("ticks_to_90") for o in outs],
            "first_output_tick": [o["first_output_tick"] for o in outs],
            "energy_joules_per_image": res.get("energy_joules"), "clipped": res.get("clipped"),
            "weight_rms_error": res.get("weight_rms_error"), "wall_seconds": round(time.perf_counter() - t0, 1)}


def run_model(path: str, args, tmp: Path, save) -> dict:
    from itnet_neuro.convert import convert_model
    from itnet_neuro.model.io import load_itnet

    model, config = load_itnet(path)
    row = {"model": str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT) else path,
           "trained_for": {"chip": config.chip, "ticks": config.ticks},
           "conv_groups": dict(config.conv_groups or ()), "width": config.width, "params": int(model.count_params())}
    print(f"== {row['model']}: Keras mIoU on {args.n_val} validation images", flush=True)
    row["keras_val_miou"] = keras_miou(model, config, args.n_val)
    conv = convert_model(path)
    alloc_path = tmp / f"alloc_{Path(path).stem}.json"
    print("   allocate --chip truenorth --no-split", flush=True)
    row["allocation"] = allocation(conv.network, "truenorth", alloc_path)
    row["conversion"] = {"per_channel_decode_scales": bool(conv.network.metadata.get("per_channel"))}
    save(row)
    if row["allocation"]["feasible"] or args.force_realize:
        print("   simulate on the ideal chip", flush=True)
        row["ideal"] = simulated(conv, args, None)
        save(row)
        print(f"   simulate --alloc ({args.images} images, {args.ticks} ticks)", flush=True)
        row["realized"] = simulated(conv, args, alloc_path)
        save(row)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--images", type=int, default=4, help="synthetic test images simulated (default 4)")
    p.add_argument("--ticks", type=int, default=256)
    p.add_argument("--n-val", type=int, default=100, help="validation images for the Keras mIoU")
    p.add_argument("--force-realize", action="store_true", help="simulate infeasible allocations too")
    p.add_argument("--out", default=str(HERE / "results" / "chip_trained.json"))
    args = p.parse_args(argv)
    doc = header("python benchmarks/bench_chip_trained.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    doc.update({"data": "synthetic: Keras mIoU on the validation split (seed 0), simulation on the test split",
                "images": args.images, "ticks": args.ticks, "n_val": args.n_val, "backend": "fast",
                "schedule": "unrolled", "runs": []})
    def save(row):  # the file is rewritten after every stage: a long run keeps what it finished
        doc["runs"] = [r for r in doc["runs"] if r is not row] + [row]
        finish(doc, args.out)

    with tempfile.TemporaryDirectory() as tmp:
        for path in args.models:
            run_model(path, args, Path(tmp), save)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
