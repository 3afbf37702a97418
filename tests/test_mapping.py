"""The allocator on hand-computed cases: counts, sign handling, fan-out copies, schedules, state buffer, reports."""

import dataclasses
import json

import numpy as np
import pytest

from hardware_models.spec import load_chip
from itnet_neuro.errors import AllocationError, ValidationError
from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm, save_network
from itnet_neuro.ir.examples import tiny_iterative_network
from mapping.allocate import allocate, find_violations, lower_bound_cores, plan
from mapping.allocfile import ALLOC_KEYS
from mapping.testing import itnet_like_network


def _pop(name, shape):
    return Population(name, shape, threshold=1.0, bias=0.0, decode_scale=1.0)


def _net(pops, conns, read):
    readouts = (Readout("r", 0, (ReadoutTerm(read, np.ones((1, dict((p.name, p.shape) for p in pops)[read][0]))),),
                        np.zeros(1)),)
    return Network("t", InputSpec("x", (1, 4, 4)), tuple(pops), tuple(conns), readouts)


def _spec(base, **core):
    spec = load_chip(base)
    return dataclasses.replace(spec, core=dataclasses.replace(spec.core, **core))


def test_counts_match_the_ir_on_every_chip():
    net = tiny_iterative_network(height=12, width=10, channels=5)
    flat = net.unroll()
    for chip in ("truenorth", "loihi", "spinnaker", "ideal"):
        a = plan(net, chip, "unrolled")
        assert int(a.tile_res["own"].sum()) == flat.n_neurons
        assert int(a.tile_res["synapses"].sum()) == flat.n_synapses
        assert a.cores_used >= a.lower_bound >= 1


def test_truenorth_fanin_violation_names_layer_value_limit_and_fix():
    pops = (_pop("a", (32, 4, 4)), _pop("b", (8, 4, 4)))
    conns = (Connection("in", "x", "a", "conv2d", np.ones((32, 1, 1, 1))),
             Connection("a_b", "a", "b", "conv2d", np.ones((8, 32, 3, 3)), padding=(1, 1, 1, 1)))
    net = _net(pops, conns, "b")
    v = [v for v in find_violations(net, "truenorth") if v.resource == "fan_in"]
    assert len(v) == 1 and v[0].layer == "b" and v[0].value == 32 * 9 and v[0].limit == 256
    assert "groups ×2" in v[0].hint and "kernel" in v[0].hint
    with pytest.raises(AllocationError) as info:
        allocate(net, "truenorth")
    assert info.value.allocation.violations and not info.value.allocation.feasible
    assert isinstance(info.value, RuntimeError)


def test_two_rows_count_a_mixed_sign_input_twice():
    pops = (_pop("a", (4, 4, 4)), _pop("b", (3, 4, 4)))
    w = np.ones((3, 4, 1, 1))
    w[0, 1] = -1.0  # input channel 1 has both signs; the others are excitatory only
    conns = (Connection("in", "x", "a", "conv2d", np.ones((4, 1, 1, 1))), Connection("a_b", "a", "b", "conv2d", w))
    net = _net(pops, conns, "b")
    ideal = plan(net, "ideal", "unrolled")
    signed = _spec("ideal", max_axons=10_000)
    two_rows = dataclasses.replace(signed, weights=dataclasses.replace(load_chip("brainscales2").weights))
    b = 1  # node index of "b"
    ax_signed = plan(net, signed, "unrolled").tile_res["axons"][ideal.tile_node == b].sum()
    ax_two = plan(net, two_rows, "unrolled").tile_res["axons"][ideal.tile_node == b].sum()
    assert ax_signed == 4 * 16 and ax_two == 5 * 16  # 4 input channels × 16 pixels, channel 1 twice


def test_truenorth_copies_a_neuron_per_destination_core():
    # "a" feeds two layers one-to-one and is read out: every neuron needs 3 copies (1 axon each).
    pops = (_pop("a", (1, 4, 4)), _pop("b", (1, 4, 4)), _pop("c", (1, 4, 4)))
    conns = (Connection("in", "x", "a", "identity", np.ones(1)), Connection("ab", "a", "b", "identity", np.ones(1)),
             Connection("ac", "a", "c", "identity", np.ones(1)))
    net = Network("t", InputSpec("x", (1, 4, 4)), pops, conns,
                  (Readout("r", 0, (ReadoutTerm("a", np.ones((1, 1))), ReadoutTerm("b", np.ones((1, 1))),
                                    ReadoutTerm("c", np.ones((1, 1)))), np.zeros(1)),))
    a = plan(net, "truenorth", "unrolled")
    per_node = np.bincount(a.tile_node, weights=a.tile_res["neurons"]).astype(int)
    assert list(per_node) == [16 * 3, 16, 16]
    assert a.feasible


