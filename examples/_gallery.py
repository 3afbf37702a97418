"""Shared by the example scripts: where their results go, and how each run is recorded.

Every example writes ``docs/examples/NAME.json`` (its numbers, the ``command`` that made them and its
wall time) and draws ``docs/examples/NAME.png`` from that results dict, so a README picture can always
be traced to the run that made it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere without installing

DOCS = ROOT / "docs" / "examples"


def out_path(name: str, given: str | None) -> Path:
    """``--out`` or ``docs/examples/NAME.png``."""
    return Path(given) if given else DOCS / f"{name}.png"


def record(results: dict, out: Path, script: str, argv, t0: float) -> Path:
    """Add ``command`` and ``wall_seconds`` and write ``OUT.json`` beside the plot."""
    from itnet_neuro.utils import write_json

    args = list(sys.argv[1:] if argv is None else argv)
    results["command"] = " ".join(["python", f"examples/{Path(script).name}"] + args)
    results["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return write_json(out.with_suffix(".json"), results)


def figure(out: Path, draw, *args) -> Path:
    """Draw with ``draw(fig, *args)`` into a PNG at ``out``."""
    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10, 4.2))
    draw(fig, *args)
    return save_figure(fig, out)


def parser(doc: str) -> argparse.ArgumentParser:
    """An example's argument parser, with ``--out`` (default ``docs/examples/NAME.png``)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--out", default=None, help="plot (PNG); the results JSON goes beside it")
    return p


def run_example(script: str, p: argparse.ArgumentParser, argv, run, draw) -> int:
    """Parse, ``run(**options)``, record the results JSON, draw the plot from it."""
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    out = out_path(Path(script).stem, args.out)
    results = run(**{k: v for k, v in vars(args).items() if k != "out"})
    record(results, out, script, argv, t0)
    figure(out, draw, results)
    print(f"wrote {out} ({results['wall_seconds']} s)")
    return 0
