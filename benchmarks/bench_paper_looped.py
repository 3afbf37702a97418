"""The full-size ``paper-camvid-shared`` preset looped on Loihi with the phase length measured: time and memory.

The paper's shared-weight ItNet (480×360 input, f = 51, N = 16) with random weights (Keras initializers,
the config's seed; there is no trained full-size model here, so its accuracy means nothing — this
measures cost), converted with 2 synthetic calibration images. Each step runs in its own process, so
its peak RSS (imported libraries included) is its own:

1. ``phase``: the allocation on Loihi with ``--phase-ticks auto`` (regenerating state buffer): the
   probe and verification simulations of :func:`itnet_neuro.sim.phase.choose_phase_ticks` on 2 images;
2. ``simulate``: one image, looped with the measured phase (16 phases), fast backend, default decoder.

    nice -n 5 python benchmarks/bench_paper_looped.py     # writes benchmarks/results/paper_looped.json
"""

from __future__ import annotations

import argparse
import json
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


def worker(step: str, net_path: Path, alloc_path: Path, out: Path) -> None:
    """One step in this process; writes its figures to ``out``."""
    from itnet_neuro.ir.io import load_network

    net = load_network(net_path)
    t0 = time.perf_counter()
    if step == "phase":
        from itnet_neuro.sim.phase import plan_auto_phase
        from mapping import allocfile

        alloc = plan_auto_phase(net, "loihi", "looped", images=2)
        allocfile.write(alloc, alloc_path)
        res = {"phase_ticks": alloc.phase_ticks, "feasible": alloc.feasible, "cores": alloc.cores_used,
               "chips": alloc.chips_used, "state_buffer": alloc.view.state_buffer, "choice": alloc.phase_choice}
    else:
        from itnet_neuro.sim.experiment import run_experiment

        r = run_experiment(network=net, alloc=str(alloc_path), images=1, keep_predictions=False)
        res = {"ticks": r["ticks"], "phase_ticks": r["phase_ticks"], "state_buffer": r["state_buffer"],
               "decoder": r["decoder"]["spec"], "simulation_seconds": r["wall_seconds"]["simulation"],
               "spikes_per_image": r["spikes"]["per_image"], "simulator": r["simulator"],
               "first_output_tick": [o["first_output_tick"] for o in r["outputs"]]}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.write_text(json.dumps(res))


def _step(step: str, net_path: Path, alloc_path: Path, tmp: Path) -> dict:
    out = tmp / f"{step}.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--worker", step, str(net_path), str(alloc_path), str(out)],
                   check=True, cwd=ROOT, timeout=7200)
    res = json.loads(out.read_text())
    res["process_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{step}: {res['seconds']} s, peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "paper_looped.json"))
    args = ap.parse_args(argv)
    if args.worker:
        step, net_path, alloc_path, out = args.worker
        worker(step, Path(net_path), Path(alloc_path), Path(out))
        return 0
    from bench_paper_unrolled import convert_preset as _convert
    from common import finish, header

    doc = header("nice -n 5 python benchmarks/bench_paper_looped.py")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net_path, alloc_path = tmp / "paper.snn.h5", tmp / "alloc.json"
        doc["network"] = _convert(PRESET, net_path, 2)
        doc["phase"] = _step("phase", net_path, alloc_path, tmp)
        doc["simulate"] = _step("simulate", net_path, alloc_path, tmp)
    finish(doc, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main(sys.argv[1:]))