def test_looped_is_refused_where_parameters_are_fixed_and_auto_says_why():
    net = tiny_iterative_network()
    looped = plan(net, "truenorth", "looped")
    assert any(v.layer == "(schedule)" and "unrolled" in v.hint for v in looped.violations)
    auto = plan(net, "truenorth", "auto")
    assert auto.schedule == "unrolled" and "parameters_switchable_at_runtime" in auto.schedule_reason


def test_auto_prefers_the_smaller_feasible_schedule():
    net = itnet_like_network(32, 48, 8, iterations=4, seed=1)
    a = plan(net, "loihi", "auto")
    lo, un = plan(net, "loihi", "looped"), plan(net, "loihi", "unrolled")
    assert lo.cores_used < un.cores_used
    assert a.schedule == "looped" and a.cores_used == lo.cores_used and str(un.cores_used) in a.schedule_reason
    assert a.alternatives["unrolled"]["cores_used"] == un.cores_used


@pytest.mark.parametrize("phase, mechanism, stages", [(20, "synaptic-delay", 0), (100, "relay-neurons", 1),
                                                      (200, "relay-neurons", 3)])
def test_state_buffer_is_a_delay_line_of_phase_plus_delay(phase, mechanism, stages):
    net = tiny_iterative_network(channels=3)  # feedback delay 1; loihi's longest delay is 62 ticks
    a = plan(net, "loihi", "looped", phase_ticks=phase, state_buffer="replay")
    sb = a.view.state_buffer
    assert sb["delay_ticks"] == phase + 1 and sb["mechanism"] == mechanism and sb["relay_stages"] == stages
    state = net.population("state").size
    assert sb["relay_neurons"] == stages * state
    relays = [n for n in a.view.nodes if n.kind == "relay"]
    assert sum(n.size for n in relays) == stages * state
    fb = [e for e in a.view.edges if e.name == "state_to_hidden"][0]
    total = fb.delay + sum(e.delay for e in a.view.edges if e.pre.startswith("state") and e.post.startswith("state~"))
    assert total == phase + 1  # the relays' hops add up to the whole delay line


def test_state_buffer_in_memory_on_a_memory_based_core():
    spec = _spec("loihi", neuron_state_bytes_per_neuron=32.0)
    net = tiny_iterative_network(channels=3)
    a = plan(net, spec, "looped", phase_ticks=100, state_buffer="replay")
    sb = a.view.state_buffer
    assert sb["mechanism"] == "memory" and sb["relay_neurons"] == 0
    assert sb["memory_bytes"] == net.population("state").size * 100 // 8


def test_per_iteration_tables_are_costed_in_looped_cores():
    net = tiny_iterative_network(channels=4, iterations=5)
    lo = plan(net, "ideal", "looped")
    row = {r["layer"]: r for r in lo.per_layer()}
    un = {r["layer"]: r for r in plan(net, "ideal", "unrolled").per_layer()}
    # the looped block stores 5 rows × 4 channels × (threshold, bias) × 4 bytes more than one copy
    assert row["hidden"]["memory_bytes"] - un["hidden@1"]["memory_bytes"] >= 4 * 4 * 2 * 4 - 1


def test_lower_bound_is_independent_and_never_above_the_result():
    net = itnet_like_network(48, 64, 8, iterations=3)
    for chip in ("truenorth", "loihi", "spinnaker2"):
        for schedule in ("unrolled", "looped"):
            lb = lower_bound_cores(net, chip, schedule)
            a = plan(net, chip, schedule)
            assert a.lower_bound == lb and (a.cores_used >= lb or not a.feasible)


def test_neuron_bound_chip_reaches_the_bound():
    # SpiNNaker: 256 neurons per core and no per-core axon limit: packing must reach the neuron bound.
    net = itnet_like_network(48, 64, 8, iterations=3)
    a = plan(net, "spinnaker", "unrolled")
    assert a.feasible and a.cores_used <= 1.02 * a.lower_bound


def test_placement_beats_random():
    net = itnet_like_network(64, 96, 8, iterations=3)
    a = plan(net, "loihi", "unrolled")
    assert a.traffic["spike_hops"] < a.traffic["spike_hops_random"]


