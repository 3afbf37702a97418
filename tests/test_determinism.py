"""The same inputs and seeds give byte-identical alloc.json and identical results.json figures (issue 14 §3).

Runs are separate processes with different ``PYTHONHASHSEED`` values, so that an iteration over a set
or a dict keyed by strings cannot hide in one process's hash order. Only ``wall_seconds`` (how long the
run took on this machine) may differ between two results files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from itnet_neuro.ir import save_network
from itnet_neuro.ir.examples import tiny_iterative_network

ROOT = Path(__file__).resolve().parents[1]


def _run(argv, cwd, hash_seed):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
               PYTHONHASHSEED=str(hash_seed))
    return subprocess.run([sys.executable, "-m", "itnet_neuro", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    from mapping.testing import itnet_like_network

    folder = tmp_path_factory.mktemp("nets")
    save_network(itnet_like_network(height=48, width=64, width_f=8, iterations=3), folder / "like.snn.h5")
    save_network(tiny_iterative_network(), folder / "tiny.snn.h5")
    return folder


@pytest.mark.parametrize("chip,code", [("loihi", 0), ("spinnaker", 0), ("truenorth", 3), ("dynapcnn", 3)])
def test_alloc_json_is_byte_identical(chip, code, network, tmp_path):
    outs = []
    for seed in (1, 2):
        out = tmp_path / f"alloc{seed}.json"
        r = _run(["allocate", str(network / "like.snn.h5"), "--chip", chip, "-o", str(out), "--plot", "none"],
                 tmp_path, seed)
        assert r.returncode == code, r.stderr[-2000:]
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def _figures(results: dict) -> str:
    results = dict(results)
    results.pop("wall_seconds")
    return json.dumps(results, sort_keys=True)


def test_results_figures_are_identical_in_process(network):
    """Two runs in one process: noise, mismatch and the Poisson-free encoding reseeded each time."""
    from itnet_neuro.sim.experiment import run_experiment

    runs = [run_experiment(str(network / "tiny.snn.h5"), chip="brainscales2", images=2, ticks=24, seed=3,
                           chip_seed=5) for _ in range(2)]
    assert _figures(runs[0]) == _figures(runs[1])


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--chip", "brainscales2", "--chip-seed", "5"], ["--chip", "truenorth"]])
def test_results_figures_are_identical_across_processes(extra, network, tmp_path):
    figures = []
    for seed in (1, 2):
        out = tmp_path / f"results{seed}.json"
        r = _run(["simulate", str(network / "tiny.snn.h5"), "--images", "2", "--ticks", "32", "--seed", "3",
                  "-o", str(out), *extra], tmp_path, seed)
        assert r.returncode == 0, r.stderr[-2000:]
        figures.append(_figures(json.loads(out.read_text())))
    assert figures[0] == figures[1]
