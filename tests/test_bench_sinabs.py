"""benchmarks/bench_sinabs.py: reading sinabs' output, the per-net comparison, and our DYNAP-CNN memory words
against the words sinabs 3.1 itself reported (benchmarks/results/peer_sinabs.json) and against its formulas."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("bench_sinabs", ROOT / "benchmarks" / "bench_sinabs.py")
B = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(B)
ARRAYS = B.weights(B.NETS)

NETS = {"two": {"input": [2, 8, 8], "layers": [B.conv(4), B.pool(2), B.conv(6, bias=True)]}}
CONSTRAINTS = [[16384, 65536, 1024]] * 3 + [[32768, 32768, 1024]] * 2 + [[65536, 16384, 1024]] * 2 + \
              [[16384, 16384, 1024]] * 2


def _peer_doc(**row):
    base = {"layers": [{"index": 0, "kernel": 64, "neuron": 256, "bias": 0},
                       {"index": 1, "kernel": 512, "neuron": 96, "bias": 6}],
            "constraints": CONSTRAINTS, "feasible": True, "cores": 2, "layer2core": {"0": 0, "1": 1}}
    base.update(row)
    return {"sinabs": "3.1.3", "device": "speck2fdevkit", "nets": {"two": base}}


def test_parse_peer_reads_the_last_json_line_among_other_output():
    text = "some warning\n" + json.dumps(_peer_doc()) + "\n"
    assert B.parse_peer(text, NETS)["nets"]["two"]["cores"] == 2


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["nets"].clear(), "net 'two' missing"),
    (lambda d: d["nets"]["two"]["layers"].pop(), "has 1 layers, expected 2"),
    (lambda d: d["nets"]["two"]["layers"][0].update(kernel=64.5), "memory words must be integers"),
    (lambda d: d["nets"]["two"]["layer2core"].pop("1"), "does not map every layer"),
])
def test_parse_peer_refuses_malformed_output_in_one_line(edit, message):
    doc = _peer_doc()
    edit(doc)
    with pytest.raises(ValueError, match=message):
        B.parse_peer(json.dumps(doc), NETS)
    with pytest.raises(ValueError, match="no JSON document"):
        B.parse_peer("Traceback ...\n", NETS)


def _mine(**kw):
    row = {"feasible": True, "cores": 2, "lower_bound": 2, "violations": [],
           "layers": [{"node": "L0", "kernel": 64, "neuron": 256, "bias": 0, "core_slot": 7, "core": 0},
                      {"node": "L2", "kernel": 512, "neuron": 96, "bias": 6, "core_slot": 8, "core": 1}]}
    row.update(kw)
    return row


def test_compare_agrees_when_only_the_choice_of_valid_cores_differs():
    row = B.compare(_mine(), _peer_doc()["nets"]["two"])
    assert row["agree"] and not row["same_cores"] and row["cores"] == {"ours": 2, "sinabs": 2}


def test_compare_names_every_difference_with_its_reason():
    mine = _mine(feasible=False, violations=["(network): layers 10 > limit 9"])
    mine["layers"] = copy.deepcopy(mine["layers"])
    mine["layers"][1]["bias"] = 0
    mine["layers"][0]["core_slot"] = 5
    mine["layers"][0]["neuron"] = 40000  # 40 k neurons on core 5, whose neuron memory is 16 Ki
    row = B.compare(mine, _peer_doc()["nets"]["two"])
    text = " | ".join(row["differences"])
    assert "layer 1 bias words: ours 0, sinabs 6" in text and "bias parameter" in text
    assert "layer 0 neuron words: ours 40,000, sinabs 256" in text
    assert "ours: layer(s) [0] on a core whose memories" in text
    assert "feasibility: ours False, sinabs True — (network): layers 10 > limit 9" in text
    assert not row["agree"]


def _sinabs_words(c_in, f, k, h, w, bias):
    """DynapcnnLayer.memory_summary's formulas (sinabs 3.1.3, dynapcnn_layer.py), written out independently."""
    kernel = c_in * 2 ** (math.ceil(math.log2(k * k)) + math.ceil(math.log2(f)))
    neuron = f * 2 ** (math.ceil(math.log2(h)) + math.ceil(math.log2(w)))
    return kernel, neuron, f if bias else 0


@pytest.mark.parametrize("name", ["convpool6", "strided3", "bias2", "pool4", "matching7"])
def test_our_memory_words_are_sinabs_formulas(name):
    spec = B.NETS[name]
    mine = B.ours(name, spec, ARRAYS)
    c, h, w = spec["input"]
    want = []
    for layer in spec["layers"]:
        if layer["kind"] == "pool":
            h, w = h // layer["size"], w // layer["size"]
            continue
        k, s, p = layer["k"], layer["stride"], layer["padding"]
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        want.append(_sinabs_words(c, layer["out"], k, h, w, layer["bias"]))
        c = layer["out"]
    assert [(r["kernel"], r["neuron"], r["bias"]) for r in mine["layers"]] == want
    assert mine["feasible"] and mine["cores"] == len(want)


def test_recorded_sinabs_output_matches_ours_today():
    # The peer's own numbers, as benchmarks/bench_sinabs.py recorded them from sinabs 3.1.3.
    doc = json.loads((ROOT / "benchmarks" / "results" / "peer_sinabs.json").read_text())
    assert doc["command"].startswith("python benchmarks/bench_sinabs.py") and doc["peer"]["sinabs"].startswith("3.1")
    for name, rec in doc["nets"].items():
        mine = B.ours(name, B.NETS[name], ARRAYS)
        assert mine["feasible"] == rec["feasible"]["sinabs"], name
        assert [(r["kernel"], r["neuron"], r["bias"]) for r in mine["layers"]] == \
            [(r["kernel"]["sinabs"], r["neuron"]["sinabs"], r["bias"]["sinabs"]) for r in rec["layers"]], name
        if rec["feasible"]["sinabs"]:
            assert mine["cores"] == rec["cores"]["sinabs"], name
