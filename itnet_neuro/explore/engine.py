"""Run a sweep's points on Dask distributed (a local cluster, or a running one), or serially in-process.

Each point is one independent task (:func:`itnet_neuro.explore.point.run_point`); rows come back as
they finish (``as_completed``) and are appended to the results file at once, so a killed sweep resumes
from there. A point that fails is a row with its error; a worker that dies takes only its point with it
(recorded as an error, retried by the next run).

Engines (``scheduler``):

- ``"local"``: a :class:`distributed.LocalCluster` of worker *processes* (nanny-spawned, one thread each:
  TensorFlow is not fork-safe), by default one per CPU core. The model is converted on a worker too, so
  the scheduler and client process never import TensorFlow.
- ``"tcp://HOST:PORT"`` (any Dask scheduler address): a running cluster. Its workers need this package
  installed and ``cache`` on a filesystem they all see (allocations are cached there).
- ``"serial"``: in this process, one point after another (the reference the cluster must reproduce).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from itnet_neuro.explore.point import convert_once, run_point
from itnet_neuro.explore.results import ResultsLog
from itnet_neuro.explore.sweep import Sweep

log = logging.getLogger("itnet_neuro.explore")


@dataclass
class SweepRun:
    """What :func:`run_sweep` did: the results file's rows, and how the run went."""

    log: ResultsLog
    engine: str
    workers: int
    ran: int
    resumed: int
    wall_seconds: float
    errors: list = field(default_factory=list)


def default_workers() -> int:
    """One worker process per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sweep(sweep: Sweep, results: str | os.PathLike, *, scheduler: str = "local", workers: int | None = None,
              cache: str | os.PathLike, fresh: bool = False) -> SweepRun:
    """Run every point of ``sweep`` not already in ``results`` (JSON lines, appended as points finish)."""
    t0 = time.perf_counter()
    cache = str(Path(cache).resolve())
    engine = _Serial() if scheduler == "serial" else _Dask(scheduler, workers)
    with engine:
        blob, net_hash = engine.call(convert_once, sweep.model, sweep.calibration, cache)
        header = {"settings": sweep.settings(), "network_hash": net_hash}
        rows = ResultsLog.open(results, header, fresh=fresh)
        todo = [p for p in sweep.points() if not rows.done(p.key)]
        resumed = len(sweep.points()) - len(todo)
        if resumed:
            log.info(f"resuming: {resumed} of {len(sweep.points())} points already in {results}")
        settings = sweep.settings()
        errors = []
        from itnet_neuro.utils import progress

        with progress(total=len(todo), desc=f"explore ({engine.name})", unit="point", leave=True) as bar:
            for row in engine.map(run_point, todo, blob, net_hash, settings, cache, sweep.allocate_only):
                rows.append(row)
                if row["status"] == "error":
                    errors.append(row)
                    log.warning(f"{row['key']}: {row['error']}")
                bar.update(1)
    return SweepRun(rows, engine.name, engine.workers, len(todo), resumed, time.perf_counter() - t0, errors)


def skip_reason(allocate_only: dict, point) -> str | None:
    """Why ``point`` is allocated but not simulated: ``allocate_only`` keyed by chip or ``chip|schedule``."""
    return allocate_only.get(f"{point.chip}|{point.schedule}") or allocate_only.get(point.chip)


class _Serial:
    name, workers = "serial", 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def call(fn, *args):
        return fn(*args)

    @staticmethod
    def map(fn, points, blob, net_hash, settings, cache, allocate_only):
        for p in points:
            yield fn(blob, net_hash, p, settings, cache, skip_reason(allocate_only, p))


class _Dask:
    """A Dask client on a new local cluster or on ``address``."""

    def __init__(self, scheduler: str, workers: int | None):
        self.scheduler, self.workers, self.cluster, self.client = scheduler, workers, None, None

    @property
    def name(self) -> str:
        return "local cluster" if self.cluster is not None else f"dask {self.scheduler}"

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            from itnet_neuro.errors import NotBuiltError

            raise NotBuiltError(f"the Dask engine needs distributed ({exc}): pip install 'itnet-neuro[explore]', or "
                                "run with --scheduler serial") from None
        if self.scheduler == "local":
            self.workers = self.workers or default_workers()
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            from itnet_neuro.errors import ValidationError

            try:
                self.client = Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValidationError(f"--scheduler {self.scheduler}: no Dask scheduler answers there ({exc}); give a "
                                      "running scheduler's address, 'local' or 'serial'") from None
            self.workers = len(self.client.scheduler_info()["workers"])
        return self

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False

    def call(self, fn, *args):
        """``fn(*args)`` on a worker: the first task, so a cluster without this package fails here, clearly."""
        from itnet_neuro.errors import ItnetNeuroError

        try:
            return self.client.submit(fn, *args, pure=False).result()
        except ItnetNeuroError:
            raise
        except (RuntimeError, ModuleNotFoundError) as exc:
            from itnet_neuro import __version__
            from itnet_neuro.errors import NotBuiltError

            raise NotBuiltError(f"the Dask cluster at {self.scheduler} cannot run itnet-neuro's tasks "
                                f"({str(exc).splitlines()[0]}); its scheduler and workers need itnet-neuro "
                                f"{__version__} installed, with the [explore] extra") from None

    def map(self, fn, points, blob, net_hash, settings, cache, allocate_only):
        from distributed import as_completed

        if not points:
            return
        shared = self.client.scatter(blob, broadcast=True)
        futures = {self.client.submit(fn, shared, net_hash, p, settings, cache, skip_reason(allocate_only, p),
                                      pure=False, retries=0): p for p in points}
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task could not run at all
                yield {"key": p.key, "chip": p.chip, "schedule": p.schedule, "phase_ticks": p.phase_ticks,
                       "status": "error", "error": f"{type(exc).__name__}: {exc}"}
            fut.release()
