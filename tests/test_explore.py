"""``itnet-neuro explore`` (issue 18): the sweep, its engines, its resumable results file, its fronts.

The references: the Pareto front against a brute-force O(n²) dominance check; the Dask engine's table
against the serial run's (same points, same rows); a resumed run's table against an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from itnet_neuro.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: Row fields that measure the run, not the point (timings, whether the cache answered).
RUN_FIELDS = {"wall_seconds", "simulation_seconds", "allocation_cached", "traceback"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny ItNet-shaped IR (11 classes, so synthetic labels score it) and a broken chip TOML."""
    from itnet_neuro.ir import save_network
    from itnet_neuro.ir.examples import tiny_iterative_network

    d = tmp_path_factory.mktemp("explore")
    save_network(tiny_iterative_network(16, 16, classes=11, iterations=3), d / "tiny.snn.h5")
    (d / "broken.toml").write_text('name = "broken"\n[chip\n')  # exists, so the sweep accepts it; fails to load
    return d


def _points(rows):
    return [{k: v for k, v in r.items() if k not in RUN_FIELDS} for r in rows]


def _table(prefix: Path) -> dict:
    return json.loads(prefix.with_suffix(".json").read_text())


def _argv(d: Path, out: str, chips: str, *extra) -> list[str]:
    return ["explore", str(d / "tiny.snn.h5"), "--chips", chips, "--images", "1", "-o", str(d / out),
            "--cache", str(d / "cache"), "--no-plots", *extra]


def test_pareto_front_matches_brute_force():
    from itnet_neuro.explore.report import pareto

    rng = np.random.default_rng(0)
    for _ in range(200):
        pts = [tuple(map(float, p)) for p in rng.integers(0, 6, (rng.integers(1, 12), 2))]
        dominated = {i for i, (x, y) in enumerate(pts)
                     if any((a <= x and b >= y) and (a, b) != (x, y) for a, b in pts)}
        want = {p for i, p in enumerate(pts) if i not in dominated}
        got = [pts[i] for i in pareto(pts)]
        assert set(got) == want  # every non-dominated value, once
        assert len(got) == len(want) and got == sorted(got)


