"""NIR out and back in for the shipped ItNet: node counts, file size, round-trip spike agreement.

Writes ``benchmarks/results/nir_export.json``: the export's nodes by type, edges, file size and
largest weight; the time to export and to ``nir.read`` it; the spikes of the read graph run by the
NIR reference simulator (:mod:`itnet_neuro.sim.nir_graph`) against the IR's ``reference`` backend
(float64, ideal chip) on one synthetic image; and the network ``convert MODEL.nir`` builds from the
file (block re-folded, neurons and synapses as the original).

    python benchmarks/bench_nir.py [--ticks 32]
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticks", type=int, default=32)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nir_export.json"))
    args = p.parse_args(argv)
    import nir

    from itnet_neuro.convert import convert_model
    from itnet_neuro.convert.nir_import import from_nir
    from itnet_neuro.export import export_nir
    from itnet_neuro.resources import SHIPPED_MODEL
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.experiment import load_images
    from itnet_neuro.sim.nir_graph import simulate_nir
    from itnet_neuro.utils import write_json

    net = convert_model(SHIPPED_MODEL, n_calibration=8).network
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shipped.nir"
        t0 = time.perf_counter()
        export_nir(net, path)
        t_export = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        graph = nir.read(str(path))
        t_read = time.perf_counter() - t0
        back, report = from_nir(path)
    kinds = collections.Counter(type(n).__name__ for n in graph.nodes.values())
    weights = {k: int(np.asarray(n.weight).size) for k, n in graph.nodes.items() if hasattr(n, "weight")}
    x, _, _ = load_images("synthetic", net, 1)
    t0 = time.perf_counter()
    run = simulate_nir(graph, x, args.ticks)
    t_nir = time.perf_counter() - t0
    ref = simulate(net, x, args.ticks, backend="reference", record=True, grid=[args.ticks])
    total = agree = 0
    for name, train in ref.trains.items():
        total += train.size
        agree += int(np.count_nonzero(run.spikes[name] == train))
    unrolled = net.unroll()
    results = {
        "command": "python benchmarks/bench_nir.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, {platform.python_version()}, nir {nir.version}",
        "network": {"name": net.name, "neurons": net.n_neurons, "synapses": net.n_synapses,
                    "unrolled_populations": len(unrolled.populations),
                    "unrolled_connections": len(unrolled.connections)},
        "export": {"nodes": dict(kinds), "nodes_total": len(graph.nodes), "edges": len(graph.edges),
                   "file_bytes": size, "weight_elements_total": int(sum(weights.values())),
                   "largest_weight": max(weights.items(), key=lambda kv: kv[1]),
                   "resampling_nodes": sum(k.startswith("resample:") for k in graph.nodes),
                   "export_seconds": round(t_export, 2), "nir_read_seconds": round(t_read, 2),
                   "before": "NIR export refused: the first up-sampling as one dense matrix had 28.3 M elements"},
        "round_trip": {"ticks": args.ticks, "images": 1, "neuron_ticks": total, "identical": agree,
                       "agreement": agree / total, "spikes": int(sum(t.sum() for t in ref.trains.values())),
                       "nir_simulation_seconds": round(t_nir, 1),
                       "reference": "IR reference backend (float64), ideal chip, unrolled"},
        "import": {"refolded": report["refolded"], "populations": len(back.populations),
                   "connections": len(back.connections), "neurons": back.n_neurons, "synapses": back.n_synapses,
                   "same_as_original": (back.n_neurons, back.n_synapses, len(back.connections))
                   == (net.n_neurons, net.n_synapses, len(net.connections))},
    }
    write_json(args.out, results)
    print(f"wrote {args.out}: {len(graph.nodes)} nodes, {size / 1e6:.1f} MB, agreement {agree / total:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
