"""Fan-in splitting (mapping.split): the split network fits, computes what the original computes,
and is what alloc.json records and simulate --alloc runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from itnet_neuro.ir import Connection, InputSpec, IterativeBlock, Network, Population, Readout, ReadoutTerm
from itnet_neuro.ir import same_padding
from mapping.allocate import plan
from mapping.chip import limits_of
from mapping.split import apply_record, split_network


def _chip(**core):
    from hardware_models.spec import load_chip

    spec = load_chip("ideal")
    return dataclasses.replace(spec, name="small", core=dataclasses.replace(spec.core, **core))


def _two_rows_chip(**core):
    spec = _chip(**core)
    return dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, sign="two-rows", bits=6))


def _pop(rng, name, shape, rows=1):
    thr = rng.uniform(0.8, 1.2, (rows, shape[0]))
    return Population(name, shape, threshold=thr, bias=rng.normal(0, 0.02, (rows, shape[0])), decode_scale=thr)


def _conv(rng, name, pre, post, cin, cout, k, hw, **kw):
    pad = same_padding(hw[0], k, 1) + same_padding(hw[1], k, 1)
    return Connection(name, pre, post, "conv2d", rng.normal(0, 0.4, (cout, cin, k, k)), padding=pad, **kw)


def fanin_network(seed=0, hw=(6, 7)):
    """input → a (conv) → b (1×1) → c (depthwise); post sums 3×3 convs of a and b, b's identity and c's
    depthwise: fan-in 36 + 36 + 1 + 9 = 82 per neuron."""
    rng = np.random.default_rng(seed)
    pad = same_padding(hw[0], 3, 1) + same_padding(hw[1], 3, 1)
    pops = [_pop(rng, n, (4,) + hw) for n in ("a", "b", "c", "post")]
    conns = [_conv(rng, "x_a", "x", "a", 3, 4, 3, hw), _conv(rng, "a_b", "a", "b", 4, 4, 1, hw),
             Connection("b_c", "b", "c", "depthwise", rng.normal(0, 0.5, (4, 1, 3, 3)), padding=pad),
             _conv(rng, "a_post", "a", "post", 4, 4, 3, hw), _conv(rng, "b_post", "b", "post", 4, 4, 3, hw),
             Connection("b_id_post", "b", "post", "identity", rng.uniform(0.5, 1.0, 4)),
             Connection("c_post", "c", "post", "depthwise", rng.normal(0, 0.5, (4, 1, 3, 3)), padding=pad)]
    out = Readout("out", 0, (ReadoutTerm("post", rng.normal(0, 1, (2, 4))),), bias=np.zeros(2))
    return Network("fanin", InputSpec("x", (3,) + hw), tuple(pops), tuple(conns), (out,))


def block_network(seed=0, hw=(5, 6), iterations=3):
    """A block whose ``h`` takes ``data`` in every iteration and the state ``s`` from iteration 2 on."""
    rng = np.random.default_rng(seed)
    pops = [_pop(rng, "data", (4,) + hw), _pop(rng, "h", (4,) + hw, iterations), _pop(rng, "s", (4,) + hw, iterations)]
    its = tuple(range(2, iterations + 1))
    conns = [_conv(rng, "x_data", "x", "data", 3, 4, 3, hw), _conv(rng, "data_h", "data", "h", 4, 4, 3, hw),
             _conv(rng, "s_h", "s", "h", 4, 4, 3, hw, iterations=its, feedback=True),
             _conv(rng, "h_s", "h", "s", 4, 4, 1, hw)]
    outs = tuple(Readout(f"out{n}", n - 1, (ReadoutTerm("s", rng.normal(0, 1, (2, 4))),), bias=np.zeros(2),
                         iteration=n) for n in range(1, iterations + 1))
    return Network("blk", InputSpec("x", (3,) + hw), tuple(pops), tuple(conns), outs,
                   IterativeBlock("b", iterations, ("h", "s"), ("s",)))


def _rates(net, x):
    """The IR's rate evaluation in float64, every population of ``net.unroll()`` (independent of mapping)."""
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    flat = net.unroll()
    rates = {flat.input.name: x.astype(np.float64)}
    for p in flat.populations:
        cur = np.zeros((x.shape[0],) + p.shape)
        for c in flat.incoming(p.name):
            y = apply_op(flat, c, rates[c.pre])
            cur[:, c.post_offset:c.post_offset + y.shape[1]] += y
        thr, bias, _ = p.params()
        rates[p.name] = np.clip((cur + bias.reshape(1, -1, 1, 1)) / thr.reshape(1, -1, 1, 1), 0, 1)
    return rates


