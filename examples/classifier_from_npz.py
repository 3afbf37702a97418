"""A classifier from your own data in an npz file: train in Keras, convert, simulate, accuracy over ticks.

The data: 1-channel 16×16 images of three kinds of stripes (horizontal, vertical, diagonal) with
noise, stored the way a user would — ``np.savez(file, x=uint8 images, y=class indices)``. A small
Keras CNN (ReLU6, strided DepthwiseConv2D, GlobalAveragePooling2D, a softmax Dense) trains on it for
a few epochs; ``convert --calibration npz:FILE`` turns it into IF neurons (uint8 pixels scaled by the
recorded 1/255, the scale checked) and ``simulate --data npz:FILE`` scores the spiking network's
accuracy at every tick next to the ANN's, then again on Loihi.

    python examples/classifier_from_npz.py [--epochs 4] [--out docs/examples/classifier_from_npz.png]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _gallery import parser, run_example


def stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images 16×16×1 of horizontal (0), vertical (1) or diagonal (2) stripes, and their classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    y = rng.integers(0, 3, n)
    period = rng.uniform(3, 6, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    coord = np.where(y[:, None, None] == 0, yy, np.where(y[:, None, None] == 1, xx, (xx + yy) / np.sqrt(2)))
    img = 0.5 + 0.4 * np.sin(2 * np.pi * coord / period + phase) + rng.normal(0, 0.15, (n, 16, 16))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], y


def train(path: Path, epochs: int):
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    kl = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    with np.load(path) as d:
        x, y = d["x_train"].astype(np.float32) / 255, d["y_train"]
    inp = kl.Input((16, 16, 1))
    h = kl.ReLU(6.0)(kl.Conv2D(12, 3, padding="same")(inp))
    h = kl.ReLU(6.0)(kl.DepthwiseConv2D(3, strides=2, padding="same")(h))
    h = kl.Conv2D(16, 1, activation="relu")(h)
    out = kl.Dense(3, activation="softmax")(kl.GlobalAveragePooling2D()(h))
    model = tf.keras.Model(inp, out)
    model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model


def run(epochs: int, images: int, ticks: int) -> dict:
    from itnet_neuro.convert import convert_file
    from itnet_neuro.sim.experiment import run_experiment

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "stripes.npz"
        (xtr, ytr), (xte, yte) = stripes(600, 0), stripes(images, 1)
        np.savez(data, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
        train(data, epochs).save(Path(tmp) / "clf.h5", save_format="h5")
        conv = convert_file(Path(tmp) / "clf.h5", Path(tmp) / "clf.snn.h5", calibration=f"npz:{data}")
        runs = {}
        for chip in (None, "loihi"):
            r = run_experiment(network=conv.network, ann_model=conv.model, data=f"npz:{data}", images=images,
                               ticks=ticks, chip=chip, grid_points=40, keep_predictions=False)
            o = r["outputs"][0]
            runs[chip or "ideal"] = {"grid": r["grid"], "accuracy_over_time": o["miou_over_time"],
                                     "snn_accuracy": o["snn_miou"], "ann_accuracy": o["ann_miou"],
                                     "ticks_to_90": o["ticks_to_90"]}
    return {"epochs": epochs, "test_images": images, "ticks": ticks, "runs": runs,
            "input_range": conv.network.metadata["input_range"], "input_scale": conv.network.input.scale}


def draw(fig, r: dict) -> None:
    ax = fig.add_subplot(1, 1, 1)
    for name, run in r["runs"].items():
        ax.plot(run["grid"], [float("nan") if v is None else v for v in run["accuracy_over_time"]],
                label=f"SNN, {name} chip (90 % at tick {run['ticks_to_90']})")
    ax.axhline(r["runs"]["ideal"]["ann_accuracy"], color="k", ls="--", lw=0.8, label="Keras ANN")
    ax.set(xlabel="tick", ylabel="accuracy", ylim=(0, 1.02),
           title=f"A 1-channel stripes classifier from an npz file: accuracy over ticks ({r['test_images']} test images)")
    ax.legend(fontsize=8, loc="lower right")


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--ticks", type=int, default=128)
    return run_example(__file__, p, argv, run, draw)


if __name__ == "__main__":
    raise SystemExit(main())
