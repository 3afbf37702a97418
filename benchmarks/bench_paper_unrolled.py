"""The full-size ``paper-camvid-shared`` preset, unrolled, 256 ticks on the ``fast`` simulator: time and peak memory.

Issue 17 §3: "the full-size ``paper-camvid-shared`` preset at 256 ticks within 8 GB". The paper's
shared-weight ItNet (480×360 input, f = 51, N = 16) with random weights (Keras initializers, the
config's seed: there is no trained full-size model here, so its accuracy means nothing — this
measures cost), converted with 2 synthetic calibration images, then simulated in a process of its own
(its peak RSS, libraries included, is the figure): 1 synthetic image, 256 ticks, unrolled schedule,
ideal chip, ``fast`` with its default kernels, under a memory budget of 7.5 GiB
(``ITNET_NEURO_MAX_MEMORY``), which the simulator's plan (:func:`itnet_neuro.sim.fast.estimate_memory`)
must respect; the plan's estimate is recorded beside the measured peak.

    python benchmarks/bench_paper_unrolled.py     # ~10-20 min, ~7 GB; writes benchmarks/results/paper_unrolled.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PRESET = "paper-camvid-shared"
BUDGET = int(7.5 * 2**30)
TICKS = 256


def convert_preset(preset: str, path: Path, calibration: int) -> dict:
    """Build ``preset`` with its random initial weights, convert it with ``calibration`` synthetic images,
    save the ``.snn.h5`` at ``path``; what was built, for the results file."""
    from itnet_neuro.convert import convert_model
    from itnet_neuro.ir.io import save_network
    from itnet_neuro.model.build import build_itnet
    from itnet_neuro.model.io import save_itnet
    from itnet_neuro.model.presets import get_preset

    cfg = get_preset(preset)
    keras_path = path.with_suffix(".keras.h5")
    save_itnet(build_itnet(cfg), cfg, keras_path)
    t0 = time.perf_counter()
    net = convert_model(keras_path, n_calibration=calibration).network
    seconds = time.perf_counter() - t0
    save_network(net, path)
    u = net.unroll()
    return {"preset": preset, "weights": "random (Keras initializers, config seed)", "input": list(net.input.shape),
            "populations": len(u.populations), "neurons_unrolled": u.n_neurons, "synapses_unrolled": u.n_synapses,
            "iterations": net.block.iterations if net.block else 1, "calibration_images": calibration,
            "conversion_seconds": round(seconds, 1)}


def worker(net_path: Path, out: Path) -> None:
    """One simulation in this process; its figures to ``out``."""
    from itnet_neuro.ir.io import load_network
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images
    from itnet_neuro.sim.fast import estimate_memory

    net = load_network(net_path)
    x, _, _ = load_images("synthetic", net, 1)
    c0, t0 = time.process_time(), time.perf_counter()
    res = simulate(net, x, TICKS, backend="fast", schedule="unrolled", max_memory=BUDGET)
    wall = time.perf_counter() - t0
    i = res.info
    estimate = estimate_memory(net.unroll(), i["batch_size"], i["chunk_ticks"], len(res.grid), ticks=TICKS,
                               kernels=i["kernels"])
    out.write_text(json.dumps({
        "simulate_seconds": round(wall, 1), "simulate_cpu_seconds": round(time.process_time() - c0, 1),
        "seconds_per_tick": wall / TICKS, "plan": {"batch": i["batch_size"], "chunk_ticks": i["chunk_ticks"],
                                                    "kernels": i["kernels"], "grid_points": len(res.grid),
                                                    "estimate_bytes": estimate},
        "info": {k: v for k, v in res.info.items() if isinstance(v, (int, float, str))},
        "spikes_per_image": float(sum(res.spikes_per_population.values())),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, default=None, help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "paper_unrolled.json"))
    args = ap.parse_args(argv)
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]))
        return 0
    from common import finish, header

    doc = header("python benchmarks/bench_paper_unrolled.py")
    doc["conditions"] = {"images": 1, "ticks": TICKS, "schedule": "unrolled", "chip": "ideal", "backend": "fast",
                         "data": "synthetic", "memory_budget_bytes": BUDGET, "target_bytes": 8 * 10**9}
    with tempfile.TemporaryDirectory(prefix="bench_paper_unrolled_") as tmp:
        net_path, out = Path(tmp) / "paper.snn.h5", Path(tmp) / "simulate.json"
        print(f"converting {PRESET} …", flush=True)
        doc["network"] = convert_preset(PRESET, net_path, 2)
        print(f"simulating 1 image × {TICKS} ticks (a process of its own) …", flush=True)
        load, t0 = list(os.getloadavg()), time.perf_counter()
        subprocess.run([sys.executable, __file__, "--worker", str(net_path), str(out)], check=True, cwd=ROOT,
                       timeout=7200, env=dict(os.environ, ITNET_NEURO_PROGRESS="1"))
        doc["simulate"] = json.loads(out.read_text())
        doc["simulate"].update(process_seconds=round(time.perf_counter() - t0, 1), load_before=load,
                               load_after=list(os.getloadavg()))
    peak = doc["simulate"]["peak_rss_bytes"]
    doc["within_target"] = peak <= doc["conditions"]["target_bytes"]
    print(f"peak RSS {peak / 1e9:.2f} GB, simulation {doc['simulate']['simulate_seconds']} s")
    finish(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main(sys.argv[1:]))
