#!/usr/bin/env python
"""Train the shipped TrueNorth ItNet (preset ``truenorth-small``) on the synthetic data and write its report.

The network is the shipped float model's (96×128, N = 6, L = 3, K = 1, shared, average pooling) at the
smallest width the chip's fan-in allows with grouped convolutions (f = 18 for TrueNorth), trained for
the chip (:mod:`itnet_neuro.model.chipaware`): grouped convolutions that keep every neuron within
one core's 256 axons, the chip's weight grid in the forward pass, clip-floor-shift activations at
the tick budget. Same data and schedule as ``scripts/train_shipped_model.py`` (defaults: 30 epochs of
400 images, as the float model). The shipped file was made with ``--epochs 12 --n-train 200`` (27 min
niced on the 2 cores while other jobs held a load of 13-19; the command is in its JSON).

Writes (defaults)::

    itnet_neuro/resources/itnet_small_truenorth.h5     the model (Keras HDF5, config with chip and ticks)
    itnet_neuro/resources/itnet_small_truenorth.json   validation mIoU per output, config, command, history

Run from the repository root (``nice``: the machine is shared)::

    nice -n 15 .venv/bin/python scripts/train_truenorth_model.py

Training resumes after an interruption (checkpoint in ``runs/shipped/<name>.h5.ckpt``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chip", default="truenorth", help="chip family of the preset <chip>-small")
    p.add_argument("--ticks", type=int, default=256, help="tick budget the activations are trained for")
    p.add_argument("--name", default=None, help="file stem in itnet_neuro/resources (default itnet_small_<chip>)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-val", type=int, default=100)
    args = p.parse_args(argv)

    from itnet_neuro.model.chipaware import chip_config, chip_preset
    from itnet_neuro.utils import setup_logging, write_json
    from train_shipped_model import train_synthetic

    setup_logging(0)
    name = args.name or f"itnet_small_{args.chip}"
    config = chip_config(chip_preset(f"{args.chip}-small"), args.chip, args.ticks)
    load = os.getloadavg()
    t0 = time.time()
    result, options, _, void = train_synthetic(config, name, args)
    seconds = time.time() - t0
    dest = ROOT / "itnet_neuro" / "resources" / f"{name}.h5"
    val = result.val_miou_per_output
    command = "nice -n 15 .venv/bin/python scripts/train_truenorth_model.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write_json(dest.with_suffix(".json"), {
        "model": dest.name,
        "chip": config.chip,
        "ticks": config.ticks,
        "val_miou_per_output": val,
        "val_miou_note": "Keras forward pass with the chip's weight grid (what the file stores) and "
                         "clip-floor-shift activations at levels = ticks",
        "data": {"kind": "synthetic", "seed": 0, "train_images": args.n_train, "val_images": args.n_val,
                 "height": config.input_height, "width": config.input_width, "void_label": void},
        "config": config.to_dict(),
        "params": int(result.model.count_params()),
        "train_options": {"epochs": options.epochs, "batch_size": options.batch_size,
                          "learning_rate": options.learning_rate, "augment": options.augment, "crop": options.crop},
        "command": command.strip(),
        "train_seconds": round(seconds, 1),
        "machine": {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load],
                    "load_after": [round(x, 2) for x in os.getloadavg()], "niced": os.nice(0)},
        "history": result.history,
    })
    print(f"{dest}: {dest.stat().st_size / 1e6:.2f} MB; val mIoU per output: "
          + " ".join(f"{v:.3f}" for v in val) + f"; {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
