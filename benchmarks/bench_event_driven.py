"""Event-driven against dense convolution in the ``fast`` simulator: where is the crossover in spike density?

For every distinct convolution of the shipped model (one group; geometry and channel counts as
converted), random spike frames at several densities (the fraction of presynaptic neurons that spike
in a frame) go through the dense kernel ``fast`` uses by default (TensorFlow's,
:mod:`itnet_neuro.sim.kernels.tf_ops`) and the event-driven one (:mod:`itnet_neuro.sim.kernels.event_ops`),
``--frames`` frames at once (images × ticks of a chunk, as ``fast`` folds them), float32, best of 3
interleaved runs each. Per convolution: both times per density and the crossover, the density below
which the event-driven kernel is faster (geometric interpolation between the measured densities).
The shipped model's own spike densities (64 ticks, 2 synthetic images) are recorded beside them.

    python benchmarks/bench_event_driven.py    # ~2 min; writes benchmarks/results/event_driven.json (+ .png)
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
sys.path.insert(0, str(HERE))

DENSITIES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def _distinct_convs(net):
    """One connection per distinct convolution geometry of ``net`` (unrolled copies share one)."""
    from itnet_neuro.sim.kernels.event_ops import supports

    seen, out = set(), []
    for c in net.connections:
        if c.pre == net.input.name or not supports(c):
            continue
        key = (tuple(net.shape_of(c.pre)), c.weight.shape, c.stride, c.padding)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _best(fn, x, reps=3):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        np.asarray(fn(x))
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(net, conn, frames: int, rng) -> dict:
    from itnet_neuro.sim.kernels import event_ops, tf_ops

    dense, event = tf_ops.prepare(net, conn), event_ops.prepare(net, conn)
    c, h, w = net.shape_of(conn.pre)
    rows = []
    for d in DENSITIES:
        x = (rng.random((frames, h, w, c)) < d).astype(np.float32)
        np.asarray(dense(x)), event(x)
        rows.append({"density": d, "dense_ms": _best(dense, x) * 1e3, "event_ms": _best(event, x) * 1e3})
    return {"connection": conn.name, "op": conn.op, "pre_shape": [c, h, w], "weight_shape": list(conn.weight.shape),
            "stride": list(conn.stride), "times": rows, "crossover_density": _crossover(rows)}


def _crossover(rows) -> float | None:
    """Density where event == dense, interpolated geometrically; None when event never wins."""
    prev = None
    for r in rows:
        ratio = r["event_ms"] / r["dense_ms"]
        if ratio >= 1:
            if prev is None:
                return None
            (d0, q0), (d1, q1) = prev, (r["density"], ratio)
            f = np.log(q0) / (np.log(q0) - np.log(q1))  # log ratio crosses 0
            return float(np.exp(np.log(d0) + f * (np.log(d1) - np.log(d0))))
        prev = (r["density"], ratio)
    return float(rows[-1]["density"])  # event won everywhere measured: at least the largest density


def model_densities(net) -> dict:
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images

    x, _, _ = load_images("synthetic", net, 2)
    res = simulate(net, x, 64, backend="fast", show_progress=False)
    u = net.unroll()
    d = np.array([res.spikes_per_population[p.name] / (p.size * 64 * 2) for p in u.populations])
    return {"images": 2, "ticks": 64, "populations": len(d),
            "quantiles": {q: float(np.quantile(d, float(q))) for q in ("0.1", "0.25", "0.5", "0.75", "0.9")},
            "silent_populations": int((d == 0).sum())}


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for r in doc["convolutions"]:
        d = [t["density"] for t in r["times"]]
        ax.plot(d, [t["event_ms"] / t["dense_ms"] for t in r["times"]], marker="o", lw=1,
                label=f"{r['weight_shape'][1]}→{r['weight_shape'][0]}, {r['weight_shape'][2]}×{r['weight_shape'][3]}, "
                      f"{r['pre_shape'][1]}×{r['pre_shape'][2]}")
    ax.axhline(1, color="k", lw=0.8)
    q = doc["model_spike_density"]["quantiles"]
    ax.axvspan(q["0.25"], q["0.75"], color="0.85", label="shipped model's densities (25–75 %)")
    ax.set(xscale="log", yscale="log", xlabel="presynaptic spike density per frame",
           ylabel="event-driven time / dense time", title=f"{doc['frames']} frames at once, float32")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=256, help="frames per call (images × ticks of a chunk)")
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "event_driven.json"))
    args = ap.parse_args(argv)
    from common import finish, header
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL

    doc = header("python benchmarks/bench_event_driven.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])))
    doc.update(model="itnet_neuro/resources/itnet_small_shared.h5 (shipped)", frames=args.frames,
               densities=list(DENSITIES), dense_kernels="tensorflow")
    net = convert_model(SHIPPED_MODEL).network
    unrolled, rng = net.unroll(), np.random.default_rng(0)
    doc["convolutions"] = []
    for conn in _distinct_convs(unrolled):
        doc["convolutions"].append(measure(unrolled, conn, args.frames, rng))
        r = doc["convolutions"][-1]
        print(f"  {conn.name:44s} crossover {r['crossover_density']}", flush=True)
    cross = [r["crossover_density"] or 0.0 for r in doc["convolutions"]]
    doc["crossover_density"] = {"min": min(cross), "median": float(np.median(cross)), "max": max(cross)}
    doc["model_spike_density"] = model_densities(net)
    plot(doc, Path(args.output).with_suffix(".png"))
    finish(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
