"""Start-up (issue 17 §2): the first tick is recorded against the process's start, and a run imports only
what it needs."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from itnet_neuro.ir.examples import tiny_iterative_network

ROOT = Path(__file__).resolve().parents[1]

AGE_AFTER_SLEEP = """
import time
time.sleep(0.4)
from itnet_neuro.utils import process_age
print(process_age())
"""


def test_process_age_counts_from_the_process_start():
    """Against the clock outside: at least the child's own sleep, at most the wall time around the child
    (plus the 10 ms resolution of the kernel's start time)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", AGE_AFTER_SLEEP], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    age = float(proc.stdout.split()[-1])
    assert 0.4 <= age <= wall + 0.011


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    from itnet_neuro.ir.io import save_network

    path = tmp_path_factory.mktemp("startup") / "m.snn.h5"
    save_network(tiny_iterative_network(24, 32), path)
    return path


@pytest.mark.parametrize("backend", ["fast", "reference", "nengo", "brian2"])
def test_cli_records_the_first_tick_after_the_process_start(tiny_file, tmp_path, backend):
    """``results.json`` ``wall_seconds.first_tick_after_process_start`` (the simulator's
    ``info["first_tick_after_s"]``): positive, and below the whole process's wall time measured outside it."""
    if backend in ("nengo", "brian2"):
        pytest.importorskip(backend)
    out = tmp_path / "r.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "itnet_neuro", "simulate", str(tiny_file), "--chip", "ideal",
                           "--backend", backend, "--images", "1", "--ticks", "16", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    first = r["wall_seconds"]["first_tick_after_process_start"]
    assert 0 < first < wall


HEAVY_AFTER_RUN = """
import sys
from itnet_neuro.cli import main
rc = main(["simulate", sys.argv[1], "--chip", "ideal", "--images", "1", "--ticks", "16", "-o", sys.argv[2]])
heavy = ("tensorflow", "keras", "matplotlib", "nengo", "nengo_dl", "brian2", "scipy", "asyncio",
         "itnet_neuro.convert", "itnet_neuro.sim.plots", "itnet_neuro.cli.train", "itnet_neuro.cli.explore")
print(rc, ",".join(m for m in heavy if m in sys.modules) or "-")
"""


def test_short_simulate_imports_only_what_it_runs(tiny_file, tmp_path):
    """No plot asked, numpy kernels: no TensorFlow, plotting, peer simulator, converter, asyncio (tqdm.auto's),
    nor the other subcommands' modules."""
    proc = subprocess.run([sys.executable, "-c", HEAVY_AFTER_RUN, str(tiny_file), str(tmp_path / "r.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["0", "-"], proc.stdout[-2000:]


EXIT_WITH_TF = """
import atexit, sys
from itnet_neuro.utils import import_tf
import_tf()
import itnet_neuro.cli as cli
cli.main = lambda: (print("ran", end=" "), 3)[1]
atexit.register(lambda: print("atexit", flush=True))
cli.entry_point()
print("not reached")
"""


def test_entry_point_with_tensorflow_loaded_exits_with_the_code_after_atexit():
    """The exit that skips TensorFlow's teardown keeps the exit code, the output and the atexit handlers."""
    proc = subprocess.run([sys.executable, "-c", EXIT_WITH_TF], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout.strip()) == (3, "ran atexit"), proc.stderr[-2000:]


def test_cli_run_on_tensorflow_kernels_completes(tiny_file, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "itnet_neuro", "simulate", str(tiny_file), "--chip", "ideal",
                           "--kernels", "tensorflow", "--workers", "2", "--images", "3", "--ticks", "16", "-o",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith(f"wrote {out}")
    sim = json.loads(out.read_text())["simulator"]
    assert (sim["kernels"], sim["workers"]) == ("tensorflow", 2)


def test_the_hdf5_check_walks_the_same_bytes_once(tmp_path, monkeypatch):
    """A file that passed is not walked again (a new process reads the remembered pass: ``_CHECKED``
    cleared); other bytes, another limit or a file that failed are walked every time."""
    from itnet_neuro import untrusted
    from itnet_neuro.errors import SchemaError
    from itnet_neuro.ir.io import save_network

    monkeypatch.setenv("ITNET_NEURO_CACHE", str(tmp_path / "cache"))
    children = []
    real_run = subprocess.run
    monkeypatch.setattr(untrusted.subprocess, "run", lambda *a, **k: children.append(a) or real_run(*a, **k))

    def check(path, **kw):
        monkeypatch.setattr(untrusted, "_CHECKED", {})  # as in a new process
        untrusted.check_hdf5(path, SchemaError, **kw)

    path = tmp_path / "m.snn.h5"
    save_network(tiny_iterative_network(24, 32), path)
    check(path)
    check(path)
    assert len(children) == 1 and len(list((tmp_path / "cache" / "checked-hdf5").iterdir())) == 1
    check(path, max_bytes=1 << 20)
    assert len(children) == 2
    save_network(tiny_iterative_network(16, 16), path)
    check(path)
    assert len(children) == 3
    bad = tmp_path / "bad.snn.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    for _ in range(2):
        with pytest.raises(SchemaError):
            check(bad)
    assert len(children) == 5 and len(list((tmp_path / "cache" / "checked-hdf5").iterdir())) == 3