def _x(net, n=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + net.input.shape).astype(np.float32)


# --------------------------------------------------------------------------------------- structure

def test_pair_relays_take_the_largest_units_and_keep_what_fits_direct():
    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "unrolled")
    assert a.feasible, a.violations
    r = a.split
    assert r.mode == "pair" and [x.name for x in r.relays] == ["post~fanin1.0", "post~fanin1.1"]
    # First-fit decreasing: b's group (conv + identity, 37) and c's depthwise (9) go to relays, a's 36 stays.
    assert [x.inputs for x in r.relays] == [("b_post", "b_id_post"), ("c_post",)]
    node = r.nodes[0]
    assert node["need_before"]["fan_in"] == 82 and node["need_after"]["fan_in"] == 36 + 2 * 2
    run = a.network
    relay = run.population("post~fanin1.0")
    assert relay.shape == (8, 6, 7) and relay.role == "relay" and np.all(relay.bias == 0)
    summ = next(c for c in run.connections if c.name == "post~fanin1.0~sum")
    theta = relay.threshold[0, 0::2]
    assert summ.op == "conv2d" and summ.groups == 4 and summ.weight.shape == (4, 2, 1, 1)
    np.testing.assert_allclose(summ.weight[:, 0, 0, 0], theta)
    np.testing.assert_allclose(summ.weight[:, 1, 0, 0], -theta)
    moved = next(c for c in run.connections if c.name == "b_post~fanin1.0")
    w = net.connections[4].weight
    np.testing.assert_array_equal(moved.weight[0::2], w)
    np.testing.assert_array_equal(moved.weight[1::2], -w)
    assert {c.name for c in run.incoming("post")} == {"a_post", "post~fanin1.0~sum", "post~fanin1.1~sum"}
    assert r.extra_ticks == {"out": 1, "max": 1}


def test_weight_bound_threshold_covers_every_input():
    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "unrolled")
    relay = a.network.population("post~fanin1.1")  # c's depthwise: Σ|w| per channel × one spike per tick
    w = net.connections[6].weight
    np.testing.assert_allclose(relay.threshold[0, 0::2], np.abs(w).sum(axis=(1, 2, 3)), rtol=1e-6)


def test_every_split_neuron_fits_and_the_allocation_respects_the_limits():
    from tests.test_mapping_properties import check_allocation

    for limit in (40, 45, 60, 81):
        a = plan(fanin_network(), _chip(max_fanin_per_neuron=limit), "unrolled")
        assert a.feasible, (limit, a.violations)
        check_allocation(fanin_network(), a)


def test_second_level_when_the_relays_inputs_do_not_fit():
    """Eight 2-input units on a 5-input neuron: 4 relay pairs (8 inputs), then 2 summing them (4 inputs)."""
    rng = np.random.default_rng(3)
    hw = (4, 4)
    pops = [_pop(rng, f"p{i}", (2,) + hw) for i in range(8)] + [_pop(rng, "post", (2,) + hw)]
    conns = [_conv(rng, f"x_p{i}", "x", f"p{i}", 3, 2, 1, hw) for i in range(8)]
    conns += [_conv(rng, f"p{i}_post", f"p{i}", "post", 2, 2, 1, hw) for i in range(8)]  # 2 inputs each, 16 in all
    net = Network("lv", InputSpec("x", (3,) + hw), tuple(pops), tuple(conns),
                  (Readout("out", 0, (ReadoutTerm("post", np.ones((2, 2))),), bias=np.zeros(2)),))
    a = plan(net, _chip(max_fanin_per_neuron=5), "unrolled")
    assert a.feasible, a.violations
    assert a.split.levels == 2 and a.split.extra_ticks["max"] == 2
    assert [r.level for r in a.split.relays] == [1] * 4 + [2] * 2
    fan = {p.name: sum(c.fan_in(a.network.shape_of(c.pre)[0]) for c in a.network.incoming(p.name))
           for p in a.network.populations}
    assert max(fan.values()) <= 5
    x = _x(net)
    r0, r1 = _rates(net, x), _rates(a.network, x)
    np.testing.assert_allclose(r1["post"], r0["post"], atol=1e-9)