def test_dynapcnn_one_layer_per_core_with_the_sinabs_memory_formula():
    from hardware_models.formulas import dynapcnn_kernel_memory, dynapcnn_neuron_memory

    pops = (_pop("a", (8, 16, 16)), _pop("b", (16, 16, 16)))
    conns = (Connection("in", "x", "a", "conv2d", np.ones((8, 1, 3, 3)), padding=(1, 1, 1, 1), stride=(1, 1)),
             Connection("a_b", "a", "b", "conv2d", np.ones((16, 8, 3, 3)), padding=(1, 1, 1, 1)))
    net = Network("t", InputSpec("x", (1, 16, 16)), pops, conns,
                  (Readout("r", 0, (ReadoutTerm("b", np.ones((1, 16))),), np.zeros(1)),))
    a = plan(net, "dynapcnn", "unrolled")
    assert a.feasible and a.cores_used == 2 and a.lower_bound == 2
    assert list(a.tile_res["kernel_words"]) == [dynapcnn_kernel_memory(1, 8, 3, 3), dynapcnn_kernel_memory(8, 16, 3, 3)]
    assert a.tile_res["neuron_words"][1] == dynapcnn_neuron_memory(16, 16, 16)
    spec = load_chip("dynapcnn")
    for req in a.conv_layer["layers"]:
        assert req["kernel_words"] <= spec.core.kernel_memory_words[req["core_slot"]]
        assert req["neuron_words"] <= spec.core.neuron_memory_words[req["core_slot"]]
    conns2 = conns + (Connection("b_c", "b", "c", "resize", np.ones(16)),)
    net2 = Network("t2", net.input, pops + (_pop("c", (16, 32, 32)),), conns2,
                   (Readout("r", 0, (ReadoutTerm("c", np.ones((1, 16))),), np.zeros(1)),))
    v = find_violations(net2, "dynapcnn")
    assert any(x.resource == "operation" and x.what == "operation 'resize'" and x.limit is None for x in v)


def test_dynapcnn_out_of_cores_reports_the_unplaced_layers_not_a_ratio(tmp_path):
    """A chain of more layers than one chip has cores: the layers left over are named, and the cores
    of the rest are not compared with the bound (a ratio below 1 would count only what was left out)."""
    from mapping import allocfile
    from mapping.compare import summary_row
    from mapping.report import table

    spec = load_chip("dynapcnn")
    cores = spec.chip.cores_per_chip * spec.chip.max_chips
    n = cores + 2
    pops = tuple(_pop(f"l{i}", (4, 8, 8)) for i in range(n))
    conns = tuple(Connection(f"c{i}", "x" if i == 0 else f"l{i - 1}", f"l{i}", "conv2d",
                             np.ones((4, 1 if i == 0 else 4, 1, 1))) for i in range(n))
    net = Network("chain", InputSpec("x", (1, 8, 8)), pops, conns,
                  (Readout("r", 0, (ReadoutTerm(f"l{n - 1}", np.ones((1, 4))),), np.zeros(1)),))
    a = plan(net, "dynapcnn", "unrolled")
    assert a.cores_used == cores and a.lower_bound == n and not a.feasible
    assert len(a.unplaced_layers) == 2 and set(a.unplaced_layers) <= {p.name for p in pops}
    assert a.ratio_to_lower_bound is None
    assert "no ratio" in table(a) and "2 layer(s) on no core" in table(a)
    assert summary_row(a)["ratio_to_lower_bound"] is None and summary_row(a)["unplaced_layers"] == 2
    path = allocfile.write(a, tmp_path / "alloc.json")
    head = allocfile.read_header(path)
    assert head.ratio_to_lower_bound is None and head.not_allocated["layers"] == list(a.unplaced_layers)
    # one layer fewer than the chip's cores: every layer placed, the ratio is back
    fits = plan(Network("chain", net.input, pops[:cores], conns[:cores],
                        (Readout("r", 0, (ReadoutTerm(f"l{cores - 1}", np.ones((1, 4))),), np.zeros(1)),)),
                "dynapcnn", "unrolled")
    assert fits.unplaced_layers == () and fits.ratio_to_lower_bound == 1.0


def test_alloc_json_has_the_documented_keys(tmp_path):
    net = tiny_iterative_network()
    doc = plan(net, "loihi", "auto").to_json()
    for key in ALLOC_KEYS:
        assert key in doc, key
    core = doc["cores"][0]
    assert {"id", "chip", "x", "y", "tiles", "neurons", "axons", "synapses", "memory_bytes"} <= set(core)
    tile = core["tiles"][0]
    assert {"population", "iteration", "channels", "rows", "cols", "neurons"} <= set(tile)
    json.dumps(doc)
    assert doc["quantization"]["bits"] == load_chip("loihi").weights.bits


