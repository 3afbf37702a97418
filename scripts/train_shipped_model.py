#!/usr/bin/env python
"""Train the shipped ItNet (small, shared weights) on the synthetic data and write its report.

Writes (defaults)::

    itnet_neuro/resources/itnet_small_shared.h5     the model (Keras HDF5, config attribute)
    itnet_neuro/resources/itnet_small_shared.json   validation mIoU per output, config, command, history
    docs/anytime_miou.png                           mIoU per output (the anytime curve)
    docs/anytime_predictions.png                    one validation image: input, label, every output

Run from the repository root (``nice`` keeps a shared machine usable)::

    nice -n 10 .venv/bin/python scripts/train_shipped_model.py
    nice -n 10 .venv/bin/python scripts/train_shipped_model.py --activation clip_floor_shift \
        --name itnet_small_shared_cfs --no-plots

Training resumes after an interruption (checkpoint in ``runs/shipped/<name>.h5.ckpt``).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from itnet_neuro.model.config import ItNetConfig  # noqa: E402


def shipped_config(activation: str, width: int, iterations: int) -> ItNetConfig:
    """The shipped network: 96×128 input, L=3, K=1, shared weights, average pooling (converts exactly)."""
    return ItNetConfig(input_height=96, input_width=128, num_classes=11, scales=3, iterations=iterations,
                       bottleneck_blocks=1, width=width, expansion=6, shared=True, pooling="avg",
                       activation=activation, levels=8, dropout=0.0, l2=0.0, seed=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="itnet_small_shared", help="file stem in itnet_neuro/resources")
    p.add_argument("--activation", default="relu", choices=("relu", "clip_floor_shift"))
    p.add_argument("--width", type=int, default=16, help="f")
    p.add_argument("--iterations", type=int, default=6, help="N")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-val", type=int, default=100)
    p.add_argument("--no-plots", action="store_true", help="skip docs/anytime_*.png")
    args = p.parse_args(argv)

    from itnet_neuro.model.footprint import footprint
    from itnet_neuro.utils import setup_logging, write_json

    setup_logging(0)
    config = shipped_config(args.activation, args.width, args.iterations)
    t0 = time.time()
    result, options, (xv, yv), void = train_synthetic(config, args.name, args)
    seconds = time.time() - t0
    resources = ROOT / "itnet_neuro" / "resources"
    dest = resources / f"{args.name}.h5"
    val = result.val_miou_per_output
    fp = footprint(config, mious=val)
    command = "nice -n 10 .venv/bin/python scripts/train_shipped_model.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write_json(resources / f"{args.name}.json", {
        "model": dest.name,
        "val_miou_per_output": val,
        "data": {"kind": "synthetic", "seed": 0, "train_images": args.n_train, "val_images": args.n_val,
                 "height": config.input_height, "width": config.input_width, "void_label": void},
        "config": config.to_dict(),
        "train_options": {"epochs": options.epochs, "batch_size": options.batch_size,
                          "learning_rate": options.learning_rate, "augment": options.augment, "crop": options.crop},
        "command": command.strip(),
        "train_seconds": round(seconds, 1),
        "footprint": {k: fp[k] for k in ("macs_per_output", "params", "graph_bytes", "depth_per_output",
                                         "state_bytes", "normalized_auc")},
        "history": result.history,
    })
    print(f"{dest}: {dest.stat().st_size / 1e6:.2f} MB; val mIoU per output: "
          + " ".join(f"{v:.3f}" for v in val) + f"; {seconds / 60:.1f} min")
    if not args.no_plots:
        plot_anytime(result.model, config, xv, yv, void, val, fp["macs_per_output"], ROOT / "docs")
    return 0


def train_synthetic(config: ItNetConfig, name: str, args):
    """Train ``config`` on the synthetic data (seed 0, ``args.n_train`` / ``args.n_val`` images, flips) into
    ``runs/shipped/<name>.h5`` and copy it to ``itnet_neuro/resources/<name>.h5``.

    Returns ``(result, options, (xv, yv), void)``."""
    from itnet_neuro.train import TrainOptions, load_data, train_itnet

    (xt, yt), (xv, yv), void = load_data("synthetic", config, n_train=args.n_train, n_val=args.n_val, seed=0)
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, augment=True, seed=0, void_label=void)
    work = ROOT / "runs" / "shipped" / f"{name}.h5"
    result = train_itnet(config, (xt, yt), (xv, yv), work, options, data_name=f"synthetic:{args.n_train}/{args.n_val}")
    shutil.copyfile(work, ROOT / "itnet_neuro" / "resources" / f"{name}.h5")
    return result, options, (xv, yv), void


def plot_anytime(model, config, xv, yv, void, val, macs, docs: Path) -> None:
    """docs/anytime_miou.png and docs/anytime_predictions.png (the 75th-percentile image, as Fig. 1e)."""
    from itnet_neuro.utils import use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt

    from itnet_neuro.data.synthetic import CLASS_COLORS
    from itnet_neuro.metrics import confusion_matrix, miou
    from itnet_neuro.utils import save_figure

    N = config.iterations
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(range(1, N + 1), [100 * v for v in val], "o-", color="tab:purple")
    for n, (v, m) in enumerate(zip(val, macs), 1):
        ax.annotate(f"{m / 1e6:.1f} M", (n, 100 * v), textcoords="offset points", xytext=(0, -14),
                    ha="center", fontsize=7, color="gray")
    ax.set_xlabel("output n (iterations of the shared block)")
    ax.set_ylabel("validation mIoU (%)")
    ax.set_title(f"Anytime prediction: shipped ItNet (f={config.width}, N={N}, shared)\n"
                 "synthetic street scenes, 96×128; gray: MACs per output", fontsize=9)
    ax.set_xticks(range(1, N + 1))
    ax.grid(alpha=0.3)
    save_figure(fig, docs / "anytime_miou.png")

    outs = model.predict(xv, batch_size=8, verbose=0)
    last = np.asarray(outs[-1]).argmax(-1)
    per_image = [miou(confusion_matrix(yv[i], last[i], config.num_classes, void))[0] for i in range(len(xv))]
    i = int(np.argsort(per_image)[int(0.75 * (len(per_image) - 1))])
    panels = [("input", xv[i]), ("label", CLASS_COLORS[yv[i]])]
    for n, o in enumerate(outs, 1):
        pred = np.asarray(o[i]).argmax(-1)
        m = miou(confusion_matrix(yv[i], pred, config.num_classes, void))[0]
        panels.append((f"output {n}: {100 * m:.1f}", CLASS_COLORS[pred]))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels), 1.9))
    for a, (title, img) in zip(axes, panels):
        a.imshow(img)
        a.set_title(title, fontsize=8)
        a.axis("off")
    fig.suptitle("validation image at the 75th percentile of last-output mIoU (as paper Fig. 1e)", fontsize=8)
    save_figure(fig, docs / "anytime_predictions.png")


if __name__ == "__main__":
    sys.exit(main())
