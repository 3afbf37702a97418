"""Simulation estimates its memory before it starts and refuses with what would fit (issue 14 §3)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from itnet_neuro.errors import SimulationError
from itnet_neuro.ir import save_network
from itnet_neuro.ir.examples import tiny_iterative_network
from itnet_neuro.sim import simulate
from itnet_neuro.sim.memory import check_run

ROOT = Path(__file__).resolve().parents[1]


def test_refused_before_the_input_is_encoded():
    """A Poisson input of 1000 images × 10⁶ ticks would be terabytes: refused without allocating it."""
    net = tiny_iterative_network()
    net = dataclasses.replace(net, input=dataclasses.replace(net.input, encoding="poisson"))
    x = np.zeros((1000,) + net.input.shape, np.float32)
    tracemalloc.start()
    with pytest.raises(SimulationError, match=r"TiB|GiB") as err:
        simulate(net, x, 10**6, backend="fast")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 << 20
    assert "--ticks" in str(err.value) or "--images" in str(err.value)


@pytest.mark.parametrize("backend,advice", [("nengo-dl", "--batch-size"), ("nengo", "--images"),
                                            ("reference", "--images"), ("brian2", "--images")])
def test_reference_simulators_refuse_with_what_fits(backend, advice):
    net = tiny_iterative_network()
    need = check_run(net, 64, 65536, backend, max_memory=1 << 50)
    with pytest.raises(SimulationError, match=advice) as err:
        check_run(net, 64, 65536, backend, max_memory=need // 2)
    msg = str(err.value)
    assert "GiB" in msg and "\n" not in msg
    fit = int(msg.rsplit(advice, 1)[1].split()[0].rstrip(")"))
    kw = {"batch": fit} if advice == "--batch-size" else {}
    images = 64 if advice == "--batch-size" else fit
    assert check_run(net, images, 65536, backend, max_memory=need // 2, **kw) <= need // 2


def test_fast_refuses_with_a_batch_size_that_fits():
    net = tiny_iterative_network(height=32, width=32)
    x = np.zeros((16,) + net.input.shape, np.float32)
    from itnet_neuro.sim.fast import estimate_memory

    need16 = estimate_memory(net.unroll(), 16, 1, 64, images=16, ticks=64)
    need1 = estimate_memory(net.unroll(), 1, 1, 64, images=16, ticks=64)
    budget = (need1 + need16) // 2
    with pytest.raises(SimulationError, match=r"--batch-size (\d+)") as err:
        simulate(net, x, 64, backend="fast", batch_size=16, max_memory=budget)
    fit = int(str(err.value).rsplit("--batch-size", 1)[1].split()[0])
    assert 1 <= fit < 16
    res = simulate(net, x, 64, backend="fast", batch_size=fit, max_memory=budget)
    assert res.images == 16


_MEASURE = r"""
import json, resource, sys
import numpy as np
import itnet_neuro.sim.fast as fast
from itnet_neuro.ir import load_network
from itnet_neuro.sim import simulate
net = load_network(sys.argv[1]); images, ticks, record = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
x = np.random.default_rng(0).uniform(0, 1, (images,) + net.input.shape).astype(np.float32)
kernels = fast.choose_kernels("auto", net.unroll(), images * ticks)  # what the measured run will pick
simulate(net, x[:1], 2, backend="fast", kernels=kernels)  # TensorFlow's one-off allocations go into the baseline
rss = lambda: next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
base, plan = rss(), {}
orig = fast._plan_batch
def spy(*a, **k):
    plan["args"], plan["kw"], plan["out"] = a, k, orig(*a, **k)
    return plan["out"]
fast._plan_batch = spy
simulate(net, x, ticks, backend="fast", record=record)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
(b, c), a = plan["out"], plan["args"]
kw = {k: v for k, v in plan["kw"].items() if k != "workers"}  # how the batch is shared out, not its memory
est = fast.estimate_memory(a[0], b, c, a[3], images=a[1], ticks=a[2], **kw)
print(json.dumps({"measured": peak - base, "estimate": est}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("images,ticks,record", [(4, 64, False), (8, 256, False), (4, 256, True)])
def test_fast_estimate_bounds_the_measured_peak(images, ticks, record, tmp_path):
    """The estimate is an upper bound of the resident memory the run added (measured in a fresh process)."""
    from mapping.testing import itnet_like_network

    path = tmp_path / "like.snn.h5"
    save_network(itnet_like_network(height=96, width=128, width_f=16, iterations=4), path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0")
    r = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(images), str(ticks), str(int(record))],
                       env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["measured"] <= m["estimate"], m


@pytest.mark.slow
def test_cli_refuses_then_runs_with_the_advice(tmp_path):
    """Under ITNET_NEURO_MAX_MEMORY the CLI refuses in one line; the batch size it names then runs."""
    from mapping.testing import itnet_like_network

    path = tmp_path / "like.snn.h5"
    save_network(itnet_like_network(height=48, width=64, width_f=16, iterations=4), path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
               ITNET_NEURO_MAX_MEMORY=str(305 << 20))  # 32 images in one batch need ~336 MiB, 8 ~300 MiB (fast.estimate_memory)
    argv = [sys.executable, "-m", "itnet_neuro", "simulate", str(path), "--images", "32", "--ticks", "32",
            "--batch-size", "32", "-o", str(tmp_path / "r.json")]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 1, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    assert "GiB" in line and "--batch-size" in line, line
    fit = line.rsplit("--batch-size", 1)[1].split()[0]
    argv[argv.index("32", argv.index("--batch-size"))] = fit
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