def test_cli_allocate_writes_report_and_exits_3_when_infeasible(tmp_path, capsys):
    from itnet_neuro.cli import main

    path = save_network(tiny_iterative_network(channels=4), tmp_path / "net.snn.h5")
    out = tmp_path / "alloc.json"
    assert main(["allocate", str(path), "--chip", "loihi", "-o", str(out), "--plot", str(tmp_path / "c.png")]) == 0
    assert json.loads(out.read_text())["feasible"] is True and (tmp_path / "c.png").stat().st_size > 1000
    assert "cores" in capsys.readouterr().out
    big = _net((_pop("a", (32, 4, 4)), _pop("b", (8, 4, 4))),
               (Connection("in", "x", "a", "conv2d", np.ones((32, 1, 1, 1))),
                Connection("a_b", "a", "b", "conv2d", np.ones((8, 32, 3, 3)), padding=(1, 1, 1, 1))), "b")
    path2 = save_network(big, tmp_path / "big.snn.h5")
    out2 = tmp_path / "tn.json"
    assert main(["allocate", str(path2), "--chip", "truenorth", "-o", str(out2), "--plot", "none"]) == 3
    doc = json.loads(out2.read_text())
    assert doc["feasible"] is False and doc["violations"][0]["resource"] == "fan_in"
    assert "does not fit" in capsys.readouterr().err


def test_cli_compare_one_row_per_chip(tmp_path, capsys):
    from itnet_neuro.cli import main

    path = save_network(tiny_iterative_network(channels=4), tmp_path / "net.snn.h5")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(path), "--chips", "truenorth,loihi,ideal", "--json", str(out), "--markdown"]) == 0
    rows = json.loads(out.read_text())["chips"]
    assert [r["chip"] for r in rows] == ["truenorth", "loihi", "ideal"]
    assert rows[2]["cores"] == 1 and rows[0]["schedule"] == "unrolled"
    assert "| truenorth |" in capsys.readouterr().out


def test_bad_schedule_is_a_validation_error():
    with pytest.raises(ValidationError, match="schedule"):
        plan(tiny_iterative_network(), "loihi", "pipelined")


@pytest.mark.slow
def test_allocate_shipped_model_on_truenorth_out_of_the_box(tmp_path, capsys, monkeypatch):
    """The issue's acceptance check: `itnet-neuro allocate --chip truenorth` on the shipped model."""
    from itnet_neuro.cli import main
    from itnet_neuro.resources import SHIPPED_MODEL

    if not SHIPPED_MODEL.is_file():
        pytest.skip("the shipped model is not in this checkout")
    monkeypatch.chdir(tmp_path)
    rc = main(["allocate", "--chip", "truenorth"])
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "alloc.json").read_text())
    assert rc == (0 if doc["feasible"] else 3)
    assert (tmp_path / "alloc_cores.png").stat().st_size > 10_000
    assert "cores" in out and doc["chip"]["name"] == "truenorth" and doc["schedule"] == "unrolled"
    assert (tmp_path / "itnet_small_shared.snn.h5").is_file()  # the conversion is cached beside the output


def test_streamed_alloc_json_equals_the_document(tmp_path):
    from mapping.allocfile import write

    a = plan(tiny_iterative_network(height=12, width=12, channels=6), "truenorth", "unrolled")
    write(a, tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads(json.dumps(a.to_json()))


def test_lower_bound_counts_exact_distinct_inputs_and_valid_memory_lines():
    from hardware_models.formulas import get_formula
    from mapping.bound import synapse_memory_envelope as _synapse_memory_envelope

    # 1×1 conv with stride 2 reads every other input pixel: 9 inputs, not the 25 of the bounding box.
    pops = (_pop("a", (1, 5, 5)), _pop("b", (2, 3, 3)))
    conns = (Connection("in", "x", "a", "resize", np.ones(1), mode="nearest"),
             Connection("a_b", "a", "b", "conv2d", np.ones((2, 1, 1, 1)), stride=(2, 2)))
    net = Network("t", InputSpec("x", (1, 5, 5)), pops, conns,
                  (Readout("r", 0, (ReadoutTerm("b", np.ones((1, 2))),), np.zeros(1)),))
    a = plan(net, _spec("ideal", max_axons=1000), "unrolled")
    assert a.lower_bound_detail["axons"]["total"] == 25 + 9  # a reads all 25 inputs, b 9 of a's neurons
    for name, bits in (("loihi_synapse_memory_bits", 8), ("spinnaker_synapse_row_bytes", 16)):
        f, scale = get_formula(name), (1 / 8 if name.endswith("_bits") else 1)
        for beta, gamma in _synapse_memory_envelope(name, bits, 300):
            assert all(f(n, bits) * scale >= beta * n + gamma - 1e-9 for n in range(1, 301))
