#!/usr/bin/env python
"""TrueNorth weights realized per core (mapping.realize) against the old per-connection quantization.

For the iterative block's connections of the shipped model (unrolled copies of the iterations given,
default 1 and 2: iteration 1 has the entry connections, iterations 2..N share one structure), the RMS
error of the realized synapse weights (IR units) on two core assignments:

* ``plan``: the cores of ``mapping.allocate.plan(net, "truenorth", "unrolled")`` (infeasible for the
  shipped model: it_mix_s*_act needs 864 axons per neuron; those tiles are placed anyway);
* ``256``: every population cut into tiles of all its channels × a spatial window of at most 256
  neurons (a full TrueNorth core).

Beside it the old quantization (``hardware_models.device.quantize_weights`` on each connection's
(C_in·kh·kw × C_out) matrix, as ``sim/hardware.py`` applied it), measured over the same synapses.
Run from the repository root::

    nice -n 5 .venv/bin/python scripts/measure_realization.py --out benchmarks/results/realize_truenorth.json
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapping import realize as R  # noqa: E402


def plan_cores(net) -> dict:
    """Core id of every neuron from the TrueNorth allocation (through the typed alloc.json contract)."""
    from mapping.allocate import plan
    from mapping.allocfile import from_allocation

    return from_allocation(plan(net, "truenorth", "unrolled")).core_of()


def full_cores(unrolled, neurons: int) -> dict:
    """All channels × the largest spatial window with at most ``neurons`` neurons, per population."""
    core_of, base = {}, 0
    for p in unrolled.populations:
        c, h, w = p.shape
        th, tw = max(((y, x) for y in range(1, h + 1) for x in range(1, w + 1) if c * y * x <= neurons),
                     key=lambda t: (t[0] * t[1], -abs(t[0] - t[1])), default=(1, 1))
        nx = -(-w // tw)
        yy, xx = np.meshgrid(np.arange(h) // th, np.arange(w) // tw, indexing="ij")
        core_of[p.name] = np.broadcast_to(yy * nx + xx + base, (c, h, w)).copy()
        base = int(core_of[p.name].max()) + 1
    return core_of


def old_errors(unrolled, syn, names) -> dict:
    """Per connection: RMS error of the old per-connection TrueNorth quantization over its synapses."""
    from hardware_models.device import quantize_weights
    from hardware_models.spec import load_chip

    chip, out = load_chip("truenorth"), {}
    for i, c in enumerate(unrolled.connections):
        if c.name not in names:
            continue
        w = c.weight.astype(np.float64)
        mat = np.moveaxis(w.reshape(w.shape[0], -1), 0, -1) if w.ndim > 1 else w[None, :]
        q = np.asarray(quantize_weights(mat, chip).weights)
        real = np.moveaxis(q, -1, 0).reshape(w.shape) if w.ndim > 1 else q[0]
        post, pre, val = R._expand(unrolled, dataclasses.replace(c, weight=real.astype(np.float32)))
        s = syn.of(i)
        key = lambda a, b: a.astype(np.int64) * (1 << 32) + b  # noqa: E731
        order = np.argsort(key(post, pre))
        pos = order[np.searchsorted(key(post, pre)[order], key(syn.post[s], syn.pre[s]))]
        out[c.name] = float(np.sqrt(np.mean((val[pos] - syn.w[s]) ** 2)))
    return out


def measure(unrolled, core_of, chip, names, seed: int) -> dict:
    neu = R._Neurons(unrolled, core_of)
    syn = R._Synapses(unrolled, neu.offsets)
    block_cores = {int(k) for n in names for k in np.unique(core_of[unrolled.connections[n].post])}
    t0 = time.perf_counter()
    res = R._realize_cores(syn, neu, chip, seed, only=block_cores)
    seconds = time.perf_counter() - t0
    per, sq_err, sq_w = {}, 0.0, 0.0
    for i in names:
        s = syn.of(i)
        d = res.w[s] - syn.w[s]
        per[unrolled.connections[i].name] = {"rms": float(np.sqrt(np.mean(d ** 2))),
                                             "rms_weight": float(np.sqrt(np.mean(syn.w[s] ** 2))),
                                             "synapses": int(d.size)}
        sq_err += float(np.sum(d ** 2))
        sq_w += float(np.sum(syn.w[s] ** 2))
    info = [res.cores[k] for k in sorted(block_cores)]
    axons = np.array([c["axons"] for c in info])
    return {"per_connection": per, "relative_rms_all": float(np.sqrt(sq_err / sq_w)), "cores": len(info),
            "neurons_with_coarser_weights_for_leak_or_threshold": int(sum(c["coarser_by_range"] for c in info)),
            "cores_fitting_two_axons_per_input": int(np.count_nonzero(2 * axons <= chip.core.max_axons)),
            "axons_per_core_pct_0_50_100": np.percentile(axons, [0, 50, 100]).tolist(),
            "neurons_per_core_pct_0_50_100": np.percentile([c["neurons"] for c in info], [0, 50, 100]).tolist(),
            "clipped": res.clipped, "seconds": round(seconds, 1), "syn": syn}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snn", default=None, help="converted shipped model (.snn.h5); default: convert now")
    p.add_argument("--iterations", default="1,2", help="unrolled copies to measure")
    p.add_argument("--assignments", default="plan,256")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/realize_truenorth.json")
    args = p.parse_args(argv)
    from hardware_models.spec import load_chip
    from itnet_neuro.ir.io import load_network
    from itnet_neuro.utils import write_json

    if args.snn:
        net = load_network(args.snn)
    else:
        from itnet_neuro.convert.api import convert_model, shipped_model_path

        net = convert_model(shipped_model_path()).network
    unrolled = net.unroll()
    its = {f"@{i}" for i in args.iterations.split(",")}
    names = [i for i, c in enumerate(unrolled.connections) if any(c.post.endswith(s) for s in its)]
    chip = load_chip("truenorth")
    doc = {"command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv or sys.argv[1:])),
           "model": "itnet_neuro/resources/itnet_small_shared.h5", "chip": "truenorth",
           "leak_bits": chip.neuron.bias_bits, "iterations": sorted(its), "assignments": {}}
    old = None
    for kind in args.assignments.split(","):
        core_of = plan_cores(net) if kind == "plan" else full_cores(unrolled, int(kind))
        m = measure(unrolled, core_of, chip, names, args.seed)
        syn = m.pop("syn")
        if old is None:
            old = old_errors(unrolled, syn, {unrolled.connections[i].name for i in names})
            sq_old = sum(old[n] ** 2 * v["synapses"] for n, v in m["per_connection"].items())
            sq_w = sum(v["rms_weight"] ** 2 * v["synapses"] for v in m["per_connection"].values())
            doc["old_per_connection"] = {"relative_rms_all": float(np.sqrt(sq_old / sq_w))}
        for n, v in m["per_connection"].items():
            v["rms_old"] = old[n]
        doc["assignments"][kind] = m
        print(f"{kind}: {m['cores']} cores, relative RMS {m['relative_rms_all']:.4f} "
              f"(old per-connection {doc['old_per_connection']['relative_rms_all']:.4f}), {m['seconds']} s",
              flush=True)
    write_json(args.out, doc, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
