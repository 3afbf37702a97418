"""``itnet-neuro explore``: a design-space sweep (chip × schedule × phase length) of one ItNet.

:mod:`~itnet_neuro.explore.sweep` defines the grid, :mod:`~itnet_neuro.explore.point` runs one point
(allocate, cached; simulate), :mod:`~itnet_neuro.explore.engine` runs them on Dask distributed or
serially, :mod:`~itnet_neuro.explore.results` keeps the append-only results file that a killed run
resumes from, :mod:`~itnet_neuro.explore.report` writes the table and the Pareto plots.
Importing this package imports neither TensorFlow nor Dask.
"""

from itnet_neuro.explore.sweep import Point, Sweep, make_sweep, read_sweep_file

__all__ = ["Point", "Sweep", "make_sweep", "read_sweep_file", "explore"]


def explore(sweep: Sweep, output, *, scheduler: str = "local", workers: int | None = None, cache=None,
            fresh: bool = False, plots: bool = True, command: str | None = None) -> dict:
    """Run ``sweep`` and write ``OUTPUT.jsonl`` (the append-only results), ``OUTPUT.csv``, ``OUTPUT.json``
    and, with ``plots``, ``OUTPUT_{cores,energy,latency}.png``. Returns the JSON table."""
    from pathlib import Path

    from itnet_neuro.explore.engine import run_sweep
    from itnet_neuro.explore.report import plot_fronts, table_rows, to_csv
    from itnet_neuro.utils import atomic_path, write_json

    out = Path(output)
    cache = Path(cache) if cache is not None else default_cache()
    run = run_sweep(sweep, out.with_suffix(".jsonl"), scheduler=scheduler, workers=workers, cache=cache, fresh=fresh)
    rows = table_rows(sweep.points(), run.log.rows)
    table = {"command": command, "settings": sweep.settings(), "allocate_only": sweep.allocate_only,
             "network_hash": run.log.header.get("network_hash"), "engine": run.engine, "workers": run.workers,
             "points": len(sweep.points()), "ran": run.ran, "resumed": run.resumed,
             "wall_seconds": round(run.wall_seconds, 1), "rows": rows}
    write_json(out.with_suffix(".json"), table)
    with atomic_path(out.with_suffix(".csv")) as tmp:
        tmp.write_text(to_csv(rows))
    if plots:
        title = f"{sweep.images} {sweep.data} image(s), seed {sweep.seed}"
        table["plots"] = [str(p) for p in plot_fronts(rows, out.parent / out.stem, title)]
    return table


def default_cache():
    """``$ITNET_NEURO_CACHE/explore``, else ``~/.cache/itnet-neuro/explore``."""
    import os
    from pathlib import Path

    root = os.environ.get("ITNET_NEURO_CACHE") or Path.home() / ".cache" / "itnet-neuro"
    return Path(root) / "explore"