def test_relays_leave_the_post_room_for_a_whole_pixel_of_channels():
    """A relay's input to its post is its own per channel, where direct inputs are shared by the
    channels of a pixel. Post of 4 channels summing three 1×1 convs of 10 channels each, cores of 24
    axons: keeping two convs direct (20 + 2 relay inputs = 22 per neuron) fits a neuron but a pixel
    needs 20 + 2·4 = 28 axons, so 2 post cores + 1 relay core per pixel; keeping one (10 + 2·4 = 18)
    and one relay for the other two (20 inputs, 8 neurons) fits a pixel on each: 2 cores per pixel."""
    rng = np.random.default_rng(5)
    hw = (2, 3)
    pops = [_pop(rng, f"p{i}", (10,) + hw) for i in range(3)] + [_pop(rng, "post", (4,) + hw)]
    conns = [_conv(rng, f"x_p{i}", "x", f"p{i}", 3, 10, 1, hw) for i in range(3)]
    conns += [_conv(rng, f"p{i}_post", f"p{i}", "post", 10, 4, 1, hw) for i in range(3)]
    net = Network("px", InputSpec("x", (3,) + hw), tuple(pops), tuple(conns),
                  (Readout("out", 0, (ReadoutTerm("post", np.ones((2, 4))),), bias=np.zeros(2)),))
    a = plan(net, _chip(max_fanin_per_neuron=24, max_axons=24), "unrolled")
    assert a.feasible, a.violations
    (node,) = a.split.nodes
    assert node["block_channels"] == 4 and len(node["relays"]) == 1 and len(node["direct"]) == 1
    assert node["need_after"] == {"fan_in": 12, "axons": 12, "synapses": 12}
    rows = {r["layer"]: r for r in a.per_layer()}
    pixels = hw[0] * hw[1]
    assert rows["post"]["cores"] == pixels and rows["post"]["neurons"] == 4 * pixels
    assert rows["post~fanin1.0"]["cores"] == pixels
    x = _x(net)
    r0, r1 = _rates(net, x), _rates(a.network, x)
    np.testing.assert_allclose(r1["post"], r0["post"], atol=1e-9)


def test_a_connection_over_the_limit_alone_stays_a_violation_that_says_why():
    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=30), "unrolled")  # a_post alone needs 36
    v = [x for x in a.violations if x.population == "post"]
    assert v and "fan-in splitting cannot: connection 'a_post' alone needs fan-in 36" in v[0].hint
    assert a.split.unsplit[0]["population"] == "post"


def test_no_split_refuses_with_a_hint():
    a = plan(fanin_network(), _chip(max_fanin_per_neuron=40), "unrolled", split=False)
    assert a.split is None and a.network is None
    v = [x for x in a.violations if x.population == "post" and x.resource == "fan_in"]
    assert v and v[0].value == 82 and "without --no-split" in v[0].hint


def test_nothing_changes_where_every_neuron_fits():
    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=100), "unrolled")
    assert a.split is None and a.network is None


# -------------------------------------------------------------------------------------- equivalence

@pytest.mark.parametrize("schedule", ["unrolled", "looped"])
def test_split_network_computes_the_original_rates(schedule):
    """Every original population has its rate of the unsplit network (relays at the weight bound never clip)."""
    for net, limit in ((fanin_network(), 40), (block_network(), 40)):
        a = plan(net, _chip(max_fanin_per_neuron=limit), schedule, phase_ticks=20)
        assert a.split is not None and a.feasible, a.violations
        x = _x(net)
        r0, r1 = _rates(net, x), _rates(a.network, x)
        for name, v in r0.items():
            np.testing.assert_allclose(r1[name], v, atol=1e-9, err_msg=name)


