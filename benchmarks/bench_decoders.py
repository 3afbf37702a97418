"""Decoders compared on the shipped models: which spike-count → rate estimate gives the best anytime mIoU.

A readout turns its populations' spike counts into rates (:class:`itnet_neuro.sim.metrics.Decoder`). The
start-up transient — zero rates until input arrives, then layers settling one after another — stays in
a cumulative count forever; the other decoders forget it in different ways. Each run below is simulated
once (fast backend, 8 synthetic test images, every tick on the grid, so the exponential filter is exact)
and decoded with every decoder:

* ``shipped-ideal``: the shipped model (``itnet_small_shared.h5``) on the ideal chip, unrolled, 256 ticks;
* ``cfs-ideal``: the clip-floor-shift shipped model (``itnet_small_shared_cfs.h5``), same;
* ``shipped-loihi-looped``: the shipped model on Loihi, looped with the regenerating state buffer,
  6 phases of 64 ticks.

Score of a decoder: the mean over runs and outputs of each output's *anytime mean mIoU* (its mIoU
averaged over the report ticks at which it exists — the area under its anytime curve per tick). The
default decoder (:data:`itnet_neuro.sim.metrics.DEFAULT_DECODER`) is the highest score; a test keeps the
two in step.

    nice -n 5 python benchmarks/bench_decoders.py      # writes benchmarks/results/decoders.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DECODERS = ["cumulative", "from-depth", "late:0.125", "late:0.25", "late:0.5", "late:0.75", "sliding:8", "sliding:16",
            "sliding:32", "sliding:64", "exponential:8", "exponential:16", "exponential:32"]
RUNS = {
    "shipped-ideal": dict(model="itnet_small_shared.h5", chip="ideal", schedule="unrolled", ticks=256),
    "cfs-ideal": dict(model="itnet_small_shared_cfs.h5", chip="ideal", schedule="unrolled", ticks=256),
    "shipped-loihi-looped": dict(model="itnet_small_shared.h5", chip="loihi", schedule="looped", ticks=6 * 64,
                                 phase_ticks=64, state_buffer="regenerate"),
}


def report_grid(total: int, phase: int | None) -> np.ndarray:
    """Every tick up to 16, then every 4th; plus every phase end."""
    g = set(range(1, min(16, total) + 1)) | set(range(16, total + 1, 4)) | {total}
    if phase:
        g |= set(range(phase, total + 1, phase))
    return np.array(sorted(g))


def run_one(name: str, cfg: dict, images: int) -> dict:
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import ann_logits, load_images, load_model
    from itnet_neuro.sim.hardware import Hardware
    from itnet_neuro.sim.metrics import output_metrics

    net, keras_model, _ = load_model(Path(SHIPPED_MODEL).with_name(cfg["model"]))
    x, labels, void = load_images("synthetic", net, images)
    hw = Hardware.from_chip(cfg["chip"])
    total = cfg["ticks"]
    t0 = time.perf_counter()
    res = simulate(net, x, total, schedule=cfg["schedule"], phase_ticks=cfg.get("phase_ticks"),
                   grid=np.arange(1, total + 1), hardware=hw, state_buffer=cfg.get("state_buffer"))
    sim_seconds = time.perf_counter() - t0
    ann = ann_logits(net, keras_model, x)
    grid = report_grid(total, cfg.get("phase_ticks"))
    out = {**cfg, "images": images, "sim_seconds": round(sim_seconds, 1), "grid": grid.tolist(), "decoders": {}}
    for spec in DECODERS:
        t1 = time.perf_counter()
        outs = output_metrics(res, net, labels, ann, void, hw.tick_seconds, decoder=spec, report_grid=grid)
        out["ann_miou"] = [round(o["ann_miou"], 4) for o in outs]
        out["decoders"][spec] = _summary(outs, grid)
        print(f"{name} {spec:<15} anytime mean mIoU "
              + " ".join(f"{v:.3f}" for v in out["decoders"][spec]["anytime_mean_miou"])
              + f"  final gaps " + " ".join(f"{v:+.3f}" for v in out["decoders"][spec]["gap_final"])
              + f"  ({time.perf_counter() - t1:.0f} s)", flush=True)
    return out


def _summary(outs: list[dict], grid: np.ndarray) -> dict:
    curves = [np.array([np.nan if v is None else v for v in o["miou_over_time"]]) for o in outs]

    def gap_at(t):
        k = int(np.searchsorted(grid, t))
        return [None if np.isnan(c[k]) else round(float(c[k] - o["ann_miou"]), 4) for c, o in zip(curves, outs)]

    return {"anytime_mean_miou": [round(float(np.nanmean(c)), 4) for c in curves],
            "gap_final": gap_at(grid[-1]), "gap_at_64": gap_at(64), "gap_at_128": gap_at(128),
            "ticks_to_90": [o["ticks_to_90"] for o in outs], "ticks_to_99": [o["ticks_to_99"] for o in outs],
            "miou_over_time": [[None if np.isnan(v) else round(float(v), 4) for v in c] for c in curves]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "decoders.json"))
    args = ap.parse_args(argv)

    from common import finish, header

    doc = header("nice -n 5 python benchmarks/bench_decoders.py" + (" " + " ".join(argv) if argv else ""))
    doc |= {"decoders": DECODERS, "runs": {}}
    for name in args.runs:
        doc["runs"][name] = run_one(name, RUNS[name], args.images)
    score = {spec: round(float(np.mean([np.mean(r["decoders"][spec]["anytime_mean_miou"])
                                        for r in doc["runs"].values()])), 4) for spec in DECODERS}
    best = max(score, key=score.get)
    doc["score"] = score
    doc["chosen"] = {"spec": best, "criterion": "highest mean over runs and outputs of the anytime mean mIoU "
                                                "(mIoU averaged over the report ticks at which the output exists)"}
    finish(doc, args.output)
    print(f"chosen: {best} (score {score[best]:.4f}); wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
