"""One weight-shared block, two schedules on Loihi: looped (one copy, N phases) or unrolled (N copies).

The shipped ItNet's iterative block is allocated on Loihi twice: *looped* — one copy of the block's
cores, iteration n running in phase n with row n of the per-iteration parameter tables, so output n
arrives after n phases — and *unrolled* — one copy per iteration, pipelined, every output running
from tick 1. Both are simulated with Loihi's device model (its 8-bit weights and its neuron, which
resets to zero; chip seed 0) on the same images. The plot shows what the cores buy — the unrolled
schedule needs several times the cores and gives every output from the start, the looped one is
small and gives output n only after its phase — and what Loihi's reset to zero costs the deeper
outputs against the ideal chip (``examples/anytime_curve.py``).

    python examples/looped_vs_unrolled_loihi.py [--images 2] [--phase-ticks 100] [--out ...png]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _gallery import parser, run_example


def run(images: int, phase_ticks: int) -> dict:
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.sim.experiment import run_experiment
    from mapping import plan
    from mapping import allocfile

    conv = convert_model(SHIPPED_MODEL, n_calibration=8)
    out = {"images": images, "phase_ticks": phase_ticks, "schedules": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for schedule in ("looped", "unrolled"):
            alloc = plan(conv.network, "loihi", schedule, phase_ticks=phase_ticks)
            path = Path(tmp) / f"{schedule}.json"
            allocfile.write(alloc, path)
            n = conv.network.block.iterations
            ticks = phase_ticks * n if schedule == "looped" else 2 * phase_ticks
            res = run_experiment(network=conv.network, ann_model=conv.model, alloc=str(path), images=images,
                                 ticks=ticks, grid_points=60, keep_predictions=False)
            out["schedules"][schedule] = {
                "cores": alloc.cores_used, "feasible": alloc.feasible, "ticks": res["ticks"], "grid": res["grid"],
                "outputs": [{k: o[k] for k in ("index", "ann_miou", "snn_miou", "miou_over_time", "first_output_tick")}
                            for o in res["outputs"]]}
    return out


def draw(fig, r: dict) -> None:
    import matplotlib.pyplot as plt

    axes = fig.subplots(1, 2, sharey=True)
    n = len(r["schedules"]["looped"]["outputs"])
    colors = plt.cm.viridis([i / max(n - 1, 1) for i in range(n)])
    for ax, (name, s) in zip(axes, r["schedules"].items()):
        for o, col in zip(s["outputs"], colors):
            ax.plot(s["grid"], [float("nan") if v is None else v for v in o["miou_over_time"]], color=col,
                    label=f"output {o['index'] + 1}")
        ax.set(title=f"{name}: {s['cores']} Loihi cores", xlabel="tick")
    axes[0].set_ylabel("mIoU")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Shipped ItNet on Loihi's device model (8-bit weights, reset to zero), {r['images']} images, "
                 f"looped phases of {r['phase_ticks']} ticks")


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--phase-ticks", type=int, default=100)
    return run_example(__file__, p, argv, run, draw)


if __name__ == "__main__":
    raise SystemExit(main())