def test_looped_relays_are_block_members_with_one_threshold_for_every_iteration():
    net = block_network(iterations=3)
    a = plan(net, _chip(max_fanin_per_neuron=40), "looped", phase_ticks=20)
    run = a.network
    relays = [p for p in run.populations if p.role == "relay"]
    assert [p.name for p in relays] == ["h~fanin1.0"]
    assert relays[0].name in run.block.populations and relays[0].rows == 3
    assert np.all(relays[0].threshold == relays[0].threshold[0])
    moved = next(c for c in run.connections if c.post == "h~fanin1.0")
    assert moved.feedback and moved.iterations == (2, 3)  # the state of iteration n-1, as before
    unrolled = plan(net, _chip(max_fanin_per_neuron=40), "unrolled")
    # Unrolled, only the copies that need it are split: iteration 1 has no feedback input.
    assert {r.post for r in unrolled.split.relays} == {"h@2", "h@3"}


def test_two_rows_chip_splits_by_sign_and_keeps_one_sign_direct():
    net = fanin_network()
    # 256-row-like limit: each input of a mixed-sign conv takes two rows; the fan-in itself fits.
    a = plan(net, _two_rows_chip(max_axons=100, max_fanin_per_neuron=100), "unrolled")
    assert a.feasible, a.violations
    r = a.split
    assert r.mode == "sign" and all(x.sign in (1, -1) for x in r.relays)
    run = a.network
    for x in r.relays:
        for c in run.incoming(x.name):
            assert np.all(c.weight >= 0)  # each relay carries a non-negative partial sum
        s = next(c for c in run.connections if c.name == x.name.split("@")[0] + "~sum")
        assert s.op == "identity" and np.all(np.sign(s.weight) == x.sign)
    xin = _x(net)
    np.testing.assert_allclose(_rates(run, xin)["post"], _rates(net, xin)["post"], atol=1e-9)


def test_fast_and_reference_backends_agree_spike_for_spike_on_the_split_network():
    from itnet_neuro.sim.core import simulate

    net = block_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "looped", phase_ticks=20)
    x = _x(net, 2)
    fast = simulate(a.network, x, 60, schedule="looped", phase_ticks=20, record=True)
    ref = simulate(a.network, x, 60, backend="reference", schedule="looped", phase_ticks=20, record=True)
    for k, v in ref.trains.items():
        np.testing.assert_array_equal(fast.trains[k], v, err_msg=k)


def test_spiking_split_network_converges_to_the_original_counts():
    """Over many ticks, the post's spike counts differ from the unsplit network's by a few spikes at most
    (each relay half adds at most half a relay spike of error, and the relays add one tick of delay)."""
    from itnet_neuro.sim.calibrate import calibrate_split
    from itnet_neuro.sim.core import simulate

    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "unrolled")
    x = _x(net, 2)
    rec = calibrate_split(net, a.split, _x(net, 8, seed=5))
    run = apply_record(net, rec)
    t = 800
    c0 = simulate(net, x, t, record=True).trains["post"].sum(axis=1)
    c1 = simulate(run, x, t, record=True).trains["post"].sum(axis=1)
    assert np.abs(c1.astype(int) - c0.astype(int)).max() <= 4


# -------------------------------------------------------------------------------------- calibration

def test_calibrated_thresholds_are_the_largest_partial_sums():
    from itnet_neuro.sim.calibrate import calibrate_split
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    net = fanin_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "unrolled")
    x = _x(net, 5, seed=7)
    rec = calibrate_split(net, a.split, x)
    rates = _rates(net, x)
    # Relay 1 takes c's depthwise: its partial sum is that connection's current into post.
    s = apply_op(net, net.connections[6], rates["c"])
    np.testing.assert_allclose(rec.relays[1].threshold, np.abs(s).max(axis=(0, 2, 3)), rtol=1e-9)
    assert rec.calibration["max_relay_rate"] == pytest.approx(1.0)
    assert rec.calibration["images"] == 5


