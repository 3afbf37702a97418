"""Issue 11: a network realized core by core from its allocation runs the same in every backend.

The test network is allocated on a Loihi variant with small cores (so every population spans several
cores and its convolutions become position-dependent ``sparse`` connections), realized by
``Hardware.apply`` (per-core weights, per-neuron thresholds and biases, Loihi's reset to zero), given a
leak of 0.25 on some populations, and rounded onto a dyadic grid so that every backend's arithmetic is
exact. The reference loop is the reference; fast, nengo and brian2 must agree with it spike for spike.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from itnet_neuro.sim.core import simulate
from itnet_neuro.sim.testnets import dyadic_input, random_convnet


def _q(a, step):
    return None if a is None else (np.round(np.asarray(a, np.float64) / step) * step).astype(np.float32)


def _small_loihi(tmp_path, neurons: int = 48):
    from hardware_models import PACKAGED_CHIPS_DIR

    text = (PACKAGED_CHIPS_DIR / "loihi.toml").read_text()
    text = re.sub(r'^name = "loihi"', 'name = "loihi_small"', text, flags=re.M)
    text = re.sub(r"^max_neurons = \d+", f"max_neurons = {neurons}", text, flags=re.M)
    path = tmp_path / "loihi_small.toml"
    path.write_text(text)
    return path


def _dyadic_realized(net):
    """Weights on a 1/64 grid, thresholds (and maps) on 1/8 (at least 1/8), biases on 1/32."""
    pops = []
    for p in net.populations:
        thr = np.maximum(_q(p.threshold, 1 / 8), 1 / 8)
        tmap = None if p.threshold_map is None else np.maximum(_q(p.threshold_map, 1 / 8), 1 / 8)
        leak = 0.25 if p.name.startswith(("b", "mix")) else p.leak
        pops.append(dataclasses.replace(p, threshold=thr, threshold_map=tmap, bias=_q(p.bias, 1 / 32),
                                        bias_map=_q(p.bias_map, 1 / 32), leak=leak,
                                        v_min=_q(p.v_min, 1 / 8) if p.v_min is not None else None,
                                        v_max=_q(p.v_max, 1 / 8) if p.v_max is not None else None))
    conns = tuple(dataclasses.replace(c, weight=_q(c.weight, 1 / 64)) for c in net.connections)
    return dataclasses.replace(net, populations=tuple(pops), connections=conns)


@pytest.fixture(scope="module")
def realized(tmp_path_factory):
    from hardware_models.spec import load_chip
    from itnet_neuro.sim.hardware import Hardware
    from mapping import allocfile
    from mapping.allocate import plan

    chip = _small_loihi(tmp_path_factory.mktemp("chip"))
    net = random_convnet(0)
    alloc = allocfile.from_allocation(plan(net, str(chip), "unrolled"))
    hw = Hardware(load_chip(str(chip)), allocation=alloc)
    out = _dyadic_realized(hw.apply(net, "unrolled"))
    return out, hw.report


def test_the_realization_is_per_core(realized):
    net, report = realized
    assert report["realized"] == "per core, from the allocation"
    assert report["sparse_connections"], "no connection spans several cores: the test would prove nothing"
    assert any(c.op == "sparse" for c in net.connections)
    assert all(p.reset == "zero" for p in net.populations)  # Loihi's neuron
    assert any(p.leak == 0.25 for p in net.populations)


@pytest.mark.parametrize("backend", ["fast", "nengo", "brian2"])
def test_every_backend_runs_the_realized_network_spike_for_spike(realized, backend):
    if backend in ("nengo", "brian2"):
        pytest.importorskip(backend)
    net, _ = realized
    x = dyadic_input((1,) + net.input.shape, seed=7)
    ref = simulate(net, x, 16, backend="reference", record=True, seed=3)
    got = simulate(net, x, 16, backend=backend, record=True, seed=3)
    assert sum(ref.spikes_per_population.values()) > 50
    diff = {k: int((ref.trains[k] != got.trains[k]).sum()) for k in ref.trains}
    assert sum(diff.values()) == 0, diff
