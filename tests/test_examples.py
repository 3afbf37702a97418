"""The examples gallery: every script runs to its plot (slow: each takes up to ~3 minutes on 2 cores)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ["anytime_curve", "looped_vs_unrolled_loihi", "own_chip_toml", "nir_onto_chips", "classifier_from_npz"]


@pytest.mark.slow
@pytest.mark.parametrize("name", GALLERY)
def test_example_runs_to_its_plot(name, tmp_path):
    out = tmp_path / f"{name}.png"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 10_000
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["command"].startswith(f"python examples/{name}.py") and results["wall_seconds"] > 0


@pytest.mark.slow
def test_brainscales2_membranes_example(tmp_path):
    out = tmp_path / "bss2.png"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "brainscales2_membranes.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 10_000
