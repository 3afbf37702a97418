"""Chip specifications: frozen, validated dataclasses loaded from sourced TOML files.

A chip is one TOML file (``hardware_models/chips/<name>.toml`` or a user's own). Every number in it
carries its provenance in sibling keys::

    [core]
    max_neurons = 256
    max_neurons_source = "Merolla et al. 2014, Science 345:668, Fig. 1"
    max_axons = 4096
    max_axons_uncertain = true          # no primary source pins it ...
    max_axons_note = "... so say why this figure was chosen"

Rules the loader enforces (each failure is one :class:`~hardware_models.errors.SpecError` naming the
file and the dotted key, e.g. ``truenorth.toml: core.max_axons: must be > 0, got 0``):

- every table and key below is required; unknown tables and keys are errors;
- ``"none"`` is the only spelling of None (an unbounded limit or a figure that does not apply), and
  only fields documented as optional accept it;
- every number, list of numbers and boolean (also when written ``"none"``) needs ``<key>_source``
  (non-empty text), or
  ``<key>_uncertain = true`` together with ``<key>_note``; ``<key>_note`` may accompany any key.

Mapping and simulation code reads limits as attributes, never as literals (STYLE.md §2)::

    chip = load_chip("truenorth")
    chip.core.max_neurons                   # 256
    chip.neuron.parameters_switchable_at_runtime  # False → only the unrolled schedule
    chip.source("core.max_neurons").text    # where 256 comes from
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from hardware_models.errors import SpecError
from hardware_models.formulas import FORMULA_ROLES

__all__ = ["PACKAGED_CHIPS_DIR", "NONE", "Source", "ChipLevel", "CoreSpec", "WeightSpec", "NeuronSpec",
           "TimingSpec", "EnergySpec", "NoiseSpec", "StateBufferSpec", "ChipSpec", "load_chip", "list_chips",
           "SECTIONS"]

#: Folder of the packaged chip TOML files (one per chip, file stem = chip name).
PACKAGED_CHIPS_DIR = Path(__file__).resolve().parent / "chips"

#: The TOML spelling of None (TOML has no null).
NONE = "none"

_SUFFIXES = ("_source", "_uncertain", "_note")


def _spec(doc: str, kind: str, *, unit: str = "", optional: bool = False, gt: float | None = None,
          ge: float | None = None, le: float | None = None, choices: tuple[str, ...] | None = None):
    """Field metadata: the one place a spec field's meaning, unit and rule are written down."""
    return dict(doc=doc, kind=kind, unit=unit, optional=optional, gt=gt, ge=ge, le=le, choices=choices)


def _f(doc: str, kind: str, **kw):
    return field(metadata=_spec(doc, kind, **kw))


def _f_default(default, doc: str, kind: str, **kw):
    """A field a TOML may leave out (then ``default``, which needs no source): mechanisms only some
    chips have, so that the other chip files and users' own files stay valid without them."""
    return field(default=default, metadata=_spec(doc, kind, **kw) | {"default": default})


@dataclass(frozen=True)
class Source:
    """Where one value of a chip spec comes from.

    Attributes
    ----------
    text : str or None
        Citation: paper (authors, year, venue, figure/table), datasheet, or open-source tool file.
    uncertain : bool
        True where no primary source pins the value; ``note`` then says why it was chosen.
    note : str or None
        Free-text remark (derivation, caveat).
    """

    text: str | None = None
    uncertain: bool = False
    note: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.text:
            parts.append(self.text)
        if self.uncertain:
            parts.append("[UNCERTAIN]")
        if self.note:
            parts.append(f"note: {self.note}")
        return " ".join(parts) if parts else "(no source)"


# --------------------------------------------------------------------------------------------------
# validation helpers shared by every section


_RULES = (("gt", ">", operator.gt), ("ge", ">=", operator.ge), ("le", "<=", operator.le))


def _rules(meta):
    """The numeric rules of a field: (symbol, bound, comparison) for each of gt/ge/le that is set."""
    return [(sym, meta[k], op) for k, sym, op in _RULES if meta[k] is not None]


def _describe_rule(meta) -> str:
    return " and ".join(f"{sym} {bound:g}" for sym, bound, _ in _rules(meta))


def _check_number(key: str, v, meta):
    for sym, bound, op in _rules(meta):
        if not op(v, bound):
            raise SpecError(key, f"must be {sym} {bound:g}", v)


#: Largest magnitude of an integer field without its own bound: far above any chip's count or size, and
#: small enough that products of two limits stay exact in int64/float64 arithmetic (issue 14).
MAX_INT = 2**40
#: Largest value of a field counted in bits (64-bit words are the widest any chip stores).
MAX_BITS = 64


