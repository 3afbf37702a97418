"""Convert the shipped ItNet and watch every output improve over ticks: the anytime curve.

The shipped model (96×128, six iterations of one weight-shared block) is converted to IF neurons
(calibration: 8 synthetic scenes) and simulated on the ideal chip with the ``fast`` backend. Each
output's mIoU rises with the ticks it has had to average its spike counts; output 1 is ready after
a few dozen ticks, deeper outputs later and higher — the ItNet's anytime property, in ticks. The
dashed lines are the Keras ANN's mIoU on the same images.

    python examples/anytime_curve.py [--images 2] [--ticks 256] [--out docs/examples/anytime_curve.png]
"""

from __future__ import annotations


from _gallery import parser, run_example


def run(images: int, ticks: int) -> dict:
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.sim.experiment import run_experiment

    conv = convert_model(SHIPPED_MODEL, n_calibration=8)
    res = run_experiment(network=conv.network, ann_model=conv.model, images=images, ticks=ticks, grid_points=48,
                         keep_predictions=False)
    return {"images": images, "ticks": ticks, "grid": res["grid"],
            "outputs": [{k: o[k] for k in ("index", "ann_miou", "snn_miou", "miou_over_time", "ticks_to_90",
                                           "first_output_tick")} for o in res["outputs"]]}


def draw(fig, r: dict) -> None:
    import matplotlib.pyplot as plt

    ax = fig.add_subplot(1, 1, 1)
    colors = plt.cm.viridis([i / max(len(r["outputs"]) - 1, 1) for i in range(len(r["outputs"]))])
    for o, col in zip(r["outputs"], colors):
        ax.plot(r["grid"], [float("nan") if v is None else v for v in o["miou_over_time"]], color=col,
                label=f"output {o['index'] + 1} (90 % at tick {o['ticks_to_90']})")
        ax.axhline(o["ann_miou"], color=col, ls="--", lw=0.8)
    ax.set(xlabel="tick", ylabel="mIoU", title=f"Shipped ItNet on the ideal chip: every output over time "
                                               f"({r['images']} synthetic images; dashed: Keras ANN)")
    ax.legend(fontsize=8, loc="lower right")


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--ticks", type=int, default=256)
    return run_example(__file__, p, argv, run, draw)


if __name__ == "__main__":
    raise SystemExit(main())