# ---------------------------------------------------------------------------------- alloc.json, CLI

def test_alloc_json_records_the_split_and_simulate_rebuilds_it(tmp_path):
    from mapping import allocfile
    from itnet_neuro.sim.calibrate import calibrate_split

    net = block_network()
    a = plan(net, _chip(max_fanin_per_neuron=40), "looped", phase_ticks=20)
    a.split = calibrate_split(net, a.split, _x(net, 4))
    path = allocfile.write(a, tmp_path / "alloc.json")
    back = allocfile.read(path)
    assert back.split == a.split
    rebuilt = apply_record(net, back.split)
    expect = apply_record(net, a.split)
    assert [p.name for p in rebuilt.populations] == [p.name for p in expect.populations]
    for c, d in zip(rebuilt.connections, expect.connections):
        assert (c.name, c.pre, c.post, c.op) == (d.name, d.pre, d.post, d.op)
        np.testing.assert_array_equal(c.weight, d.weight)
    # The cores name the split network's populations.
    assert {t.population for core in back.cores for t in core.tiles} >= {"h~fanin1.0"}


def test_old_alloc_json_without_split_still_reads(tmp_path):
    import json

    from mapping import allocfile

    a = plan(fanin_network(), _chip(max_fanin_per_neuron=100), "unrolled")
    path = allocfile.write(a, tmp_path / "alloc.json")
    doc = json.loads(path.read_text())
    del doc["split"]
    path.write_text(json.dumps(doc))
    assert allocfile.read(path).split is None


def test_a_split_of_another_network_is_refused():
    from itnet_neuro.errors import ValidationError

    a = plan(fanin_network(), _chip(max_fanin_per_neuron=40), "unrolled")
    other = fanin_network(seed=1)
    other = dataclasses.replace(other, connections=tuple(c for c in other.connections if c.name != "c_post"))
    with pytest.raises(ValidationError, match="no connection 'c_post'"):
        apply_record(other, a.split)


def test_cli_allocate_splits_calibrates_and_simulate_runs_the_split_network(tmp_path, capsys):
    import json

    from itnet_neuro.cli import main
    from hardware_models.spec import PACKAGED_CHIPS_DIR as chips
    from itnet_neuro.ir import save_network

    chip = tmp_path / "small.toml"

    chip.write_text((chips / "ideal.toml").read_text().replace('name = "ideal"', 'name = "small"', 1)
                    .replace('max_fanin_per_neuron = "none"', "max_fanin_per_neuron = 40", 1))
    net = block_network(hw=(8, 8))
    model = save_network(net, tmp_path / "net.snn.h5")
    out = tmp_path / "alloc.json"
    assert main(["allocate", str(model), "--chip", str(chip), "-o", str(out), "--plot", "none",
                 "--schedule", "looped", "--phase-ticks", "20", "--relay-images", "2"]) == 0
    text = capsys.readouterr().out
    assert "fan-in split (signed pairs" in text and "h~fanin1.0 (looped) (fan-in relay)" in text
    doc = json.loads(out.read_text())
    assert doc["split"]["calibration"]["method"] == "calibration images"
    assert main(["allocate", str(model), "--chip", str(chip), "-o", str(tmp_path / "no.json"), "--plot", "none",
                 "--schedule", "looped", "--no-split"]) == 3
    res = tmp_path / "res.json"
    assert main(["simulate", str(model), "--alloc", str(out), "--images", "1", "--ticks", "60",
                 "--grid-points", "4", "-o", str(res)]) == 0
    r = json.loads(res.read_text())
    assert r["fanin_split"]["relays"] == 1 and r["network"]["neurons"] == net.n_neurons + 8 * 8 * 8
    assert main(["simulate", str(model), "--alloc", str(out), "--schedule", "unrolled", "--images", "1",
                 "--ticks", "20", "-o", str(res)]) == 1
    assert "simulate it with --schedule looped" in capsys.readouterr().err
