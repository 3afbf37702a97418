"""The ``sparse`` op in the ``fast`` simulator against the convolution it replaces, on the shipped model.

Kernel level: the largest convolutions of the shipped ItNet (after the input layer, and in the
iterative block) applied by their TensorFlow kernel and by the kernel of ``to_sparse`` of the same
connection (``tf.sparse.sparse_dense_matmul``), both on the presynaptic population's real spike frames
from a ``fast`` run (synthetic street scenes, time × images folded into the batch, as ``fast`` does).
Each kernel is timed several times, interleaved; the minimum is the figure (the machine is shared).
End to end: ``fast`` on the whole network, and on the network with every connection made sparse.

    python benchmarks/bench_sparse_kernel.py            # writes benchmarks/results/sparse_kernel.json
    python benchmarks/bench_sparse_kernel.py --quick    # fewer images and ticks, no file
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _shipped_network():
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL

    return convert_model(SHIPPED_MODEL).network


def _inputs(net, images: int) -> np.ndarray:
    from itnet_neuro.convert.api import calibration_images

    c, h, w = net.input.shape
    x = calibration_images("synthetic", images, h, w, c, input_scale=net.input.scale, input_offset=net.input.offset,
                           seed=1)
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def _best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _kernel_case(net, unet, conn, trains, repeats: int) -> dict:
    from itnet_neuro.ir.ops import to_sparse
    from itnet_neuro.sim.kernels.tf_ops import prepare

    frames = trains[conn.pre]  # (B, T, C, H, W) uint8
    x = np.ascontiguousarray(np.moveaxis(frames.reshape((-1,) + frames.shape[2:]), 1, -1), np.float32)
    sconn = to_sparse(unet, conn)
    conv, sparse = prepare(unet, conn), prepare(unet, sconn)
    ref = np.asarray(conv(x))
    assert np.allclose(np.asarray(sparse(x)), ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())))
    tc, ts = [], []
    for _ in range(3):  # interleaved, so that both see the same load
        tc.append(_best(lambda: np.asarray(conv(x)), repeats))
        ts.append(_best(lambda: np.asarray(sparse(x)), repeats))
    return {"connection": conn.name, "op": conn.op, "weight_shape": list(conn.weight.shape),
            "pre_shape": list(unet.shape_of(conn.pre)), "post_shape": list(unet.shape_of(conn.post)),
            "synapses": unet.synapses(sconn), "frames": int(x.shape[0]), "spike_density": float(x.mean()),
            "conv_ms": round(1e3 * min(tc), 2), "sparse_ms": round(1e3 * min(ts), 2),
            "ratio_sparse_over_conv": round(min(ts) / min(tc), 2)}


def _end_to_end(net, x, ticks: int) -> dict:
    from itnet_neuro.ir.ops import to_sparse
    from itnet_neuro.sim.core import simulate

    unet = net.unroll()
    snet = dataclasses.replace(unet, connections=tuple(to_sparse(unet, c) for c in unet.connections))
    times = {"conv": [], "sparse": []}
    results = {}
    for _ in range(2):
        for key, n in (("conv", unet), ("sparse", snet)):
            t0 = time.perf_counter()
            results[key] = simulate(n, x, ticks, backend="fast", show_progress=False)
            times[key].append(time.perf_counter() - t0)
    a, b = results["conv"].counts, results["sparse"].counts
    moved = sum(int(np.abs(a[k].astype(np.int64) - b[k].astype(np.int64)).sum()) for k in a)
    return {"images": int(x.shape[0]), "ticks": ticks, "fast_s": round(min(times["conv"]), 2),
            "fast_all_sparse_s": round(min(times["sparse"]), 2),
            "ratio_sparse_over_conv": round(min(times["sparse"]) / min(times["conv"]), 2),
            "readout_count_differences": moved}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "sparse_kernel.json"))
    args = ap.parse_args(argv)
    from itnet_neuro.sim.core import simulate

    images, ticks, repeats = (2, 16, 2) if args.quick else (4, 64, 5)
    net = _shipped_network()
    unet = net.unroll()
    x = _inputs(net, images)
    trains = simulate(net, x, ticks, backend="fast", record=True, show_progress=False).trains
    convs = sorted((c for c in unet.connections if c.op == "conv2d" and c.pre != unet.input.name),
                   key=lambda c: -unet.synapses(c))
    picks = [convs[0], next(c for c in convs if "@" in c.name)]  # the largest; the largest in the block
    out = {"command": "python benchmarks/bench_sparse_kernel.py" + (" --quick" if args.quick else ""),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "load_average_1min_at_start": round(os.getloadavg()[0], 2)},
           "kernels": [_kernel_case(net, unet, c, trains, repeats) for c in picks],
           "end_to_end": _end_to_end(net, x[:2], ticks)}
    print(json.dumps(out, indent=1))
    if not args.quick:
        from itnet_neuro.utils import atomic_path

        with atomic_path(args.output) as tmp:
            Path(tmp).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
