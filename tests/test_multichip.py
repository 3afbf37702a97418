"""Several chips: cores fill chips one after another, the chip count is checked against the system's, and the
spikes that cross chips are counted (issue 12; BrainScaleS-2's multi-chip system)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from hardware_models.spec import load_chip
from mapping.allocate import plan
from mapping.testing import random_chip, random_network


def _with_chips(spec, cpc: int, max_chips=None, **core):
    rows = int(math.ceil(math.sqrt(cpc)))
    chip = replace(spec.chip, cores_per_chip=cpc, mesh_rows=rows, mesh_cols=-(-cpc // rows), max_chips=max_chips,
                   shared_memory_bytes=None)
    return replace(spec, name=f"{spec.name}-{cpc}", chip=chip, core=replace(spec.core, **core), path="")


def _chain():
    """x → a → b → c, four neurons each, every neuron fed by all four of the layer before (1×1 conv)."""
    from itnet_neuro.ir.graph import Connection, InputSpec, Network, Population

    def pop(name):
        return Population(name, (4, 1, 1), threshold=np.ones((1, 4)), bias=np.zeros((1, 4)),
                          decode_scale=np.ones((1, 4)))

    w = np.full((4, 4, 1, 1), 0.25)
    conns = (Connection("x_a", "x", "a", "conv2d", w), Connection("a_b", "a", "b", "conv2d", w),
             Connection("b_c", "b", "c", "conv2d", w))
    return Network("chain", InputSpec("x", (4, 1, 1)), (pop("a"), pop("b"), pop("c")), conns, ())


@pytest.mark.parametrize("cpc, chips, inter", [(1, 3, 8.0), (2, 2, 4.0), (3, 1, 0.0)])
def test_chain_on_cores_of_four_neurons_hand_worked(cpc, chips, inter):
    # One layer per core (4 neurons each); b and c each receive 4 spikes per tick (rate 1) from the layer
    # before (the input x is not on a chip). cpc = 1: a|b|c, both hops cross; 2: ab|c, only b → c; 3: abc.
    spec = _with_chips(load_chip("brainscales2"), cpc, max_neurons=4)
    a = plan(_chain(), spec, "unrolled")
    assert (a.cores_used, a.chips_used) == (3, chips)
    assert a.traffic["spikes"] == 8.0 and a.traffic["inter_chip_spikes"] == inter


def test_too_many_chips_is_a_violation_naming_both_counts():
    spec = _with_chips(load_chip("brainscales2"), 1, max_chips=2, max_neurons=4)
    a = plan(_chain(), spec, "unrolled")
    chips = [v for v in a.violations if v.resource == "chips"]
    assert not a.feasible and len(chips) == 1 and (chips[0].value, chips[0].limit) == (3, 2)
    assert chips[0].hint.startswith(f"no allocation fits on fewer than {a.lower_bound} chips")  # one core per chip
    assert plan(_chain(), _with_chips(load_chip("brainscales2"), 2, max_chips=2, max_neurons=4), "unrolled").feasible


@pytest.mark.parametrize("seed", range(12))
def test_chips_fill_one_after_another_and_cross_chip_spikes_are_bounded(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, max_layers=3, max_channels=6, max_hw=7)
    spec = random_chip(rng, "brainscales2")
    if spec.chip.cores_per_chip is None:
        spec = _with_chips(spec, int(rng.integers(2, 9)))
    spec = replace(spec, chip=replace(spec.chip, shared_memory_bytes=None))
    a = plan(net, spec, "unrolled")
    chip = a.core_chip[a.core_chip >= 0]
    cpc = a.limits.cores_per_chip
    assert np.all(np.diff(chip) >= 0) and np.bincount(chip).max() <= cpc
    assert a.chips_used == math.ceil(a.cores_used / cpc)  # without shared memory only the core count fills a chip
    assert any(v.resource == "chips" for v in a.violations) == (a.chips_used > a.limits.max_chips)
    tr = a.traffic
    if "spikes" in tr:
        assert 0.0 <= tr["inter_chip_spikes"] <= tr["spikes"] + 1e-9
        if a.chips_used == 1:
            assert tr["inter_chip_spikes"] == 0.0
        # One core per chip: a spike crosses chips unless its producer is on the consumer's own core, so no
        # grouping of the same cores into chips sends more across.
        one = plan(net, _with_chips(spec, 1), "unrolled")
        if np.array_equal(one.tile_core, a.tile_core):
            assert one.traffic["spikes"] == pytest.approx(tr["spikes"])
            assert one.traffic["inter_chip_spikes"] >= tr["inter_chip_spikes"] - 1e-9

