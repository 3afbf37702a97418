"""alloc.json (schema 2): typed round trip, refusal of other versions and malformed files, the axon
records against the cores' axon counts, merged violations, and `simulate --alloc` on an infeasible
allocation (refused, or run with --ignore-limits)."""

import dataclasses
import json

import numpy as np
import pytest

from hardware_models.spec import PACKAGED_CHIPS_DIR
from itnet_neuro.errors import SchemaError
from itnet_neuro.ir import save_network
from itnet_neuro.ir.examples import tiny_iterative_network
from mapping import allocfile
from mapping.allocate import plan
from mapping.testing import itnet_like_network, random_network
from mapping.violations import Violation, merge_copies

CROSSBAR = ("truenorth", "loihi", "loihi2", "spinnaker", "spinnaker2", "brainscales1", "brainscales2", "ideal")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A feasible TrueNorth allocation (with fan-out copies) written once."""
    path = tmp_path_factory.mktemp("alloc") / "alloc.json"
    a = plan(tiny_iterative_network(height=12, width=10, channels=5), "truenorth", "unrolled")
    allocfile.write(a, path)
    return a, path


# ------------------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("chip, schedule", [("truenorth", "unrolled"), ("truenorth", "looped"), ("loihi", "looped"),
                                            ("brainscales2", "unrolled"), ("dynapcnn", "unrolled")])
def test_write_then_read_gives_the_same_typed_allocation(tmp_path, chip, schedule):
    a = plan(tiny_iterative_network(height=12, width=10, channels=5), chip, schedule, phase_ticks=20)
    typed = allocfile.from_allocation(a)
    allocfile.write(a, tmp_path / "a.json")  # from the Allocation, cores streamed
    assert allocfile.read(tmp_path / "a.json") == typed
    allocfile.write(typed, tmp_path / "b.json")  # from the AllocFile
    assert (tmp_path / "b.json").read_text() == (tmp_path / "a.json").read_text()
    from itnet_neuro.utils import write_json

    write_json(tmp_path / "c.json", a.to_json())  # the one-dict document, pretty-printed, reads the same
    assert allocfile.read(tmp_path / "c.json") == typed
    assert allocfile.read_header(tmp_path / "a.json") == dataclasses.replace(typed, cores=())
    assert typed.feasible == a.feasible and len(typed.cores) == a.cores_used
    assert [v.to_dict() for v in typed.violations] == [v.to_dict() for v in a.violations]


def test_neurons_of_and_core_of_neuron_cover_each_population_once(written):
    a, path = written
    f = allocfile.read(path)
    for i, node in enumerate(a.view.nodes):
        core = f.core_of_neuron(node.population, node.iteration, node.shape)
        expect = np.full(node.shape, -1)
        for t in np.flatnonzero(a.tile_node == i):
            c0, c1, r0, r1, q0, q1 = a.tile_box[t]
            expect[c0:c1, r0:r1, q0:q1] = a.tile_core[t]
        np.testing.assert_array_equal(core, expect)
        assert sum(len(range(*b[0:2])) * len(range(*b[2:4])) * len(range(*b[4:6]))
                   for _, b in f.neurons_of(node.population, node.iteration)) == node.size
    assert set(f.core_of()) == {n.name for n in a.view.nodes}
    with pytest.raises(ValueError, match="on no core"):
        f.core_of_neuron("hidden", 1, (9, 12, 10))  # a bigger population than was allocated


# ------------------------------------------------------------------------------------- refusals

def _edit(path, tmp_path, change):
    doc = json.loads(path.read_text())
    change(doc)
    out = tmp_path / "bad.json"
    out.write_text(json.dumps(doc))
    return out


def _set(keys, value):
    def change(doc):
        d = doc
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


_V = Violation("h", 1, "axons", 300, 256, "fewer channels").to_dict()


@pytest.mark.parametrize("change, key", [
    (_set(["schema_version"], 1), "'schema_version': 1"),
    (lambda d: d.pop("schema_version"), "'schema_version': missing"),
    (lambda d: d.pop("feasible"), "'feasible': missing"),
    (_set(["cores_used"], "many"), "'cores_used': expected an integer"),
    (_set(["cores", 0, "tiles", 0, "channels"], [3, 1]), "'cores[0].tiles[0].channels'"),
    (_set(["cores", 1, "x"], -1), "'cores[1].x'"),
    (_set(["cores", 0, "axons"], 10**6), "'cores[0].axons': 1000000 differs from the axon records' sum"),
    (_set(["cores", 0, "axon_list", 0, 0], 99), "'cores[0].axon_list[0]': tile 99"),
    (_set(["cores", 0, "axon_list", 0, 9], 2), "'cores[0].axon_list[0]': sign 2"),
    (_set(["cores", 0, "tiles", 0, "own"], 1), "'cores[0].tiles[0].own'"),
    (_set(["cores_used"], 1), "'cores': 9 cores, but cores_used is 1"),
    (_set(["violations"], [_V]), "'feasible': true with 1 violation(s)"),
    (_set(["violations"], [dict(_V, limit="256")]), "'violations[0].limit'"),
    (_set(["schedule"], "pipelined"), "'schedule'"),
])
def test_other_versions_and_malformed_files_are_refused_in_one_line(written, tmp_path, change, key):
    a, path = written
    assert a.feasible
    bad = _edit(path, tmp_path, change)
    with pytest.raises(SchemaError) as info:
        allocfile.read(bad)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(bad)) and key in msg and msg.endswith("re-run itnet-neuro allocate")


def test_not_json_and_missing_file_are_refused(tmp_path):
    (tmp_path / "x.json").write_text('{"schema_version": 2, "cores": [')
    with pytest.raises(SchemaError, match="not a JSON allocation"):
        allocfile.read(tmp_path / "x.json")
    with pytest.raises(SchemaError, match="no such allocation file"):
        allocfile.read(tmp_path / "none.json")


# --------------------------------------------------------------------------- axon records = axons

def _check_records(a):
    cores = list(allocfile.from_allocation(a).cores)
    assert len(cores) == a.cores_used
    for c in cores:
        assert sum(r.size for r in c.axons) == c.n_axons == a.core_res["axons"][c.id]
        assert sum(t.neurons for t in c.tiles) == c.neurons
    return cores


@pytest.mark.parametrize("chip", CROSSBAR)
def test_axon_records_add_up_to_each_cores_axons_on_packaged_chips(chip):
    nets = [tiny_iterative_network(height=12, width=10, channels=5), itnet_like_network(24, 32, 6, iterations=3)]
    rng = np.random.default_rng(7)
    nets += [random_network(rng, max_layers=3, max_channels=6, max_hw=7) for _ in range(3)]
    for net in nets:
        for schedule in ("unrolled", "looped"):
            _check_records(plan(net, chip, schedule, phase_ticks=20))


def test_two_rows_records_give_a_mixed_channel_two_rows():
    from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

    pops = (Population("a", (4, 4, 4), threshold=1.0, bias=0.0, decode_scale=1.0),
            Population("b", (3, 4, 4), threshold=1.0, bias=0.0, decode_scale=1.0))
    w = np.ones((3, 4, 1, 1))
    w[0, 1] = -1.0  # input channel 1 has both signs
    net = Network("t", InputSpec("x", (1, 4, 4)), pops,
                  (Connection("in", "x", "a", "conv2d", np.ones((4, 1, 1, 1))),
                   Connection("a_b", "a", "b", "conv2d", w)),
                  (Readout("r", 0, (ReadoutTerm("b", np.ones((1, 3))),), np.zeros(1)),))
    (core,) = _check_records(plan(net, "brainscales2", "unrolled"))
    from_a = sorted((r.box[:2], r.sign) for r in core.axons if r.source == "a")
    assert from_a == [((0, 1), 0), ((1, 2), -1), ((1, 2), 1), ((2, 4), 0)]
    assert core.n_axons == 16 + 5 * 16  # the input (1 channel) and a (4 channels, channel 1 twice), 16 pixels


def test_truenorth_fanout_copies_serve_one_core_each():
    """Each presynaptic neuron's records use copies 0..k-1, each once (F = 1), and no more copies than
    its producer tile holds."""
    a = plan(tiny_iterative_network(height=24, width=20, channels=8), "truenorth", "unrolled")
    cores = _check_records(a)
    view = a.view
    used = {n.name: {} for n in view.nodes}
    by_label = {(n.population, n.iteration): n.name for n in view.nodes}
    for c in cores:
        for r in c.axons:
            if (r.source, r.iteration) not in by_label:
                continue  # the off-chip input
            c0, c1, r0, r1, q0, q1 = r.box
            for key in np.ndindex(c1 - c0, r1 - r0, q1 - q0):
                cell = (c0 + key[0], r0 + key[1], q0 + key[2])
                used[by_label[(r.source, r.iteration)]].setdefault(cell, []).append(r.copy)
    n_copies = 0
    for i, node in enumerate(view.nodes):
        per_neuron = np.zeros(node.shape, np.int64)
        for cell, cps in used[node.name].items():
            assert sorted(cps) == list(range(len(cps))), (node.name, cell, cps)
            per_neuron[cell] = len(cps)
            n_copies += len(cps) > 1
        for t in np.flatnonzero(a.tile_node == i):
            c0, c1, r0, r1, q0, q1 = a.tile_box[t]
            assert np.maximum(per_neuron[c0:c1, r0:r1, q0:q1], 1).sum() <= a.tile_res["neurons"][t]
    assert n_copies > 0  # the network does make copies on TrueNorth


# ------------------------------------------------------------------------------------- violations

def test_violations_merge_over_unrolled_copies_on_fields():
    v = [Violation("h", n, "axons", 300, 256, "use 2×2 kernels in 'h_h'") for n in (2, 3, 4)]
    v += [Violation("h", 5, "axons", 301, 256, "use 2×2 kernels in 'h_h'")]
    v += [Violation("(network)", None, "chips", 3, 1, "x")] * 2
    m = merge_copies(v)
    assert [x.layer for x in m] == ["h@2..4 (3 copies)", "h@5", "(network)"]
    assert m[0].iterations == (2, 3, 4) and m[0].iteration is None and m[0].population == "h"
    assert str(m[0]) == "h@2..4 (3 copies): axons per neuron 300 > limit 256 (use 2×2 kernels in 'h_h')"
    assert Violation.from_dict(m[0].to_dict()) == m[0]


def test_allocator_merges_the_copies_of_the_unrolled_block():
    net = tiny_iterative_network(channels=8, iterations=4)
    spec = _small_chip_spec(max_fanin_per_neuron=20)
    a = plan(net, spec, "unrolled")
    hidden = [v for v in a.violations if v.population == "hidden" and v.resource == "fan_in"]
    # Copy 1 is fed by the data block, copies 2-4 by the state: the same excess, different fixes.
    assert [(v.layer, v.value) for v in hidden] == [("hidden@1", 72), ("hidden@2..4 (3 copies)", 72)]
    assert "'data_to_hidden'" in hidden[0].hint and "'state_to_hidden'" in hidden[1].hint
    assert hidden[1].iterations == (2, 3, 4)


def _small_chip_spec(**core):
    from hardware_models.spec import load_chip

    spec = load_chip("ideal")
    return dataclasses.replace(spec, core=dataclasses.replace(spec.core, **core))


# ------------------------------------------------------------------------------------------- CLI

def test_cli_simulate_refuses_an_infeasible_allocation_unless_ignore_limits(tmp_path, capsys):
    from itnet_neuro.cli import main

    chip = tmp_path / "small.toml"
    chip.write_text((PACKAGED_CHIPS_DIR / "ideal.toml").read_text().replace('name = "ideal"', 'name = "small"', 1)
                    .replace('max_fanin_per_neuron = "none"', "max_fanin_per_neuron = 8", 1))
    net = save_network(tiny_iterative_network(channels=3), tmp_path / "net.snn.h5")
    alloc = tmp_path / "alloc.json"
    assert main(["allocate", str(net), "--chip", str(chip), "-o", str(alloc), "--plot", "none"]) == 3
    capsys.readouterr()
    out = tmp_path / "results.json"
    args = ["simulate", str(net), "--alloc", str(alloc), "--images", "1", "--ticks", "8", "-o", str(out)]
    assert main(args) == 3
    err = capsys.readouterr().err.strip()
    first = str(allocfile.read(alloc).violations[0])
    assert "\n" not in err and "--ignore-limits" in err and first in err and not out.exists()
    assert main(args + ["--ignore-limits"]) == 0
    res = json.loads(out.read_text())
    assert res["ignore_limits"] is True and res["violations"][0]["resource"] == "fan_in"
    assert f"LIMITS IGNORED: the allocation does not fit ({len(res['violations'])} violation(s); first: {first})" \
        in capsys.readouterr().out.splitlines()[0]