def test_sweep_file_and_bad_input(tmp_path, capsys):
    from itnet_neuro.cli.explore import add_arguments, build_sweep
    import argparse

    f = tmp_path / "s.toml"
    f.write_text('chips = ["ideal", "loihi"]\nphase_ticks = [8, "auto"]\nimages = 3\n'
                 '[allocate_only]\nloihi = "slow"\n')
    p = argparse.ArgumentParser()
    add_arguments(p)
    sweep = build_sweep(p.parse_args(["--sweep", str(f), "--schedules", "looped"]))
    assert [q.key for q in sweep.points()] == ["ideal|looped|8", "ideal|looped|auto", "loihi|looped|8",
                                               "loihi|looped|auto"]
    assert sweep.images == 3 and sweep.allocate_only == {"loihi": "slow"}
    from itnet_neuro.explore.engine import skip_reason

    f.write_text('chips = ["ideal", "loihi"]\n[allocate_only]\n"loihi|unrolled" = "slow"\n')
    sweep = build_sweep(p.parse_args(["--sweep", str(f)]))
    assert [skip_reason(sweep.allocate_only, q) for q in sweep.points()] == [None, None, None, "slow"]
    for text, msg in (('chipz = ["ideal"]\n', "unknown key(s) chipz"), ('chips = ["nochip"]\n', "unknown chip 'nochip'"),
                      ('chips = ["ideal"]\nphase_ticks = [0]\n', "integer >= 1 or 'auto'"),
                      ('chips = ["ideal"]\nschedules = ["loop"]\n', "schedules must be among"),
                      ('chips = ["ideal"]\n[allocate_only]\n"ideal|loop" = "x"\n', "CHIP|SCHEDULE")):
        f.write_text(text)
        assert main(["explore", "--sweep", str(f), "-o", str(tmp_path / "x")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0] and str(f) in err[0]


def test_results_log_drops_a_partial_last_line(tmp_path):
    from itnet_neuro.explore.results import ResultsLog

    path = tmp_path / "r.jsonl"
    log = ResultsLog.open(path, {"settings": {"a": 1}, "network_hash": "h"})
    log.append({"key": "p1", "status": "ok"})
    log.append({"key": "p2", "status": "error", "error": "boom"})
    with open(path, "a") as f:
        f.write('{"key": "p3", "stat')  # a kill in the middle of a write
    again = ResultsLog.open(path, {"settings": {"a": 1}, "network_hash": "h"})
    assert sorted(again.rows) == ["p1", "p2"] and again.done("p1") and not again.done("p2")
    assert path.read_text().endswith("}\n")
    with pytest.raises(ValueError, match="other settings"):
        ResultsLog.open(path, {"settings": {"a": 2}, "network_hash": "h"})


def test_serial_sweep_records_a_failing_point_and_caches(tiny):
    argv = _argv(tiny, "serial_fail", f"ideal,{tiny / 'broken.toml'}", "--workers", "0", "--phase-ticks", "4",
                 "--schedules", "unrolled")
    assert main(argv) == 1  # a point failed: recorded, the sweep went on, the exit code says so
    t = _table(tiny / "serial_fail")
    ideal, broken = t["rows"]
    assert ideal["status"] == "ok" and ideal["fits"] and ideal["ticks"] == 3 * 4 and len(ideal["miou"]) == 3
    assert broken["status"] == "error" and "not valid TOML" in broken["error"]
    assert main(argv) == 1  # the rerun retries only the failed point; the allocation came from the cache
    t2 = _table(tiny / "serial_fail")
    assert t2["resumed"] == 1 and t2["ran"] == 1 and _points(t2["rows"]) == _points(t["rows"])
    csv = (tiny / "serial_fail.csv").read_text().splitlines()
    assert csv[0].startswith("chip,chip_kind,schedule") and len(csv) == 3


@pytest.mark.slow
def test_local_cluster_gives_the_serial_table(tiny):
    chips = f"ideal,loihi,truenorth,{tiny / 'broken.toml'}"
    assert main(_argv(tiny, "ref", chips, "--workers", "0", "--phase-ticks", "4,8")) == 1
    assert main(_argv(tiny, "dask", chips, "--workers", "2", "--phase-ticks", "4,8")) == 1
    ref, got = _table(tiny / "ref"), _table(tiny / "dask")
    assert got["engine"] == "local cluster" and got["workers"] == 2
    assert _points(got["rows"]) == _points(ref["rows"])
    statuses = {r["status"] for r in ref["rows"]}
    assert statuses == {"ok", "infeasible", "error"}  # truenorth looped cannot switch parameters


@pytest.mark.slow
def test_killed_sweep_resumes(tiny):
    chips = "ideal,loihi,truenorth"
    argv = _argv(tiny, "killed", chips, "--workers", "2", "--phase-ticks", "4,8,12")
    env = dict(os.environ, PYTHONPATH=str(ROOT), ITNET_NEURO_PROGRESS="0")
    proc = subprocess.Popen([sys.executable, "-m", "itnet_neuro", *argv], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tiny / "killed.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and the worker processes
    proc.wait()
    done = len(results.read_text().splitlines()) - 1
    assert 2 <= done < 18, "the sweep must have been killed part-way"
    assert main(argv) == 0
    t = _table(tiny / "killed")
    assert t["resumed"] >= 2 and t["resumed"] + t["ran"] == t["points"] == 18
    assert main(_argv(tiny, "unkilled", chips, "--workers", "0", "--phase-ticks", "4,8,12")) == 0
    assert _points(t["rows"]) == _points(_table(tiny / "unkilled")["rows"])


def test_cache_keys_change_with_the_code_that_made_them(tmp_path):
    """A new version of the converter or allocator must not reuse a cached result: the key hashes the source."""
    from itnet_neuro.explore.sweep import code_hash

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    before = code_hash.__wrapped__(str(pkg))
    assert code_hash.__wrapped__(str(pkg)) == before
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert code_hash.__wrapped__(str(pkg)) != before
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "sub" / "b.py").rename(pkg / "sub" / "c.py")
    assert code_hash.__wrapped__(str(pkg)) != before  # a renamed file is another program


def test_alloc_key_includes_the_allocator_source(monkeypatch):
    from itnet_neuro.explore import point as pt
    from itnet_neuro.explore.sweep import Point

    p = Point(chip="loihi", schedule="unrolled", phase_ticks=16)
    k1 = pt.alloc_key("net", p, "none")
    monkeypatch.setattr(pt, "_code", lambda *packages: "another-version")
    assert pt.alloc_key("net", p, "none") != k1
