"""ANN vs SNN mIoU of every output over simulated ticks, for the shipped ItNet(s) — issue #4's measurement.

For each model (ReLU: ``itnet_small_shared.h5``; clip-floor-shift: ``itnet_small_shared_cfs.h5`` if
shipped) and each normalization setting, the model is converted (calibration: synthetic *train*
images, so the validation images are unseen), simulated with the project's ``fast`` simulator
(unrolled schedule) on the synthetic validation images, and every output's mIoU is decoded at grid
ticks in two windows:

* ``start``: spike counts from tick 1 (the simulator's default decoding);
* ``depth``: from the first tick at which the output's populations can receive input (its depth in
  ticks), so the latency of a deep output does not dilute its rate;
* ``late``: over the second half ``[max(depth, t/2), t]``, so the transient of the layers before it
  (which settle one after the other) is left out as well.

Also measured: the rate-level (steady-state) mIoU of the converted network, and the structural cost
of converting 2×2 max pooling (the shipped weights in a max-pooling ItNet: the pooling layers have no
weights) against average pooling.

    python benchmarks/bench_convert.py                 # full run (~15 min on 2 CPU cores)
    python benchmarks/bench_convert.py --quick         # 4 images, 128 ticks
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
RESOURCES = ROOT / "itnet_neuro" / "resources"
VOID = 11


def miou(labels, logits_nhwc, classes):
    from itnet_neuro.metrics import confusion_matrix, miou as _miou

    pred = np.asarray(logits_nhwc).argmax(-1)
    return float(_miou(confusion_matrix(labels, pred, classes, VOID))[0])


def decode_curves(net, res, labels, windows=("start", "depth", "late")):
    """mIoU per readout and grid tick from a SimResult's cumulative counts, for each window."""
    from itnet_neuro.convert.verify import _one_readout

    unet = net.unroll()
    depth = unet.depth()
    grid = [int(g) for g in res.grid]
    out = {}
    for r in unet.readouts:
        d = max(depth[t.population] for t in r.terms)
        curves = {}
        for w in windows:
            vals = []
            for gi, t in enumerate(grid):
                t0 = {"start": 0, "depth": d, "late": max(d, t // 2)}[w]
                if t <= t0 or (t0 > 0 and t0 not in grid):
                    vals.append(None)
                    continue
                decoded = {}
                for term in r.terms:
                    c = res.counts[term.population]
                    base = c[:, grid.index(t0)] if t0 > 0 else 0
                    rate = (c[:, gi].astype(np.float64) - base) / float(t - t0)
                    pop = unet.population(term.population)
                    decoded[term.population] = np.transpose(rate, (0, 2, 3, 1)).astype(np.float32) * pop.decode_scale[0]
                vals.append(miou(labels, _one_readout(r, decoded), r.classes))
            curves[w] = vals
        out[r.name] = {"depth_ticks": d, **curves}
    return out


def run_model(path: Path, settings, images, labels, cal, ticks, grid):
    from itnet_neuro.convert import convert_model
    from itnet_neuro.convert.verify import rate_forward
    from itnet_neuro.sim import simulate

    entries = []
    for pct, per_channel in settings:
        t0 = time.perf_counter()
        res = convert_model(path, calibration=cal, percentile=pct, per_channel=per_channel)
        net = res.network
        ann = res.model.predict(images, verbose=0, batch_size=8)
        ann = ann if isinstance(ann, list) else [ann]
        classes = net.readouts[0].classes
        ann_miou = [miou(labels, a, classes) for a in ann]
        _, rate_logits = rate_forward(net, images)
        rate_miou = [miou(labels, lg, classes) for lg in rate_logits]
        depth = net.unroll().depth()
        ro_depths = sorted({max(depth[t.population] for t in r.terms) for r in net.unroll().readouts})
        g = sorted(set(grid) | set(ro_depths) | {t // 2 for t in grid if t >= 2})
        x = np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))
        t1 = time.perf_counter()
        sim = simulate(net, x, ticks, backend="fast", grid=g)
        t2 = time.perf_counter()
        curves = decode_curves(net, sim, labels)
        rows = []
        for k, r in enumerate(net.unroll().readouts):
            c = curves[r.name]
            rows.append({"output": r.name, "ann_miou": ann_miou[k], "rate_miou": rate_miou[k],
                         "depth_ticks": c["depth_ticks"], "snn_miou_start": c["start"], "snn_miou_depth": c["depth"],
                         "snn_miou_late": c["late"]})
        entries.append({"percentile": pct, "per_channel": per_channel, "grid": g, "outputs": rows,
                        "neurons": net.n_neurons, "synapses": net.n_synapses,
                        "convert_seconds": round(t1 - t0, 1), "simulate_seconds": round(t2 - t1, 1)})
        print(f"{path.name} p={pct} per_channel={per_channel}: sim {t2 - t1:.0f} s", flush=True)
        for row in rows:
            last = row["snn_miou_depth"][-1]
            print(f"  {row['output']}: ANN {row['ann_miou']:.4f} rate {row['rate_miou']:.4f} "
                  f"SNN@{ticks} windows: depth {last:.4f} start {row['snn_miou_start'][-1]:.4f} "
                  f"late {row['snn_miou_late'][-1]:.4f}", flush=True)
    return entries


def first_within(entry, window, points=1.0):
    """Per output: the first grid tick from which SNN mIoU stays within ``points`` of the ANN."""
    out = {}
    for row in entry["outputs"]:
        curve = row[f"snn_miou_{window}"]
        target = row["ann_miou"] - points / 100.0
        tick = None
        for t, v in zip(entry["grid"], curve):
            if v is not None and v >= target:
                if tick is None:
                    tick = t
            else:
                tick = None
        out[row["output"]] = tick
    return out


def maxpool_cost(images, labels, cal, ticks=0):
    """Structure and fidelity of converting the shipped weights with 2×2 max pooling instead of average.

    The shipped model was trained with average pooling; its weights in a max-pooling ItNet give a
    different (worse) ANN, so what matters is the SNN's gap to *its own* ANN, at rate level and, with
    ``ticks > 0``, spiking (``late`` window).
    """
    from itnet_neuro.convert import convert_model
    from itnet_neuro.convert.verify import rate_forward
    from itnet_neuro.model import build_itnet, load_itnet
    from itnet_neuro.sim import simulate

    base, cfg = load_itnet(RESOURCES / "itnet_small_shared.h5")
    out = {}
    for pooling in ("avg", "max"):
        m = build_itnet(cfg.replace(pooling=pooling))
        m.set_weights(base.get_weights())
        res = convert_model(m, calibration=cal, itnet_config=cfg.replace(pooling=pooling))
        net = res.network
        ann = res.model.predict(images, verbose=0, batch_size=8)
        _, rl = rate_forward(net, images)
        classes = net.readouts[0].classes
        data_pops = [p for p in net.populations if p.name.startswith("data_")]
        depth = net.depth()
        out[pooling] = {"populations": len(net.populations), "neurons": net.n_neurons, "synapses": net.n_synapses,
                        "data_block_neurons": sum(p.size for p in data_pops),
                        "data_block_depth_ticks": max(depth[p.name] for p in data_pops),
                        "ann_miou": [miou(labels, a, classes) for a in ann],
                        "rate_miou": [miou(labels, a, classes) for a in rl],
                        "verify_worst_rel_error": res.verify(images[:4]).worst.rel_error}
        if ticks:
            grid = sorted({t for t in (32, 64, 128, 256, 512) if t <= ticks} | {ticks})
            ro_depths = {max(depth[t.population] for t in r.terms) for r in net.unroll().readouts}
            g = sorted(set(grid) | ro_depths | {t // 2 for t in grid})
            x = np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))
            curves = decode_curves(net, simulate(net, x, ticks, backend="fast", grid=g), labels)
            out[pooling]["grid"] = g
            out[pooling]["snn_miou_late"] = [curves[r.name]["late"] for r in net.unroll().readouts]
            out[pooling]["readout_depth_ticks"] = [curves[r.name]["depth_ticks"] for r in net.unroll().readouts]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--ticks", type=int, default=256)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--settings", default="99.9:layer,99.9:channel,99.99:channel,99:channel",
                    help="comma list of PERCENTILE:layer|channel")
    ap.add_argument("--skip-maxpool", action="store_true")
    ap.add_argument("--only-maxpool", action="store_true", help="only the max-pooling cost, with spiking runs")
    ap.add_argument("--out", default=str(RESULTS / "convert.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.ticks = 4, 128
    from itnet_neuro.data.synthetic import load_split

    images, labels = load_split("val", args.images, 96, 128)
    cal, _ = load_split("train", 32, 96, 128)
    settings = [(float(s.split(":")[0]), s.split(":")[1] == "channel") for s in args.settings.split(",")]
    grid = sorted({t for t in (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512) if t <= args.ticks} | {args.ticks})
    result = {"command": "python benchmarks/bench_convert.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "images": args.images, "ticks": args.ticks, "calibration": "synthetic train split, 32 images",
              "evaluation": "synthetic val split", "simulator": "itnet_neuro.sim fast backend, unrolled schedule",
              "models": {}}
    if args.only_maxpool:
        result["maxpool_cost"] = maxpool_cost(images, labels, cal, ticks=args.ticks)
        _write(result, args.out)
        print(f"wrote {args.out}")
        return 0
    for name in ("itnet_small_shared.h5", "itnet_small_shared_cfs.h5"):
        path = RESOURCES / name
        if not path.is_file():
            result["models"][name] = "not shipped"
            continue
        sets = settings if "cfs" not in name else [settings[0]]
        entries = run_model(path, sets, images, labels, cal, args.ticks, grid)
        for e in entries:
            e["first_tick_within_1_point"] = {w: first_within(e, w) for w in ("start", "depth", "late")}
        result["models"][name] = entries
        _write(result, args.out)
    if not args.skip_maxpool:  # the maxpool cost needs no simulation
        result["maxpool_cost"] = maxpool_cost(images, labels, cal)
    _write(result, args.out)
    _plot(result, Path(args.out).with_suffix(".png"))
    print(f"wrote {args.out}")
    return 0


def _write(result, path):
    from itnet_neuro.utils import write_json

    write_json(path, result)


def _plot(result, path):
    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt

    models = {k: v for k, v in result["models"].items() if isinstance(v, list)}
    if not models:
        return
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), squeeze=False)
    for ax, (name, entries) in zip(axes[0], models.items()):
        e = entries[0]
        for i, row in enumerate(e["outputs"]):
            color = plt.cm.viridis(i / max(len(e["outputs"]) - 1, 1))
            for key, ls in (("snn_miou_late", "-"), ("snn_miou_depth", "--")):
                if key in row:
                    ys = [np.nan if v is None else v for v in row[key]]
                    ax.plot(e["grid"], ys, color=color, ls=ls,
                            label=f"{row['output']} SNN" if ls == "-" or "snn_miou_late" not in row else None)
            ax.axhline(row["ann_miou"], color=color, ls=":", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ticks")
        ax.set_ylabel("mIoU (synthetic val)")
        ax.set_title(f"{name}: p={e['percentile']}, {'per channel' if e['per_channel'] else 'per layer'}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("SNN mIoU decoded over [max(depth, t/2), t] (solid) and [depth, t] (dashed); ANN dotted",
                 fontsize=9)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
