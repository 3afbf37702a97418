"""Memory-based cores (SpiNNaker 1/2): the core's own memory, the real-time budget of synaptic events,
delay-extension cores for the looped state buffer."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm
from itnet_neuro.ir.examples import tiny_iterative_network
from mapping.allocate import plan


def _spec(chip, core=None, neuron=None):
    from hardware_models.spec import load_chip

    spec = load_chip(chip)
    return dataclasses.replace(spec, core=dataclasses.replace(spec.core, **(core or {})),
                               neuron=dataclasses.replace(spec.neuron, **(neuron or {})))


def dense_net(n_in=100, n_out=300):
    """input (n_in) → dense → (n_out) neurons, read out."""
    rng = np.random.default_rng(0)
    pop = Population("d", (n_out, 1, 1), threshold=np.ones((1, n_out)), bias=np.zeros((1, n_out)),
                     decode_scale=np.ones((1, n_out)))
    conn = Connection("x_d", "x", "d", "dense", rng.normal(0, 1, (n_out, n_in)))
    return Network("dense", InputSpec("x", (n_in, 1, 1)), (pop,), (conn,),
                   (Readout("r", 0, (ReadoutTerm("d", np.ones((1, n_out))),), np.zeros(1)),))


def test_core_memory_holds_state_buffers_and_synapses_where_they_live_in_the_core():
    """SpiNNaker 2 keeps synapse rows in the PE's memory: each core's rows (4·(3 + n) bytes per axon)
    plus 64 bytes of input buffers per neuron must fit; here 1,536 bytes per core."""
    from mapping.chip import limits_of

    spec = _spec("spinnaker2", core={"local_memory_bytes": 1536})
    a = plan(dense_net(n_in=8, n_out=40), spec, "unrolled")
    assert a.feasible
    assert a.core_res["local_bytes"].max() <= 1536
    # n neurons (channels of the dense layer) on a core: 8 rows of n synapses, 4·(3 + n) bytes each;
    # 64 bytes of input buffers and a threshold and a bias per neuron (its channel).
    per = 64 + 2 * limits_of(spec).table_value_bytes
    fits = max(n for n in range(1, 41) if 8 * 4 * (3 + n) + per * n <= 1536)
    assert a.cores_used == math.ceil(40 / fits)
    for t in range(len(a.tile_core)):
        n = int(a.tile_res["own"][t])
        assert a.tile_res["local_bytes"][t] == 8 * 4 * (3 + n) + per * n


def test_core_memory_without_the_synapses_where_they_live_in_shared_memory():
    from mapping.chip import limits_of

    spec = _spec("spinnaker", core={"local_memory_bytes": 720})
    per = 64 + 2 * limits_of(spec).table_value_bytes  # input buffers, threshold and bias (own channel)
    a = plan(dense_net(n_in=8, n_out=45), spec, "unrolled")
    assert a.feasible and a.cores_used == math.ceil(45 / (720 // per))
    assert a.lower_bound_detail["local_bytes"] == {"total": 45 * per, "per_core": 720,
                                                   "cores": math.ceil(45 * per / 720)}


def test_synaptic_events_per_tick_bound_neurons_per_core_with_rates():
    """100 inputs at 0.5 spikes per tick: 50 events per neuron and tick; 5,000 per core per 1 ms tick
    (SpiNNaker, Rhodes et al. 2018) → 100 neurons per core, not 256."""
    net = dense_net(n_in=100, n_out=300)
    a = plan(net, "spinnaker", "unrolled", rates={"x": 0.5})
    assert a.feasible and a.cores_used == 3
    assert a.core_res["events"].max() <= 5000
    assert a.lower_bound_detail["events"]["total"] == 300 * 100 * 0.5
    b = plan(net, "spinnaker", "unrolled")  # no rates: not checked, and the report says so
    assert b.cores_used == 2 and any("not checked" in n for n in b.view.notes)


def test_looped_state_buffer_uses_delay_extension_cores_up_to_their_reach():
    # The replaying buffer's delay line (the default regenerating buffer is SpiNNaker's core memory).
    net = tiny_iterative_network(channels=4)
    a = plan(net, "spinnaker", "looped", phase_ticks=100, state_buffer="replay")  # 101 ticks: beyond the native 16, within 144
    sb = a.view.state_buffer
    assert sb["mechanism"] == "delay-extension" and sb["relay_stages"] == 1
    assert [n.name for n in a.view.nodes if n.kind == "relay"] == ["state~delayext"]
    assert sb["relay_neurons"] == math.prod(net.population("state").shape)
    b = plan(net, "spinnaker", "looped", phase_ticks=150, state_buffer="replay")  # beyond 144: a chain of relay neurons
    assert b.view.state_buffer["mechanism"] == "relay-neurons"
    assert b.view.state_buffer["relay_stages"] == math.ceil(151 / 16) - 1
    c = plan(net, _spec("spinnaker", neuron={"extended_delay_ticks": None}), "looped", phase_ticks=100,
             state_buffer="replay")
    assert c.view.state_buffer["mechanism"] == "relay-neurons"


def test_cli_measures_rates_for_a_chip_with_an_events_budget(tmp_path, capsys):
    import json

    from itnet_neuro.cli import main
    from itnet_neuro.ir import save_network

    model = save_network(tiny_iterative_network(height=8, width=8, channels=3), tmp_path / "n.snn.h5")
    out = tmp_path / "a.json"
    assert main(["allocate", str(model), "--chip", "spinnaker", "-o", str(out), "--plot", "none",
                 "--relay-images", "2"]) == 0
    assert "rates measured on 2 synthetic calibration images" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["lower_bound_detail"]["events"]["total"] > 0
