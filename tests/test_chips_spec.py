"""Chip specs: every packaged TOML loads and validates; each broken spec gives one clear message."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

from hardware_models import PACKAGED_CHIPS_DIR, ChipSpec, SpecError, list_chips, load_chip
from hardware_models.formulas import FORMULAS
from hardware_models.spec import SECTIONS, CoreSpec, TimingSpec, WeightSpec

EXPECTED_CHIPS = {"truenorth", "brainscales1", "brainscales2", "loihi", "loihi2", "spinnaker", "spinnaker2",
                  "dynapcnn", "ideal"}


def test_expected_chips_are_packaged():
    assert EXPECTED_CHIPS <= set(list_chips())


@pytest.mark.parametrize("name", list_chips())
def test_every_packaged_chip_loads_and_validates(name):
    chip = load_chip(name)
    assert isinstance(chip, ChipSpec)
    assert chip.name == name
    assert chip.timing.tick_seconds > 0
    assert isinstance(chip.looped_schedule_allowed, bool)
    # the same object comes back (cached, immutable)
    assert load_chip(name) is chip
    with pytest.raises(dataclasses.FrozenInstanceError):
        chip.core.max_neurons = 1  # type: ignore[misc]


@pytest.mark.parametrize("name", list_chips())
def test_every_number_in_every_packaged_chip_has_a_source(name):
    """Independent of the loader: walk the raw TOML and check the sourcing rule key by key."""
    data = tomllib.loads((PACKAGED_CHIPS_DIR / f"{name}.toml").read_text())
    for section in SECTIONS:
        table = data[section]
        for key, value in table.items():
            if key.endswith(("_source", "_uncertain", "_note")):
                continue
            if isinstance(value, (int, float, bool, list)) or value == "none":
                if isinstance(value, str) and not _numeric_field(section, key):
                    continue
                sourced = isinstance(table.get(key + "_source"), str)
                uncertain = table.get(key + "_uncertain") is True and isinstance(table.get(key + "_note"), str)
                assert sourced or uncertain, f"{name}.toml: {section}.{key} has no source"


def _numeric_field(section, key):
    f = {f.name: f for f in dataclasses.fields(SECTIONS[section])}[key]
    return f.metadata["kind"] in ("int", "float", "bool", "intlist")


@pytest.mark.parametrize("name", list_chips())
def test_sources_are_recorded_on_the_spec(name):
    chip = load_chip(name)
    for key, value, unit, doc, source in chip.rows():
        if key.count(".") and _numeric_field(*key.split(".")):
            assert source is not None, key
            assert source.text or (source.uncertain and source.note), key
        assert doc


def test_formulas_named_by_specs_exist_and_fit_their_role():
    from hardware_models.formulas import FORMULA_ROLES

    for name in list_chips():
        core = load_chip(name).core
        for field_name, valid in FORMULA_ROLES.items():
            f = getattr(core, field_name)
            assert f is None or (f in valid and f in FORMULAS)
        if core.synapse_memory_formula is not None:
            assert core.synapse_memory_formula.endswith(("_bits", "_bytes"))
            FORMULAS[core.synapse_memory_formula](10, 8)  # the common signature works


def test_memory_formulas_hand_worked():
    from hardware_models.formulas import (dynapcnn_bias_memory, loihi_synapse_memory_bits,
                                          spinnaker_synapse_row_bytes)

    # Loihi: 64 dense 8-bit weights -> 64*8 + 10 = 522 bits -> 9 words of 64 = 576 bits
    assert loihi_synapse_memory_bits(64, 8) == 576
    # 65 weights: a second group of 1 weight: 8 + 10 = 18 -> one more word
    assert loihi_synapse_memory_bits(65, 8) == 640
    assert loihi_synapse_memory_bits(0, 8) == 0
    assert spinnaker_synapse_row_bytes(10) == 4 * 13
    assert dynapcnn_bias_memory(32) == 32 and dynapcnn_bias_memory(32, has_bias=False) == 0


def test_truenorth_limits_match_publications():
    tn = load_chip("truenorth")
    assert (tn.chip.cores_per_chip, tn.chip.mesh_rows, tn.chip.mesh_cols) == (4096, 64, 64)
    assert (tn.core.max_neurons, tn.core.max_axons, tn.core.max_synapses) == (256, 256, 65536)
    assert tn.core.max_fanout_cores_per_neuron == 1
    assert tn.weights.sign == "axon-types" and tn.weights.n_axon_types == 4
    assert tn.timing.tick_seconds == 1e-3
    assert tn.looped_schedule_allowed is False
    assert "Merolla" in tn.source("core.max_neurons").text


def test_loihi_limits_match_nengo_loihi():
    lo = load_chip("loihi")
    assert (lo.core.max_neurons, lo.core.max_axons, lo.core.max_output_axons) == (1024, 4096, 4096)
    assert lo.core.synapse_memory_bytes * 8 == 16384 * 64
    assert lo.weights.sign == "exponent" and lo.weights.mixed_sign_costs_bit
    assert lo.weights.max_int_for(mixed_sign=True) == 127 and lo.weights.max_int_for(mixed_sign=False) == 255
    assert lo.source("timing.tick_seconds").uncertain


def test_dynapcnn_memories_and_formulas_match_sinabs():
    from hardware_models.formulas import dynapcnn_kernel_memory, dynapcnn_neuron_memory

    dc = load_chip("dynapcnn")
    assert dc.core.architecture == "conv-layer" and dc.chip.cores_per_chip == 9
    assert dc.core.kernel_memory_words == (16384,) * 3 + (32768,) * 2 + (65536,) * 2 + (16384,) * 2
    assert dc.core.neuron_memory_words == (65536,) * 3 + (32768,) * 2 + (16384,) * 4
    assert dc.core.max_destinations_per_layer == 2
    # sinabs docs/speck/overview.md worked example: conv 16→32, 3×3, 64×64 output
    assert dynapcnn_kernel_memory(16, 32, 3, 3) == 16 * 2 ** (4 + 5) == 8 * 1024
    assert dynapcnn_neuron_memory(32, 64, 64) == 128 * 1024  # fits no core
    assert all(dynapcnn_neuron_memory(32, 64, 64) > n for n in dc.core.neuron_memory_words)


def test_analog_chips_derive_their_tick():
    for name, accel in (("brainscales2", 1e3), ("brainscales1", 1e4)):
        chip = load_chip(name)
        assert chip.kind == "mixed-signal"
        assert chip.timing.acceleration_factor == accel
        assert chip.tick_seconds == pytest.approx(chip.timing.biological_tick_seconds / accel)
        assert chip.weights.sign == "two-rows"
        assert not chip.noise.is_noiseless


def test_ideal_chip_is_unbounded():
    ideal = load_chip("ideal")
    assert ideal.kind == "ideal"
    assert ideal.chip.cores_per_chip is None and ideal.core.max_neurons is None
    assert ideal.weights.bits is None and ideal.weights.sign == "float"
    assert ideal.noise.is_noiseless and ideal.looped_schedule_allowed


def test_to_dict_is_json_serializable():
    import json

    for name in list_chips():
        d = load_chip(name).to_dict()
        assert json.loads(json.dumps(d))["name"] == name


def test_load_by_path_and_unknown_name(tmp_path):
    src = PACKAGED_CHIPS_DIR / "truenorth.toml"
    p = tmp_path / "mychip.toml"
    p.write_text(src.read_text().replace('name = "truenorth"', 'name = "mychip"'))
    assert load_chip(p).name == "mychip"
    assert load_chip(str(p)).path == str(p)
    with pytest.raises(SpecError) as exc:
        load_chip("truenorht")
    msg = str(exc.value)
    assert "unknown chip 'truenorht'" in msg
    for name in list_chips():
        assert name in msg
    with pytest.raises(SpecError, match="no such chip file"):
        load_chip(tmp_path / "absent.toml")


# --------------------------------------------------------------------------------------------------
# bad specs: each gives exactly one clear message naming the file, the key, the rule and the value

BASE = (PACKAGED_CHIPS_DIR / "truenorth.toml").read_text()


def _write(tmp_path, text, fname="bad.toml"):
    p = tmp_path / fname
    p.write_text(text)
    return p


def _sub(pattern, repl, text=BASE, count=1):
    new, n = re.subn(pattern, repl, text, count=count, flags=re.M)
    assert n == count, pattern
    return new


BAD_SPECS = [
    ("zero axons", _sub(r"^max_axons = 256$", "max_axons = 0"),
     "bad.toml: core.max_axons: must be > 0, got 0"),
    ("unknown key", _sub(r"^max_axons = 256$", "max_axons = 256\nmax_axon = 256"),
     "bad.toml: core.max_axon: unknown key (did you mean 'max_axons'?)"),
    ("missing key", _sub(r"^max_neurons = 256\n", ""),
     "bad.toml: core.max_neurons: missing required key (write 'none' if it does not apply)"),
    ("wrong type", _sub(r"^max_neurons = 256$", 'max_neurons = "many"'),
     "bad.toml: core.max_neurons: must be an integer, got 'many'"),
    ("float for int", _sub(r"^max_neurons = 256$", "max_neurons = 256.0"),
     "bad.toml: core.max_neurons: must be an integer, got 256.0"),
    ("bool for int", _sub(r"^max_neurons = 256$", "max_neurons = true"),
     "bad.toml: core.max_neurons: must be an integer, got True"),
    ("missing source", _sub(r"^max_neurons_source = .*\n", ""),
     "bad.toml: core.max_neurons_source: missing: every number and boolean (also 'none' in its place) "
     "needs a source (or set max_neurons_uncertain = true with max_neurons_note)"),
    ("uncertain without note", _sub(r"^max_neurons_source = .*$", "max_neurons_uncertain = true"),
     "bad.toml: core.max_neurons_note: missing: core.max_neurons_uncertain = true needs a note saying why "
     "the value was chosen"),
    ("bad enum", _sub(r'^sign = "axon-types"$', 'sign = "ternary"'),
     "bad.toml: weights.sign: must be one of 'float', 'signed', 'axon-types', 'two-rows', 'exponent', "
     "got 'ternary'"),
    ("required none", _sub(r"^n_axon_types = 4$", 'n_axon_types = "none"'),
     "bad.toml: weights.n_axon_types: must be given when weights.sign is 'axon-types'"),
    ("missing table", BASE.split("[noise]")[0],
     "bad.toml: noise: missing required table (add [noise])"),
    ("unknown table", BASE + "\n[extras]\nfoo = 1\n",
     "bad.toml: extras: unknown key"),
    ("negative energy", _sub(r"^joules_per_synaptic_op = 26e-12$", "joules_per_synaptic_op = -1.0"),
     "bad.toml: energy.joules_per_synaptic_op: must be >= 0, got -1.0"),
    ("digital with mismatch", _sub(r"^weight_mismatch_rel_std = 0.0$", "weight_mismatch_rel_std = 0.1"),
     "bad.toml: noise.weight_mismatch_rel_std: must be 0 for a digital chip (fixed-pattern mismatch is an "
     "analog effect), got 0.1"),
    ("mesh too small", _sub(r"^mesh_rows = 64$", "mesh_rows = 2"),
     "bad.toml: chip.mesh_rows: mesh_rows × mesh_cols must be >= cores_per_chip (4096), got (2, 64)"),
    ("unknown formula", _sub(r'^synapse_memory_formula = "none"$', 'synapse_memory_formula = "magic"'),
     "bad.toml: core.synapse_memory_formula: unknown formula, got 'magic' (valid: loihi_synapse_memory_bits, "
     "spinnaker_synapse_row_bytes)"),
    ("formula in the wrong role", _sub(r'^synapse_memory_formula = "none"$',
                                       'synapse_memory_formula = "dynapcnn_kernel_memory"'),
     "bad.toml: core.synapse_memory_formula: unknown formula, got 'dynapcnn_kernel_memory'"),
    ("tick and acceleration disagree",
     _sub(r'^acceleration_factor = "none"$', "acceleration_factor = 1000.0")
     .replace('biological_tick_seconds = "none"', "biological_tick_seconds = 1e-3"),
     "bad.toml: timing.tick_seconds: must equal biological_tick_seconds / acceleration_factor = 1e-06 (or be "
     "'none' to derive it), got 0.001"),
    ("infinite", _sub(r"^tick_seconds = 1e-3$", "tick_seconds = inf"),
     "bad.toml: timing.tick_seconds: must be finite (write 'none' for unbounded), got inf"),
    ("not toml", BASE + "\nthis is = = not toml\n", "bad.toml: not valid TOML"),
    ("per-core list of wrong length",
     (PACKAGED_CHIPS_DIR / "dynapcnn.toml").read_text().replace(
         "bias_memory_words = [1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024]",
         "bias_memory_words = [1024, 1024]"),
     "bad.toml: core.bias_memory_words: needs one entry per core (chip.cores_per_chip = 9), got [1024, 1024]"),
    ("non-integer list item",
     (PACKAGED_CHIPS_DIR / "dynapcnn.toml").read_text().replace(
         "bias_memory_words = [1024, 1024, 1024,", 'bias_memory_words = [1024, "x", 1024,'),
     "bad.toml: core.bias_memory_words[1]: must be an integer, got 'x'"),
    ("conv-layer without formula",
     (PACKAGED_CHIPS_DIR / "dynapcnn.toml").read_text().replace(
         'kernel_memory_formula = "dynapcnn_kernel_memory"', 'kernel_memory_formula = "none"'),
     "bad.toml: core.kernel_memory_formula: must be given for conv-layer cores"),
    ("analog without acceleration",
     (PACKAGED_CHIPS_DIR / "brainscales2.toml").read_text().replace(
         'acceleration_factor = 1000.0', 'acceleration_factor = "none"'),
     "bad.toml: timing.acceleration_factor: acceleration_factor and biological_tick_seconds go together"),
]


@pytest.mark.parametrize("label,text,message", BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_gives_one_clear_message(tmp_path, label, text, message):
    with pytest.raises(SpecError) as exc:
        load_chip(_write(tmp_path, text))
    got = str(exc.value)
    assert got.startswith(message), got
    assert "\n" not in got
    assert isinstance(exc.value, ValueError)
    assert exc.value.file == "bad.toml"


def test_packaged_name_must_match_file(monkeypatch, tmp_path):
    import hardware_models.spec as spec

    _write(tmp_path, BASE, "other.toml")
    monkeypatch.setattr(spec, "PACKAGED_CHIPS_DIR", tmp_path)
    spec._load_packaged.cache_clear()
    try:
        with pytest.raises(SpecError, match=r"other.toml: name: must equal the file name 'other'"):
            load_chip("other")
    finally:
        spec._load_packaged.cache_clear()


def test_sections_validate_on_direct_construction():
    tn = load_chip("truenorth")
    with pytest.raises(SpecError, match=r"^core.max_neurons: must be > 0, got -3$"):
        dataclasses.replace(tn.core, max_neurons=-3)
    with pytest.raises(SpecError, match=r"^weights.bits: must be a value when weights.sign is 'signed'"):
        dataclasses.replace(tn.weights, sign="signed", bits=None)
    assert isinstance(dataclasses.replace(tn.core, max_neurons=128), CoreSpec)
    t = TimingSpec(tick_seconds=None, acceleration_factor=1e4, biological_tick_seconds=1e-4)
    assert t.tick_seconds == pytest.approx(1e-8)
    assert dataclasses.replace(t) == t  # derived tick passes re-validation
    with pytest.raises(SpecError, match="exponent_min: must be <= exponent_max"):
        WeightSpec(bits=8, sign="exponent", n_axon_types=None, exponent_bits=4, exponent_min=3, exponent_max=1,
                   exponent_scope="core", mixed_sign_costs_bit=True)


def test_hardware_models_imports_only_numpy_and_stdlib():
    import ast
    import sys

    allowed = set(sys.stdlib_module_names) | {"numpy", "hardware_models", "__future__"}
    for path in (PACKAGED_CHIPS_DIR.parent).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_load_chip_passes_a_spec_through_and_dataclasses_replace_revalidates():
    tn = load_chip("truenorth")
    assert load_chip(tn) is tn
    small = dataclasses.replace(tn, core=dataclasses.replace(tn.core, max_neurons=128))
    assert small.core.max_neurons == 128 and small.sources["core.max_neurons"] == tn.sources["core.max_neurons"]
    with pytest.raises(SpecError, match="noise.weight_mismatch_rel_std: must be 0 for a digital chip"):
        dataclasses.replace(tn, noise=dataclasses.replace(tn.noise, weight_mismatch_rel_std=0.1))