def _check_magnitude(key: str, v, meta):
    if meta["le"] is not None:
        return
    limit = MAX_BITS if meta["unit"] == "bits" else MAX_INT
    if abs(v) > limit:
        raise SpecError(key, f"must be <= {limit} in magnitude (no chip comes near it)", v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _coerce(key: str, value, meta):
    """Check one field value against its metadata; return the normalized value (tuples, floats)."""
    kind = meta["kind"]
    if value is None:
        if not meta["optional"]:
            raise SpecError(key, f"must be a value, not {NONE!r} (this field is required for every chip)")
        return None
    if kind == "int":
        if not _is_int(value):
            raise SpecError(key, "must be an integer", value)
        _check_number(key, value, meta)
        _check_magnitude(key, value, meta)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(key, "must be a number", value)
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(key, f"must be finite (write {NONE!r} for unbounded)", value)
        _check_number(key, value, meta)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(key, "must be true or false", value)
        return value
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise SpecError(key, "must be a non-empty string", value)
        if meta["choices"] is not None and value not in meta["choices"]:
            raise SpecError(key, f"must be one of {', '.join(map(repr, meta['choices']))}", value)
        return value
    if kind == "intlist":
        if not isinstance(value, (list, tuple)) or not value:
            raise SpecError(key, "must be a non-empty list of integers", value)
        for i, item in enumerate(value):
            if not _is_int(item):
                raise SpecError(f"{key}[{i}]", "must be an integer", item)
            _check_number(f"{key}[{i}]", item, meta)
            _check_magnitude(f"{key}[{i}]", item, meta)
        return tuple(value)
    if kind == "strlist":
        if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) and s.strip() for s in value):
            raise SpecError(key, "must be a list of non-empty strings", value)
        return tuple(value)
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover - programming error


def _validate_fields(obj, section: str) -> None:
    for f in fields(obj):
        if "kind" not in f.metadata:
            continue
        key = f"{section}.{f.name}" if section else f.name
        value = getattr(obj, f.name)
        new = _coerce(key, value, f.metadata)
        if new is not value:
            object.__setattr__(obj, f.name, new)


def _needs_source(meta, value) -> bool:
    """Numbers, lists of numbers, booleans (and None in their place) carry a source; text needs none."""
    return meta["kind"] in ("int", "float", "bool", "intlist")


def _attributes_doc(cls) -> str:
    lines = ["", "", "    Attributes", "    ----------"]
    for f in fields(cls):
        meta = f.metadata
        if "kind" not in meta:
            continue
        typ = {"int": "int", "float": "float", "bool": "bool", "str": "str", "intlist": "tuple of int",
               "strlist": "tuple of str"}[meta["kind"]]
        if meta["optional"]:
            typ += " or None"
        lines.append(f"    {f.name} : {typ}")
        extra = []
        if meta["unit"]:
            extra.append(f"Unit: {meta['unit']}.")
        if meta["choices"]:
            extra.append("One of " + ", ".join(repr(c) for c in meta["choices"]) + ".")
        rule = _describe_rule(meta)
        if rule:
            extra.append(f"Must be {rule}.")
        lines.append("        " + meta["doc"] + (" " + " ".join(extra) if extra else ""))
    return "\n".join(lines) + "\n"


def _documented(cls):
    cls.__doc__ = (cls.__doc__ or "").rstrip() + _attributes_doc(cls)
    return cls


