"""Where the ``fast`` simulator's time goes on the shipped model: per tick, per op, per population (issue 17).

The shipped model (``itnet_neuro/resources/itnet_small_shared.h5``, converted here with the default
synthetic calibration, or ``--model`` an ``.snn.h5``), ideal chip, synthetic images, unrolled schedule.
For each batch size and kernel set (numpy, TensorFlow), in this one process after a warm-up run:

* **per tick**: the difference of two run lengths (``--ticks`` short and long, each run twice, the
  faster kept) divided by the difference in ticks — the process's CPU seconds (all threads) and wall
  seconds, the simulator's default workers; set-up and finishing cancel out;
* **per op and population**: one run of the long length in one worker (so that CPU time can be
  attributed) with a timer around every kernel call (by op and kernel size), around the neuron update
  (compiled or numpy's, with the bias), and the rest (``other``: currents, frames, counting), in CPU
  seconds of the process per tick; the ten slowest populations.

The machine is shared: the load average is recorded before and after; compare runs of one file,
not absolute times across files.

    python benchmarks/bench_fast_profile.py      # writes benchmarks/results/fast_profile.json
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def _network(model: str | None):
    from itnet_neuro.ir.io import load_network

    if model:
        return load_network(model), model
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL

    return convert_model(SHIPPED_MODEL).network, "itnet_neuro/resources/itnet_small_shared.h5 (shipped)"


def _run(net, x, hw, ticks: int, batch: int, kernels: str, workers: int | None = None):
    from itnet_neuro.sim.core import simulate

    c, w = time.process_time(), time.perf_counter()
    res = simulate(net, x, ticks, backend="fast", hardware=hw, show_progress=False, batch_size=batch,
                   kernels=kernels, workers=workers)
    return time.process_time() - c, time.perf_counter() - w, res


def per_tick(net, x, hw, batch: int, kernels: str, short: int, long: int) -> dict:
    """CPU and wall milliseconds per tick from the difference of two run lengths (best of two each)."""
    best = {}
    for ticks in (short, long, short, long):
        cpu, wall, res = _run(net, x, hw, ticks, batch, kernels)
        prev = best.get(ticks, (np.inf, np.inf, None))
        best[ticks] = (min(prev[0], cpu), min(prev[1], wall), res)
    (c0, w0, _), (c1, w1, res) = best[short], best[long]
    n = long - short
    return {"cpu_ms_per_tick": round((c1 - c0) / n * 1e3, 2), "wall_ms_per_tick": round((w1 - w0) / n * 1e3, 2),
            "cpu_ms_per_image_tick": round((c1 - c0) / n / batch * 1e3, 2),
            "run_cpu_seconds": {str(short): round(c0, 3), str(long): round(c1, 3)},
            "spikes_per_image": sum(res.spikes_per_population.values()) / res.images, "simulator": res.info}


class _Timers:
    """Wraps the kernels' ``prepare`` and the neuron update (``_Batch._fire``: the compiled one or numpy's,
    bias included) of :mod:`itnet_neuro.sim.fast` with CPU timers."""

    def __init__(self):
        self.by_op = collections.defaultdict(float)
        self.by_pop = collections.defaultdict(float)

    def install(self, kernels: str):
        from itnet_neuro.sim import fast

        orig_factory, orig_fire = fast.kernel_factory, fast._Batch._fire

        def factory(k):
            prepare = orig_factory(k)

            def timed_prepare(net, conn, dtype=np.float32):
                f = prepare(net, conn, dtype)
                key = conn.op + (f" {conn.kernel[0]}x{conn.kernel[1]}" if conn.op in ("conv2d", "depthwise") else "")

                def g(x):
                    t = time.process_time()
                    y = np.asarray(f(x))
                    dt = time.process_time() - t
                    self.by_op[key] += dt
                    self.by_pop[conn.post.rsplit("@", 1)[0]] += dt
                    return y

                return g

            return timed_prepare

        def fire(batch, p, *args):
            t = time.process_time()
            s = orig_fire(batch, p, *args)
            self.by_op["fire (neuron update)"] += time.process_time() - t
            return s

        fast.kernel_factory, fast._Batch._fire = factory, fire
        return lambda: (setattr(fast, "kernel_factory", orig_factory), setattr(fast._Batch, "_fire", orig_fire))


def per_op(net, x, hw, batch: int, kernels: str, ticks: int) -> dict:
    timers = _Timers()
    restore = timers.install(kernels)
    try:
        cpu, _, _ = _run(net, x, hw, ticks, batch, kernels, workers=1)  # one thread: CPU time is attributable
    finally:
        restore()
    ms = {k: round(v / ticks * 1e3, 2) for k, v in sorted(timers.by_op.items(), key=lambda kv: -kv[1])}
    ms["other (currents, frames, counting, set-up)"] = round((cpu - sum(timers.by_op.values())) / ticks * 1e3, 2)
    pops = sorted(timers.by_pop.items(), key=lambda kv: -kv[1])[:10]
    return {"ticks": ticks, "cpu_ms_per_tick": ms,
            "slowest_populations_ops_cpu_ms_per_tick": {k: round(v / ticks * 1e3, 2) for k, v in pops}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help=".snn.h5 (default: convert the shipped model)")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--kernels", default="numpy,tensorflow")
    ap.add_argument("--ticks", default="8,72", help="short,long run lengths")
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "fast_profile.json"))
    args = ap.parse_args(argv)
    from common import finish, header

    from itnet_neuro.sim.experiment import load_images
    from itnet_neuro.sim.hardware import Hardware

    command = "python benchmarks/bench_fast_profile.py" + (" " + " ".join(argv) if argv else "")
    doc = header(command)
    net, desc = _network(args.model)
    short, long = (int(t) for t in args.ticks.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    hw = Hardware.from_chip("ideal")
    x, _, _ = load_images("synthetic", net, max(batches))
    doc.update({"model": desc, "chip": "ideal", "schedule": "unrolled", "data": "synthetic",
                "neurons_unrolled": net.unroll().n_neurons, "runs": []})
    for kernels in args.kernels.split(","):
        for batch in batches:
            _run(net, x[:batch], hw, 4, batch, kernels)  # warm-up: kernels built, TensorFlow's first calls
            row = {"kernels": kernels, "batch": batch, "load_average_before": list(os.getloadavg())}
            row.update(per_tick(net, x[:batch], hw, batch, kernels, short, long))
            row["profile"] = per_op(net, x[:batch], hw, batch, kernels, long)
            row["load_average_after"] = list(os.getloadavg())
            doc["runs"].append(row)
            print(f"{kernels:10s} batch {batch}: {row['cpu_ms_per_tick']} ms CPU per tick "
                  f"(load {row['load_average_before'][0]:.1f})", flush=True)
    finish(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
