"""Ctrl-C and SIGTERM during train, convert, allocate, simulate and demo (issue 14 §3).

Real ``itnet-neuro`` processes are signalled while they write an output: ``ITNET_NEURO_TEST_WRITE_DELAY``
holds each atomic write (:func:`itnet_neuro.utils.atomic_path`) between its temporary file and the
rename, the test waits until the temporary file exists and signals. The final name must then hold the
previous complete output (or nothing, if there was none), no temporary file may be left, and the
process must exit 130 (SIGINT) or 143 (SIGTERM) with one "interrupted" line. Training run again
afterwards resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = b'{"previous": "complete output"}\n'


def _start(argv, cwd, delay=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0")
    env.pop("ITNET_NEURO_TEST_WRITE_DELAY", None)
    if delay:
        env["ITNET_NEURO_TEST_WRITE_DELAY"] = str(delay)
    # SIGINT as at a terminal: a shell starts background jobs with SIGINT ignored, and the child would inherit
    # that (a clean-clone `.ci/run` started with `&` then slept through the test's 120 s write delay)
    return subprocess.Popen([sys.executable, "-m", "itnet_neuro", *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _temporaries(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.*")) if final.parent.exists() else []


def _wait_for_write(proc, final: Path, timeout: float = 900) -> None:
    end = time.monotonic() + timeout
    while not _temporaries(final):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"exited {proc.returncode} before writing {final.name}: {err[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"no temporary file of {final.name} within {timeout} s")
        time.sleep(0.02)


def interrupt_while_writing(argv, final: Path, sig, cwd: Path, *, previous: bytes | None = PREVIOUS) -> str:
    """Signal ``itnet-neuro ARGV`` while it writes ``final``; check what is left. Returns stdout."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if previous is not None:
        final.write_bytes(previous)
    proc = _start(argv, cwd, delay=120)
    _wait_for_write(proc, final)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert err.strip().splitlines()[-1].endswith("interrupted"), err[-2000:]
    assert "Traceback" not in err
    if previous is None:
        assert not final.exists()
    else:
        assert final.read_bytes() == previous
    assert not _temporaries(final)
    return out


@pytest.fixture(scope="module")
def ir_path(tmp_path_factory):
    from itnet_neuro.ir import save_network
    from itnet_neuro.ir.examples import tiny_iterative_network

    path = tmp_path_factory.mktemp("ir") / "tiny.snn.h5"
    save_network(tiny_iterative_network(), path)
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_allocate_interrupted(sig, ir_path, tmp_path):
    final = tmp_path / "alloc.json"
    interrupt_while_writing(["allocate", str(ir_path), "--chip", "loihi", "-o", str(final), "--plot", "none"],
                            final, sig, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_convert_interrupted(sig, tmp_path):
    final = tmp_path / "model.snn.h5"
    interrupt_while_writing(["convert", "-o", str(final), "--n-calibration", "4"], final, sig, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_simulate_interrupted(sig, ir_path, tmp_path):
    final = tmp_path / "results.json"
    interrupt_while_writing(["simulate", str(ir_path), "--ticks", "16", "--images", "1", "-o", str(final)],
                            final, sig, tmp_path)


@pytest.mark.slow
def test_simulate_interrupted_while_computing(ir_path, tmp_path):
    """Signalled before any write: the previous results stay, nothing else appears."""
    final = tmp_path / "results.json"
    final.write_bytes(PREVIOUS)
    proc = _start(["simulate", "--ticks", "100000", "--images", "1", "-o", str(final)], tmp_path)
    time.sleep(15)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and err.strip().splitlines()[-1].endswith("interrupted"), err[-2000:]
    assert final.read_bytes() == PREVIOUS and not _temporaries(final)


@pytest.mark.slow
def test_demo_interrupted(tmp_path):
    out = tmp_path / "demo"
    final = out / "synthetic_examples.png"  # the demo's first output
    stdout = interrupt_while_writing(["demo", "-o", str(out), "--images", "1", "--ticks", "8"], final,
                                     signal.SIGINT, tmp_path, previous=None)
    assert "demo stopped: step 1 exited 130" in stdout


@pytest.mark.slow
def test_training_interrupted_then_resumed_from_its_checkpoint(tmp_path):
    final = tmp_path / "model.h5"
    argv = ["train", "--preset", "tiny", "--set", "iterations=2", "--epochs", "2", "--n-train", "8", "--n-val", "4",
            "--batch-size", "4", "-o", str(final)]
    # stopped while writing the model after epoch 1: its checkpoint and state are already on disk
    interrupt_while_writing(argv, final, signal.SIGTERM, tmp_path, previous=None)
    state = json.loads((tmp_path / "model.h5.ckpt" / "state.json").read_text())
    assert state["epoch"] == 1
    proc = _start(argv, tmp_path)
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err[-2000:]
    assert "resuming" in err and "after epoch 1 of 2" in err
    state = json.loads((tmp_path / "model.h5.ckpt" / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    from itnet_neuro.model.io import read_config

    assert read_config(final).iterations == 2