class _Section:
    """Mixin: validate every field on construction (STYLE.md §5)."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self):
        _validate_fields(self, self.SECTION)
        self._check()

    def _check(self) -> None:  # cross-field rules within the section
        pass


# --------------------------------------------------------------------------------------------------
# the sections


#: Most cells of one chip's core grid (SpiNNaker2: 152 cores, TrueNorth: 4096).
MAX_MESH_CORES = 2**20


@_documented
@dataclass(frozen=True)
class ChipLevel(_Section):
    """Chip-level organisation: how many cores a chip has, how they are arranged, how many chips."""

    SECTION: ClassVar[str] = "chip"

    cores_per_chip: int | None = _f(
        "Cores (for conv-layer chips: layer processors) on one chip; None = unbounded (ideal chip).",
        "int", unit="cores", optional=True, gt=0)
    mesh_rows: int | None = _f(
        "Rows of the on-chip core grid used for placement (mesh_rows × mesh_cols ≥ cores_per_chip); "
        "chips without a 2-D core mesh list their cores as 1 × cores_per_chip.",
        "int", unit="cores", optional=True, gt=0)
    mesh_cols: int | None = _f("Columns of the on-chip core grid.", "int", unit="cores", optional=True, gt=0)
    max_chips: int | None = _f(
        "Most chips one system can tile together; None = unbounded (multi-chip boards, the ideal chip).",
        "int", unit="chips", optional=True, gt=0)
    shared_memory_bytes: int | None = _f(
        "Off-core memory per chip shared by its cores (SpiNNaker SDRAM); None if none or not a limit.",
        "int", unit="bytes", optional=True, gt=0)

    def _check(self) -> None:
        grid = (self.mesh_rows, self.mesh_cols)
        if self.cores_per_chip is None:
            if grid != (None, None):
                raise SpecError("chip.mesh_rows", f"must be {NONE!r} when chip.cores_per_chip is {NONE!r}",
                                self.mesh_rows)
            return
        if None in grid:
            raise SpecError("chip.mesh_rows" if self.mesh_rows is None else "chip.mesh_cols",
                            "must be a value when chip.cores_per_chip is given")
        if self.mesh_rows * self.mesh_cols > MAX_MESH_CORES:
            raise SpecError("chip.mesh_rows", f"mesh_rows × mesh_cols must be <= {MAX_MESH_CORES} (the placement "
                            "grid is an array of that many cells)", (self.mesh_rows, self.mesh_cols))
        if self.mesh_rows * self.mesh_cols < self.cores_per_chip:
            raise SpecError("chip.mesh_rows", f"mesh_rows × mesh_cols must be >= cores_per_chip "
                            f"({self.cores_per_chip})", (self.mesh_rows, self.mesh_cols))

    @property
    def max_cores(self) -> int | None:
        """Cores in the largest system (cores_per_chip × max_chips); None if either is unbounded."""
        if self.cores_per_chip is None or self.max_chips is None:
            return None
        return self.cores_per_chip * self.max_chips


CORE_ARCHITECTURES = ("crossbar", "conv-layer")


@_documented
@dataclass(frozen=True)
class CoreSpec(_Section):
    """Per-core limits. None means the limit does not exist (or is not the binding one) on this chip.

    ``architecture = "crossbar"``: a core holds up to ``max_neurons`` neurons fed by up to
    ``max_axons`` distinct inputs (TrueNorth, Loihi, SpiNNaker, BrainScaleS). ``"conv-layer"``: one
    core holds one whole convolutional layer, limited by kernel and neuron memory computed with the
    named formulas (DYNAP-CNN/Speck); per-core memory sizes are lists, one entry per core.
    """

    SECTION: ClassVar[str] = "core"

    architecture: str = _f("Core type.", "str", choices=CORE_ARCHITECTURES)
    max_neurons: int | None = _f("Neurons (compartments) per core.", "int", unit="neurons", optional=True, gt=0)
    max_axons: int | None = _f("Distinct inputs (input axons / synapse rows) per core.", "int", unit="axons",
                               optional=True, gt=0)
    max_output_axons: int | None = _f(
        "Output axon slots per core (Loihi: a neuron needs one per destination core).", "int",
        unit="axons", optional=True, gt=0)
    max_synapses: int | None = _f("Synapses per core (crossbar points or stored weights).", "int",
                                  unit="synapses", optional=True, gt=0)
    synapse_memory_bytes: int | None = _f(
        "Synapse memory per core, when it (not max_synapses) is the binding limit; use with "
        "synapse_memory_formula.", "int", unit="bytes", optional=True, gt=0)
    synapse_memory_formula: str | None = _f(
        "Name of a function in hardware_models/formulas.py giving the synapse memory one input axon "
        "(row) uses: f(n_weights, weight_bits), unit given by its _bits/_bytes suffix.",
        "str", optional=True)
    neuron_state_bytes_per_neuron: float | None = _f(
        "Memory one neuron's state and parameters take (for memory-limited software cores).", "float",
        unit="bytes/neuron", optional=True, gt=0)
    max_fanin_per_neuron: int | None = _f("Most synapses feeding one neuron.", "int", unit="synapses",
                                          optional=True, gt=0)
    max_fanout_cores_per_neuron: int | None = _f(
        "Most destination cores one neuron can reach (TrueNorth: 1 axon, so fan-out needs neuron copies).",
        "int", unit="cores", optional=True, gt=0)
    max_destinations_per_layer: int | None = _f(
        "Most destination cores (layers) one conv-layer core can send to (DYNAP-CNN: 2).", "int",
        unit="cores", optional=True, gt=0)
    kernel_memory_words: tuple[int, ...] | None = _f(
        "Kernel (weight) memory of each core, one entry per core (conv-layer cores).", "intlist",
        unit="words", optional=True, gt=0)
    neuron_memory_words: tuple[int, ...] | None = _f(
        "Neuron (state) memory of each core, one entry per core (conv-layer cores).", "intlist",
        unit="words", optional=True, gt=0)
    bias_memory_words: tuple[int, ...] | None = _f(
        "Bias memory of each core, one entry per core (conv-layer cores).", "intlist", unit="words",
        optional=True, gt=0)
    kernel_memory_formula: str | None = _f(
        "Name of the function in hardware_models/formulas.py computing a layer's kernel memory.", "str",
        optional=True)
    neuron_memory_formula: str | None = _f(
        "Name of the function in hardware_models/formulas.py computing a layer's neuron memory.", "str",
        optional=True)
    max_kernel_size: int | None = _f("Largest kernel side (kernel_h and kernel_w each).", "int", unit="pixels",
                                     optional=True, gt=0)
    max_stride: int | None = _f("Largest convolution stride.", "int", unit="pixels", optional=True, gt=0)
    max_channels: int | None = _f("Most input or output channels of one conv-layer core.", "int",
                                  unit="channels", optional=True, gt=0)
    local_memory_bytes: int | None = _f(
        "Memory of one core for what it keeps itself: its neurons' state and input buffers, parameter "
        "tables, the looped schedule's state buffer and, where core.synapses_in_local_memory, its synapse "
        "rows (memory-based cores; None = fixed neuron slots).", "int", unit="bytes", optional=True, gt=0)
    synapses_in_local_memory: bool = _f(
        "Whether a core's synapse rows count against core.local_memory_bytes (False: they live elsewhere, "
        "e.g. in chip.shared_memory_bytes).", "bool")
    input_buffer_bytes_per_neuron: float | None = _f(
        "Input (ring) buffer memory per neuron in core.local_memory_bytes: synapse types × delay slots × "
        "bytes per slot.", "float", unit="bytes/neuron", optional=True, ge=0)
    synaptic_events_per_second: float | None = _f(
        "Synaptic events (one spike arriving at one synapse) a core processes per second; with "
        "timing.tick_seconds it bounds the synaptic load of a core in real time (software cores).", "float",
        unit="events/s", optional=True, gt=0)
    pooling_sizes: tuple[int, ...] | None = _f(
        "Sum-pooling windows (square, stride = window) a conv-layer core can apply to its output spikes "
        "before sending them on, one choice per destination (conv -> spike -> pool inside the core).",
        "intlist", unit="pixels", optional=True, gt=0)
    # Synapse encodings (Loihi). Optional keys: a chip file without them has none of these mechanisms.
    shared_synapse_lists: bool = _f_default(
        False, "Whether input axons can point into one shared synapse list (pointer, length and a "
        "compartment base per axon): a convolution's kernel is then stored once per edge pattern and input "
        "channel instead of once per axon.", "bool")
    population_axons: bool = _f_default(
        False, "Whether one input axon can carry the spikes of all channels of a presynaptic pixel (the "
        "channel travels with the spike); used by the lower bound, since a chip that has them can need "
        "fewer input axons than one per presynaptic neuron.", "bool")
    population_axon_out_slots: int | None = _f_default(
        None, "Output-axon slots (core.max_output_axons) a population axon takes per destination core; it "
        "serves every channel of its pixel on the sending core.", "int", unit="slots", optional=True, gt=0)
    max_compartment_base: int | None = _f_default(
        None, "Largest compartment base (offset of an axon's targets) + 1; targets beyond it need copies of "
        "a shared synapse list with the excess folded into the stored indices.", "int", unit="compartments",
        optional=True, gt=0)
    synapse_index_bits: tuple[int, ...] | None = _f_default(
        None, "Target-index widths a sparse synapse list may use, in bits per synapse (the smallest that "
        "holds the largest index is used); None: synapses carry no index.", "intlist", unit="bits",
        optional=True, gt=0)
    synapse_group_size: int | None = _f_default(
        None, "Most synapses in one synapse-memory group (each group carries a header and is rounded up "
        "to whole memory words).", "int", unit="synapses", optional=True, gt=0)
    synapse_group_header_bits: int | None = _f_default(
        None, "Header bits per synapse group (format index and synapse count).", "int", unit="bits",
        optional=True, ge=0)
    synapse_word_bits: int | None = _f_default(
        None, "Width of one synapse-memory word; a group is rounded up to whole words.", "int", unit="bits",
        optional=True, gt=0)

    def _check(self) -> None:
        for name, valid in FORMULA_ROLES.items():
            value = getattr(self, name)
            if value is not None and value not in valid:
                raise SpecError(f"core.{name}", "unknown formula", value,
                                hint="valid: " + ", ".join(sorted(valid)))
        if self.architecture == "conv-layer":
            for name in ("kernel_memory_words", "neuron_memory_words", "kernel_memory_formula",
                         "neuron_memory_formula"):
                if getattr(self, name) is None:
                    raise SpecError(f"core.{name}", "must be given for conv-layer cores")

    def memory_words(self, core_index: int) -> dict[str, int | None]:
        """Kernel, neuron and bias memory of conv-layer core ``core_index`` (None where not given)."""
        def pick(values):
            return None if values is None else values[core_index]

        return {"kernel": pick(self.kernel_memory_words), "neuron": pick(self.neuron_memory_words),
                "bias": pick(self.bias_memory_words)}


WEIGHT_SIGNS = ("float", "signed", "axon-types", "two-rows", "exponent")


@_documented
@dataclass(frozen=True)
class WeightSpec(_Section):
    """How synaptic weights are stored.

    ``sign`` says how a signed weight is represented:

    - ``"float"``: unconstrained floating point (the ideal chip; ``bits`` is None);
    - ``"signed"``: a ``bits``-bit signed integer per synapse (two's complement or sign + magnitude;
      SpiNNaker: unsigned magnitude with the sign given by the synapse type);
    - ``"axon-types"`` (TrueNorth): each input axon has one of ``n_axon_types`` types; each neuron
      stores one signed ``bits``-bit integer weight per type; the crossbar bit only switches it on;
    - ``"two-rows"`` (BrainScaleS): ``bits`` of magnitude per synapse; a row is excitatory or
      inhibitory, so an input with mixed-sign weights takes two rows (two axons);
    - ``"exponent"`` (Loihi): ``bits``-bit magnitude mantissa scaled by a shared power-of-two
      exponent in [exponent_min, exponent_max] per ``exponent_scope``; a group holding both signs
      keeps ``bits − 1`` magnitude bits when ``mixed_sign_costs_bit``.
    """

    SECTION: ClassVar[str] = "weights"

    bits: int | None = _f("Stored bits per weight value (see sign for what they cover); None = float.",
                          "int", unit="bits", optional=True, gt=0, le=32)
    sign: str = _f("Sign and scale representation.", "str", choices=WEIGHT_SIGNS)
    n_axon_types: int | None = _f("Axon types per core (sign = 'axon-types').", "int", unit="types",
                                  optional=True, gt=0)
    exponent_bits: int | None = _f("Bits of the shared weight exponent (sign = 'exponent').", "int",
                                   unit="bits", optional=True, gt=0)
    exponent_min: int | None = _f("Smallest shared exponent (power of two).", "int", optional=True, ge=-1000)
    exponent_max: int | None = _f("Largest shared exponent (power of two).", "int", optional=True, le=1000)
    exponent_scope: str | None = _f("What shares one exponent.", "str", optional=True,
                                    choices=("core", "synapse-group"))
    mixed_sign_costs_bit: bool = _f("Whether a weight group holding both signs loses one magnitude bit.",
                                    "bool")

    def _check(self) -> None:
        if self.sign == "float":
            if self.bits is not None:
                raise SpecError("weights.bits", f"must be {NONE!r} when weights.sign is 'float'", self.bits)
        elif self.bits is None:
            raise SpecError("weights.bits", f"must be a value when weights.sign is {self.sign!r}")
        if self.sign == "axon-types" and self.n_axon_types is None:
            raise SpecError("weights.n_axon_types", "must be given when weights.sign is 'axon-types'")
        if self.sign == "exponent":
            for name in ("exponent_bits", "exponent_min", "exponent_max", "exponent_scope"):
                if getattr(self, name) is None:
                    raise SpecError(f"weights.{name}", "must be given when weights.sign is 'exponent'")
            if self.exponent_min > self.exponent_max:
                raise SpecError("weights.exponent_min", f"must be <= exponent_max ({self.exponent_max})",
                                self.exponent_min)

    def max_int_for(self, mixed_sign: bool = True) -> int | None:
        """Largest integer magnitude of one stored weight at one scale; None for float weights.

        ``2^bits − 1`` for magnitude storage ("two-rows"; "exponent" when the group has one sign or
        mixed signs cost nothing), ``2^(bits−1) − 1`` for signed storage ("signed", "axon-types",
        "exponent" with mixed signs when ``mixed_sign_costs_bit``).
        """
        if self.bits is None:
            return None
        if self.sign == "two-rows":
            return 2 ** self.bits - 1
        if self.sign == "exponent" and not (mixed_sign and self.mixed_sign_costs_bit):
            return 2 ** self.bits - 1
        return 2 ** (self.bits - 1) - 1

    @property
    def max_int(self) -> int | None:
        """:meth:`max_int_for` a mixed-sign weight group (the common case after conversion)."""
        return self.max_int_for(mixed_sign=True)

    @property
    def dynamic_range(self) -> float | None:
        """Largest over smallest non-zero weight magnitude at one scale (= ``max_int``); None = float."""
        return None if self.max_int is None else float(self.max_int)


@_documented
@dataclass(frozen=True)
class NeuronSpec(_Section):
    """Neuron model and what can change at run time."""

    SECTION: ClassVar[str] = "neuron"

    model: str = _f("Neuron model: 'if' can run without leak; 'lif' always leaks.", "str",
                    choices=("if", "lif"))
    reset: str = _f("Reset after a spike the mapping uses: 'subtract' the threshold (preferred for rate "
                    "coding) or set to 'zero'.", "str", choices=("subtract", "zero"))
    parameters_switchable_at_runtime: bool = _f(
        "Whether thresholds/biases can be rewritten between phases while running; decides whether "
        "the looped schedule of the iterative block is allowed.", "bool")
    max_synaptic_delay_ticks: int | None = _f(
        "Longest synaptic plus axonal delay a connection can have; None = unbounded.", "int",
        unit="ticks", optional=True, ge=1)
    extended_delay_ticks: int | None = _f(
        "Longest delay reachable with the chip's delay-extension mechanism (extra cores that hold spikes "
        "back, beyond neuron.max_synaptic_delay_ticks); None = no such mechanism.", "int", unit="ticks",
        optional=True, ge=1)
    threshold_bits: int | None = _f("Bits of the firing threshold; None = float.", "int", unit="bits",
                                    optional=True, gt=0)
    membrane_bits: int | None = _f("Bits of the membrane potential; None = float.", "int", unit="bits",
                                   optional=True, gt=0)
    bias_bits: int | None = _f(
        "Bits of the constant input a neuron adds every tick (bias; TrueNorth: the signed leak), sign "
        "included, in units of the weight step: |bias| <= 2^(bits-1) - 1 steps; None = not limited "
        "(float, or no published range).", "int", unit="bits", optional=True, gt=1)
    bias_supported: bool = _f("Whether a neuron can add a constant input every tick (bias or leak).",
                              "bool")
    membrane_time_constant_s: float | None = _f(
        "Membrane time constant in emulated (biological) seconds for leaky analog neurons; None for IF.",
        "float", unit="s", optional=True, gt=0)

    @property
    def looped_schedule_allowed(self) -> bool:
        """The looped schedule needs per-phase parameter rewrites (DESIGN.md §6)."""
        return self.parameters_switchable_at_runtime


@_documented
@dataclass(frozen=True)
class TimingSpec(_Section):
    """Time base. Digital chips give ``tick_seconds``; accelerated analog chips give
    ``acceleration_factor`` and ``biological_tick_seconds`` and the tick follows:

    .. math:: t_\\text{tick} = t_\\text{tick, bio} / a

    In TOML write ``tick_seconds = "none"`` to have it derived; after loading it is always set.
    """

    SECTION: ClassVar[str] = "timing"

    tick_seconds: float | None = _f("Wall-clock hardware seconds per simulation tick.", "float", unit="s",
                                    optional=True, gt=0)
    acceleration_factor: float | None = _f(
        "How much faster than biological real time the analog circuits run; None for digital chips.",
        "float", unit="×", optional=True, gt=0)
    biological_tick_seconds: float | None = _f(
        "Emulated (biological-time) duration one tick stands for on an accelerated analog chip.",
        "float", unit="s", optional=True, gt=0)

    def _check(self) -> None:
        a, bio = self.acceleration_factor, self.biological_tick_seconds
        if (a is None) != (bio is None):
            missing = "timing.biological_tick_seconds" if bio is None else "timing.acceleration_factor"
            raise SpecError(missing, "acceleration_factor and biological_tick_seconds go together")
        if self.tick_seconds is None:
            if a is None:
                raise SpecError("timing.tick_seconds", "must be a value unless acceleration_factor and "
                                "biological_tick_seconds are given")
            object.__setattr__(self, "tick_seconds", bio / a)
        elif a is not None and not math.isclose(self.tick_seconds, bio / a, rel_tol=1e-9):
            raise SpecError("timing.tick_seconds", f"must equal biological_tick_seconds / acceleration_factor "
                            f"= {bio / a:g} (or be {NONE!r} to derive it)", self.tick_seconds)

    def ticks_to_seconds(self, ticks):
        """Hardware wall-clock seconds for ``ticks`` ticks (scalar or array)."""
        return ticks * self.tick_seconds


@_documented
@dataclass(frozen=True)
class EnergySpec(_Section):
    """Energy model, all per chip: E = E_syn·(synaptic ops) + E_spike·(spikes) + E_neuron·(neuron updates)
    + P_static·t. None where no figure is published; energy is then reported as unknown."""

    SECTION: ClassVar[str] = "energy"

    joules_per_synaptic_op: float | None = _f("Energy per synaptic operation (one spike through one synapse).",
                                              "float", unit="J", optional=True, ge=0)
    joules_per_spike: float | None = _f("Energy per emitted spike (routing/communication).", "float", unit="J",
                                        optional=True, ge=0)
    joules_per_neuron_update: float | None = _f("Energy per neuron per tick (state update).", "float",
                                                unit="J", optional=True, ge=0)
    static_power_w: float | None = _f("Static (leakage + idle) power of one chip.", "float", unit="W",
                                      optional=True, ge=0)


@_documented
@dataclass(frozen=True)
class NoiseSpec(_Section):
    """Analog non-idealities as relative standard deviations of multiplicative factors with mean 1.

    Fixed-pattern mismatch is drawn once per chip instance (seeded); temporal noise per trial.
    All are 0 for digital chips.
    """

    SECTION: ClassVar[str] = "noise"

    weight_mismatch_rel_std: float = _f("Per-synapse gain mismatch, fixed per chip instance.", "float",
                                        unit="relative std", ge=0)
    neuron_mismatch_rel_std: float = _f("Per-neuron threshold/gain mismatch, fixed per chip instance.",
                                        "float", unit="relative std", ge=0)
    temporal_noise_rel_std: float = _f("Trial-to-trial noise on the synaptic input.", "float",
                                       unit="relative std", ge=0)

    @property
    def is_noiseless(self) -> bool:
        return (self.weight_mismatch_rel_std == 0 and self.neuron_mismatch_rel_std == 0
                and self.temporal_noise_rel_std == 0)


REGENERATORS = ("generator-neurons", "core-memory")


@_documented
@dataclass(frozen=True)
class StateBufferSpec(_Section):
    """How the looped schedule's state buffer *regenerates* a rate code on this chip (DESIGN.md §6).

    In phase n the buffer feeds the iterative block a regular spike train at the rate each state
    neuron fired in the final window of phase n−1 (``mapping.schedule``). Realizations:

    - ``"generator-neurons"``: per state neuron ``neurons_per_state_neuron`` extra neurons on the
      cores — with 2, a counter that integrates the state neuron's spikes over the window and an
      emitter, an IF neuron whose bias the chip's management processor rewrites at the phase
      boundary to ``count / W · θ`` so that it fires the regular train; with 1, a programmable
      neuron keeps both;
    - ``"core-memory"``: software cores keep ``bytes_per_state_neuron`` per state neuron (window
      count and the emitter's accumulator) in core memory and emit the train from code;
    - None (``"none"``): the chip cannot regenerate (a looped run replays the spike train verbatim).
    """

    SECTION: ClassVar[str] = "state_buffer"

    regenerator: str | None = _f("Mechanism that regenerates the state's rate code between phases; None if "
                                 "the chip cannot.", "str", optional=True, choices=REGENERATORS)
    neurons_per_state_neuron: int | None = _f(
        "Extra neurons per state neuron for regenerator = 'generator-neurons' (counter + emitter, or one "
        "programmable neuron doing both).", "int", unit="neurons", optional=True, ge=1, le=2)
    bytes_per_state_neuron: float | None = _f(
        "Core memory per state neuron for regenerator = 'core-memory' (window count + emitter accumulator).",
        "float", unit="bytes/neuron", optional=True, gt=0)

    def _check(self) -> None:
        need = {"generator-neurons": "neurons_per_state_neuron", "core-memory": "bytes_per_state_neuron"}
        for mech, name in need.items():
            value = getattr(self, name)
            if self.regenerator == mech and value is None:
                raise SpecError(f"state_buffer.{name}", f"must be given when state_buffer.regenerator is {mech!r}")
            if self.regenerator != mech and value is not None:
                raise SpecError(f"state_buffer.{name}", f"must be {NONE!r} unless state_buffer.regenerator is "
                                f"{mech!r}", value)


#: TOML table name → section class, in file order.
SECTIONS: dict[str, type] = {
    "chip": ChipLevel,
    "core": CoreSpec,
    "weights": WeightSpec,
    "neuron": NeuronSpec,
    "timing": TimingSpec,
    "energy": EnergySpec,
    "noise": NoiseSpec,
    "state_buffer": StateBufferSpec,
}

CHIP_KINDS = ("digital", "mixed-signal", "ideal")


@_documented
@dataclass(frozen=True)
class ChipSpec(_Section):
    """A neuromorphic chip model: identity, nested limits, and the source of every value.

    ``sources`` maps dotted keys (``"core.max_neurons"``) to :class:`Source`; ``path`` is the file it
    was loaded from (empty when constructed in code). The sections are ``chip``
    (:class:`ChipLevel`), ``core`` (:class:`CoreSpec`), ``weights`` (:class:`WeightSpec`), ``neuron``
    (:class:`NeuronSpec`), ``timing`` (:class:`TimingSpec`), ``energy`` (:class:`EnergySpec`), ``noise``
    (:class:`NoiseSpec`) and ``state_buffer`` (:class:`StateBufferSpec`).
    """

    SECTION: ClassVar[str] = ""

    name: str = _f("Short name (packaged chips: the file stem, e.g. 'truenorth').", "str")
    full_name: str = _f("Human-readable name.", "str")
    kind: str = _f("Circuit family.", "str", choices=CHIP_KINDS)
    description: str = _f("One paragraph: what the chip is and what this model leaves out.", "str")
    references: tuple[str, ...] = _f("Full references the per-value sources abbreviate.", "strlist")
    chip: ChipLevel = field(default=None)
    core: CoreSpec = field(default=None)
    weights: WeightSpec = field(default=None)
    neuron: NeuronSpec = field(default=None)
    timing: TimingSpec = field(default=None)
    energy: EnergySpec = field(default=None)
    noise: NoiseSpec = field(default=None)
    state_buffer: StateBufferSpec = field(default=None)
    sources: Mapping[str, Source] = field(default_factory=dict, compare=False, repr=False)
    path: str = field(default="", compare=False)

    def _check(self) -> None:
        for section, cls in SECTIONS.items():
            if not isinstance(getattr(self, section), cls):
                raise SpecError(section, f"must be a {cls.__name__}", type(getattr(self, section)).__name__)
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        n = self.chip.cores_per_chip
        for name in ("kernel_memory_words", "neuron_memory_words", "bias_memory_words"):
            values = getattr(self.core, name)
            if values is not None and len(values) != n:
                raise SpecError(f"core.{name}", f"needs one entry per core (chip.cores_per_chip = {n})",
                                list(values))
        if self.core.architecture == "conv-layer" and n is None:
            raise SpecError("chip.cores_per_chip", "must be a value for conv-layer chips")
        if self.kind == "digital":
            for name in ("weight_mismatch_rel_std", "neuron_mismatch_rel_std"):
                if getattr(self.noise, name) != 0:
                    raise SpecError(f"noise.{name}", "must be 0 for a digital chip (fixed-pattern mismatch "
                                    "is an analog effect)", getattr(self.noise, name))
        if self.kind == "mixed-signal" and self.timing.acceleration_factor is None:
            raise SpecError("timing.acceleration_factor", "must be given for a mixed-signal chip")
        if self.kind == "ideal" and not self.noise.is_noiseless:
            raise SpecError("noise", "must be all 0 for the ideal chip")
        if self.state_buffer.regenerator == "generator-neurons" and not self.neuron.parameters_switchable_at_runtime:
            raise SpecError("state_buffer.regenerator", "'generator-neurons' rewrites the emitter's bias at every "
                            "phase boundary, so it needs neuron.parameters_switchable_at_runtime = true",
                            self.state_buffer.regenerator)

    # -- convenience -------------------------------------------------------------------------------

    def source(self, key: str) -> Source | None:
        """The :class:`Source` of dotted ``key`` (e.g. ``"core.max_neurons"``), or None."""
        return self.sources.get(key)

    @property
    def looped_schedule_allowed(self) -> bool:
        """Whether the looped schedule may run on this chip (per-phase parameter rewrites)."""
        return self.neuron.parameters_switchable_at_runtime

    @property
    def tick_seconds(self) -> float:
        """Hardware seconds per tick (shortcut for ``timing.tick_seconds``)."""
        return self.timing.tick_seconds

    def get(self, key: str):
        """The value at dotted ``key`` (``"core.max_neurons"``)."""
        obj = self
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the values (no sources), for JSON artifacts such as ``alloc.json``."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if "kind" in f.metadata}
        out["references"] = list(self.references)
        for section in SECTIONS:
            obj = getattr(self, section)
            out[section] = {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
                            for f in fields(obj)}
        return out

    def rows(self):
        """Yield ``(dotted_key, value, unit, doc, Source or None)`` for every field, in file order."""
        for f in fields(self):
            if "kind" in f.metadata:
                yield f.name, getattr(self, f.name), f.metadata["unit"], f.metadata["doc"], self.source(f.name)
        for section in SECTIONS:
            obj = getattr(self, section)
            for f in fields(obj):
                key = f"{section}.{f.name}"
                yield key, getattr(obj, f.name), f.metadata["unit"], f.metadata["doc"], self.source(key)


# --------------------------------------------------------------------------------------------------
# loading


def list_chips() -> list[str]:
    """Names of the packaged chips (file stems in :data:`PACKAGED_CHIPS_DIR`), sorted."""
    return sorted(p.stem for p in PACKAGED_CHIPS_DIR.glob("*.toml"))


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f"did you mean {close[0]!r}?" if close else "valid keys: " + ", ".join(valid)


def _read_table(table: Mapping[str, Any], cls, prefix: str, sources: dict[str, Source],
                fname: str) -> dict[str, Any]:
    """Split one TOML table into field values (None for ``"none"``) and sources; check the keys."""
    names = [f.name for f in fields(cls) if "kind" in f.metadata]
    meta = {f.name: f.metadata for f in fields(cls) if "kind" in f.metadata}
    allowed = set(names) | {n + s for n in names for s in _SUFFIXES}
    dotted = (lambda k: f"{prefix}.{k}") if prefix else (lambda k: k)
    extra_allowed = set(SECTIONS) if not prefix else set()
    for key in table:
        if key not in allowed and key not in extra_allowed:
            raise SpecError(dotted(key), "unknown key", file=fname, hint=_suggest(key, names))
    values: dict[str, Any] = {}
    for name in names:
        if name not in table and "default" in meta[name]:
            values[name] = meta[name]["default"]
            sources[dotted(name)] = Source(text=f"not in {fname}: default {meta[name]['default']!r} (the chip "
                                           "has no such mechanism)")
            continue
        if name not in table:
            raise SpecError(dotted(name), "missing required key", file=fname,
                            hint=f"write {NONE!r} if it does not apply")
        raw = table[name]
        if isinstance(raw, dict):
            raise SpecError(dotted(name), "must be a value, not a table", file=fname)
        value = None if raw == NONE else raw
        values[name] = value
        src, unc, note = (table.get(name + s) for s in _SUFFIXES)
        if src is not None and (not isinstance(src, str) or not src.strip()):
            raise SpecError(dotted(name + "_source"), "must be a non-empty string", src, file=fname)
        if unc is not None and not isinstance(unc, bool):
            raise SpecError(dotted(name + "_uncertain"), "must be true or false", unc, file=fname)
        if note is not None and (not isinstance(note, str) or not note.strip()):
            raise SpecError(dotted(name + "_note"), "must be a non-empty string", note, file=fname)
        if unc and note is None:
            raise SpecError(dotted(name + "_note"), f"missing: {dotted(name)}_uncertain = true needs a note "
                            "saying why the value was chosen", file=fname)
        if _needs_source(meta[name], value) and src is None and not unc:
            raise SpecError(dotted(name + "_source"), "missing: every number and boolean (also "
                            "'none' in its place) needs a source", file=fname, hint=f"or set {name}_uncertain = true with {name}_note")
        if src is not None or unc or note is not None:
            sources[dotted(name)] = Source(text=src, uncertain=bool(unc), note=note)
    return values


#: Largest chip spec file read (the packaged ones are ~10 kB).
MAX_SPEC_BYTES = 1 << 20


def _load_file(path: Path, packaged: bool) -> ChipSpec:
    fname = path.name
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(None, f"is {size} bytes, more than the {MAX_SPEC_BYTES} a chip spec may have",
                            file=fname)
        with open(path, "rb") as fh:
            data = tomllib.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise SpecError(None, "no such chip file", str(path), file=fname) from None
    except UnicodeDecodeError as exc:
        raise SpecError(None, f"not UTF-8 text (byte {exc.start}); a chip spec is a TOML text file",
                        file=fname) from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SpecError(None, f"not valid TOML: {' '.join(str(exc).split()) or type(exc).__name__}",
                        file=fname) from None
    sources: dict[str, Source] = {}
    try:
        top = _read_table(data, ChipSpec, "", sources, fname)
        sections = {}
        for section, cls in SECTIONS.items():
            if section not in data:
                raise SpecError(section, "missing required table", file=fname, hint=f"add [{section}]")
            if not isinstance(data[section], dict):
                raise SpecError(section, "must be a table", data[section], file=fname)
            values = _read_table(data[section], cls, section, sources, fname)
            sections[section] = cls(**values)
        spec = ChipSpec(**top, **sections, sources=sources, path=str(path))
    except SpecError as exc:
        if exc.file is None:
            raise exc.with_file(fname) from None
        raise
    if packaged and spec.name != path.stem:
        raise SpecError("name", f"must equal the file name {path.stem!r} for a packaged chip", spec.name,
                        file=fname)
    return spec


@functools.lru_cache(maxsize=None)
def _load_packaged(name: str) -> ChipSpec:
    return _load_file(PACKAGED_CHIPS_DIR / f"{name}.toml", packaged=True)


def load_chip(name_or_path: str | os.PathLike) -> ChipSpec:
    """Load and validate a chip spec by packaged name (``"truenorth"``) or path to a TOML file.

    Parameters
    ----------
    name_or_path : str, path-like or ChipSpec
        A name from :func:`list_chips`, or a path (anything with a path separator or a ``.toml``
        suffix, or an existing file). A :class:`ChipSpec` is returned as is, so functions can take
        either. To derive a variant in code use ``dataclasses.replace`` (it re-validates).

    Returns
    -------
    ChipSpec
        The frozen, validated spec. Packaged specs are cached (they are immutable).

    Raises
    ------
    SpecError
        The file is invalid (the message names the file and the dotted key), or the name is unknown
        (the message lists the packaged names).
    """
    if isinstance(name_or_path, ChipSpec):
        return name_or_path
    text = os.fspath(name_or_path)
    is_path = (not isinstance(name_or_path, str) or os.sep in text or "/" in text
               or text.endswith(".toml") or os.path.isfile(text))
    if is_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise SpecError(None, f"no such chip file: {text}", hint="packaged chips: " + ", ".join(list_chips()))
        return _load_file(path, packaged=False)
    if text not in list_chips():
        raise SpecError(None, f"unknown chip {text!r}",
                        hint="valid names: " + ", ".join(list_chips()) + "; or give a path to a .toml file")
    return _load_packaged(text)

