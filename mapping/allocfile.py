"""``alloc.json``: the typed, versioned contract between ``allocate`` and ``simulate`` (schema 2).

One writer and one reader; nothing else parses the file::

    from mapping import allocfile
    allocfile.write(plan(net, "loihi"), "alloc.json")      # an Allocation (cores streamed) or an AllocFile
    alloc = allocfile.read("alloc.json")                    # AllocFile; another schema version is refused
    alloc.neurons_of("hidden", 2)                           # [(core id, (c0, c1, r0, r1, q0, q1)), ...]
    alloc.core_of_neuron("hidden", 2, (C, H, W))            # (C, H, W) int core id per neuron

What a core holds (:class:`CoreRecord`): its tiles (:class:`TileRecord`, boxes of neurons of one
population) and its explicit input-axon list (:class:`AxonRecord`): per tile and presynaptic
population (or the network input), the box of presynaptic neurons that enter the core, the row of a
signed pair on ``"two-rows"`` chips, the producer's fan-out copy that drives them where the chip
copies neurons, and whether they are population axons (one per pixel of the box, all its channels;
Loihi's convolutions) (see :mod:`mapping.axons`). The records' sizes add up to the core's ``axons``.

File layout: the header keys of :data:`ALLOC_KEYS`, then ``"cores"`` last, one core per line (so a
reader can stream them, :func:`iter_cores`, and :func:`read_header` can stop before them). An axon
record is a list in the order of :data:`AXON_FIELDS` (the file repeats them under ``axon_fields``).
A file of another ``schema_version``, or malformed (a missing key, a wrong type, counts that do not
add up), is refused with one line naming the file, the key and the fix.

``split`` (:class:`mapping.split.SplitRecord`, or null) records the fan-in splitting of the
allocated network: its relay populations, the connections each took over and their thresholds, so
that ``simulate --alloc`` rebuilds exactly that network (:func:`mapping.split.apply_record`); the
population and connection names of ``cores`` are those of that network. The key was added without
a version change: a schema-2 file without it reads as "nothing split".
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from itnet_neuro.errors import SchemaError, ValidationError
from mapping.violations import Violation

ALLOC_SCHEMA_VERSION = 2
FIX = "re-run itnet-neuro allocate"

#: Keys of ``alloc.json`` before ``cores`` (which comes last), in file order.
ALLOC_KEYS = ("schema_version", "chip", "network", "input", "schedule", "schedule_reason", "alternatives",
              "feasible", "cores_used", "chips_used", "n_chips", "phase_ticks", "lower_bound_cores",
              "lower_bound_detail", "ratio_to_lower_bound", "violations", "quantization", "looped", "notes",
              "not_allocated", "placement", "per_layer", "conv_layers", "split", "axon_fields")

#: Order of the values of one axon record in the file.
AXON_FIELDS = ("tile", "source", "iteration", "c0", "c1", "r0", "r1", "q0", "q1", "sign", "copy", "population")
#: The fields of files written before population axons (read with ``population`` 0).
AXON_FIELDS_V0 = AXON_FIELDS[:-1]

Box = tuple  # (c0, c1, r0, r1, q0, q1): channels [c0, c1) × rows [r0, r1) × cols [q0, q1)


# ------------------------------------------------------------------------------------ the types

@dataclass(frozen=True)
class ChipRef:
    """The chip the allocation is for: packaged name (or TOML path) and the limits it used."""

    name: str
    full_name: str
    architecture: str
    path: str
    limits: dict


@dataclass(frozen=True)
class InputRef:
    """The network input: injected from off chip as input axons of the cores it feeds."""

    name: str
    shape: tuple  # (C, H, W)


@dataclass(frozen=True)
class TileRecord:
    """A box of neurons of one population on one core.

    Attributes
    ----------
    population : str
        IR population without ``@n``; ``"<state>~relayK"`` for a relay of the looped state buffer.
    iteration : int or None
        The unrolled copy's iteration (1-based); None outside the block and for the looped block
        (whose cores serve every iteration in turn).
    channels, rows, cols : (int, int)
        Half-open ranges ``[a, b)`` in the population's ``(C, H, W)``.
    neurons, own : int
        Neurons with and without the fan-out copies of the chip (``neurons - own`` copies).
    kind : str
        ``"population"``, ``"relay"`` (replaying state buffer) or ``"regen"`` (regenerating state
        buffer: ``"<state>~regen"``, ``"<state>~count"``, ``"<state>~emit"``).
    multiplexed : bool
        A looped block member.
    """

    population: str
    iteration: int | None
    channels: tuple
    rows: tuple
    cols: tuple
    neurons: int
    own: int
    kind: str = "population"
    multiplexed: bool = False

    @property
    def box(self) -> Box:
        return self.channels + self.rows + self.cols


@dataclass(frozen=True)
class AxonRecord:
    """Input axons of a core: one per presynaptic neuron of ``box`` (per row on two-rows chips).

    Attributes
    ----------
    tile : int
        Index into the core's ``tiles``: the neurons these axons feed.
    source : str
        The presynaptic population (as in :class:`TileRecord`) or the network input's name.
    iteration : int or None
        The presynaptic copy's iteration, as in :class:`TileRecord`.
    box : (c0, c1, r0, r1, q0, q1)
        Presynaptic neurons in the source's ``(C, H, W)``.
    sign : int
        ``0``: one axon per neuron carrying its weights of either sign; ``+1`` / ``-1``: the
        excitatory / inhibitory row of a signed pair (``weights.sign = "two-rows"``).
    copy : int
        Which of each presynaptic neuron's fan-out copies drives these axons (``0`` where the chip
        does not copy neurons); see :mod:`mapping.axons`.
    population : int
        ``1``: population axons, one per pixel of ``box`` carrying all its channels
        (``core.population_axons``, Loihi's convolutions); ``0``: one per neuron.
    """

    tile: int
    source: str
    iteration: int | None
    box: Box
    sign: int = 0
    copy: int = 0
    population: int = 0

    @property
    def size(self) -> int:
        """Axons: one per neuron of ``box``, or per pixel for population axons (``population`` 1)."""
        c0, c1, r0, r1, q0, q1 = self.box
        return (1 if self.population else c1 - c0) * (r1 - r0) * (q1 - q0)


@dataclass(frozen=True)
class CoreRecord:
    """One core: where it is, its tiles, its input axons and its totals.

    ``n_axons`` (``"axons"`` in the file) equals ``Σ size`` of ``axons``; ``neurons`` equals the
    tiles' ``Σ neurons``.
    """

    id: int
    chip: int
    x: int
    y: int
    tiles: tuple
    axons: tuple
    neurons: int
    n_axons: int
    synapses: int
    memory_bytes: int
    output_axons: int


@dataclass(frozen=True)
class StateBufferRef:
    """The looped schedule's state buffer (``looped.state_buffer`` in the file; :mod:`mapping.schedule`).

    Attributes
    ----------
    mode : str
        ``"regenerate"`` (a steady rate code of the previous phase's final window) or ``"replay"``
        (phase n-1's spike train verbatim; files written before the regenerating buffer existed).
    mechanism : str
        How the chip realizes it (``"generator-neurons"``, ``"core-memory"``, ``"synaptic-delay"``,
        ``"memory"``, ``"relay-neurons"``; ``"none"`` without feedback).
    window_ticks : int or None
        ``regenerate``: ticks at the end of a phase whose spike count sets the regenerated rate.
    """

    mode: str
    mechanism: str
    window_ticks: int | None = None


@dataclass(frozen=True)
class AllocFile:
    """Everything ``alloc.json`` holds (see :func:`mapping.allocfile.from_allocation` for each field).

    ``violations`` is empty exactly when ``feasible``; ``cores`` has ``cores_used`` entries,
    numbered in placement order. Free-form report sections (``limits``, ``lower_bound_detail``,
    ``quantization``, ``looped``, ``placement``, ``per_layer``, ``conv_layers``) stay plain JSON.
    """

    chip: ChipRef
    network: dict
    input: InputRef
    schedule: str
    schedule_reason: str
    alternatives: dict
    feasible: bool
    cores_used: int
    chips_used: int
    n_chips: int
    phase_ticks: int | None
    lower_bound: int
    lower_bound_detail: dict
    ratio_to_lower_bound: float | None  # None: layers unplaced (``not_allocated["layers"]``)
    violations: tuple
    quantization: dict
    looped: dict | None
    notes: tuple
    not_allocated: dict
    placement: dict
    seconds: float | None = field(compare=False)  # time allocating took: not written (same inputs, same bytes)
    per_layer: tuple
    conv_layers: tuple
    cores: tuple = ()
    state_buffer: StateBufferRef | None = None
    split: object | None = None  # mapping.split.SplitRecord
    schema_version: int = ALLOC_SCHEMA_VERSION
    path: str = field(default="", compare=False)

    @property
    def phase_choice(self) -> dict | None:
        """How ``phase_ticks`` was measured (``allocate --phase-ticks auto``), else None."""
        return None if self.looped is None else self.looped.get("phase_ticks_choice")

    @functools.cached_property
    def _tiles_by_population(self) -> dict:
        index: dict = {}
        for c in self.cores:
            for t in c.tiles:
                index.setdefault((t.population, t.iteration), []).append((c.id, t.box))
        return index

    def neurons_of(self, population: str, iteration: int | None = None) -> list:
        """``[(core id, box), ...]``: where the neurons of ``population`` (copy ``iteration``) are."""
        return list(self._tiles_by_population.get((population, iteration), []))

    def core_of_neuron(self, population: str, iteration: int | None, shape) -> np.ndarray:
        """``(C, H, W)`` int64 array: the core of each neuron of ``population`` (copy ``iteration``).

        Raises :class:`~itnet_neuro.errors.ValidationError` if a tile lies outside ``shape`` or a
        neuron is on no core (the allocation is not of this network).
        """
        shape = tuple(int(s) for s in shape)
        out = np.full(shape, -1, np.int64)
        label = population if iteration is None else f"{population}@{iteration}"
        for core, (c0, c1, r0, r1, q0, q1) in self.neurons_of(population, iteration):
            if c1 > shape[0] or r1 > shape[1] or q1 > shape[2]:
                raise ValidationError(f"{self.path or 'alloc.json'}: {label}: a tile of core {core} ends at "
                                      f"{(c1, r1, q1)}, outside the population's shape {shape}; allocate this network")
            out[c0:c1, r0:r1, q0:q1] = core
        missing = int((out < 0).sum())
        if missing:
            raise ValidationError(f"{self.path or 'alloc.json'}: {label}: {missing} of {out.size} neurons are on no "
                                  "core of the allocation; allocate this network")
        return out

    def core_of(self) -> dict:
        """Node name (``pop`` or ``pop@n``) → ``(C, H, W)`` core id per neuron, for every placed population."""
        out = {}
        for (pop, it), tiles in self._tiles_by_population.items():
            shape = tuple(int(max(b[k] for _, b in tiles)) for k in (1, 3, 5))
            out[pop if it is None else f"{pop}@{it}"] = self.core_of_neuron(pop, it, shape)
        return out


# ------------------------------------------------------------------------------ from an Allocation

def _plain(obj):
    """``obj`` as JSON gives it back (numpy scalars → numbers, tuples → lists)."""
    from itnet_neuro.utils import json_default

    return json.loads(json.dumps(obj, default=json_default))


def _lim(x):
    import math

    return None if x is None or (isinstance(x, float) and math.isinf(x)) else (int(x) if float(x).is_integer() else x)


def _chip_ref(a) -> ChipRef:
    spec, lim = a.spec, a.limits
    limits = {"max_neurons": _lim(lim.max_neurons), "max_axons": _lim(lim.max_axons),
              "max_synapses": _lim(lim.max_synapses), "synapse_memory_bytes": _lim(lim.synapse_memory_bytes),
              "max_output_axons": _lim(lim.max_output_axons), "max_fanin_per_neuron": _lim(lim.max_fanin),
              "max_fanout_cores_per_neuron": _lim(lim.max_fanout_cores), "cores_per_chip": _lim(lim.cores_per_chip),
              "mesh": [_lim(lim.mesh_rows), _lim(lim.mesh_cols)], "max_chips": _lim(lim.max_chips)}
    return ChipRef(spec.name, spec.full_name, lim.architecture, str(getattr(spec, "path", "") or ""), limits)


#: What the ``looped.state_buffer`` of ``alloc.json`` does, by its ``mode`` (mapping.schedule).
BUFFER_SEMANTICS = {
    "regenerate": "see mapping.schedule: in phase n every state neuron's rate over the last window_ticks of phase "
                  "n-1 (m spikes) is re-emitted as a regular train from local tick 1 (floor(k·m/W + 1/2) spikes by "
                  "local tick k), delivered after the feedback connection's delay; block neurons restart from "
                  "v_init at every phase start",
    "replay": "see mapping.schedule: iteration n at local tick τ of phase n receives the state spikes iteration "
              "n-1 emitted at local tick τ - d of phase n-1 (d: the feedback connection's delay), i.e. a delay "
              "line of phase_ticks + d ticks; block neurons restart from v_init at every phase start",
}


def _looped(a) -> dict | None:
    if a.schedule != "looped":
        return None
    sb = a.view.state_buffer
    return {"phase_ticks": a.phase_ticks, "phase_ticks_choice": a.phase_choice, "state_buffer": sb,
            "semantics": BUFFER_SEMANTICS[sb.get("mode", "replay")]}


def _state_buffer(looped: dict | None) -> StateBufferRef | None:
    if not looped:
        return None
    sb = looped.get("state_buffer") or {}
    return StateBufferRef(sb.get("mode", "replay"), sb.get("mechanism", "none"), sb.get("window_ticks"))


def from_allocation(a, *, cores: bool = True) -> AllocFile:
    """The :class:`AllocFile` of an :class:`~mapping.allocate.Allocation` (``cores=False``: header only).

    ``cores`` are derived by :func:`mapping.axons.iter_core_records` (tiles, axon records, totals).
    """
    from mapping.chip import quantization_of
    from mapping.report import per_layer

    view = a.view
    readouts = sorted({n.population for n in view.nodes if n.read_out})
    records = ()
    if cores:
        from mapping.axons import iter_core_records

        records = tuple(iter_core_records(a))
    return AllocFile(
        chip=_chip_ref(a),
        network={"neurons": int(view.n_neurons), "synapses": int(view.n_synapses), "nodes": len(view.nodes)},
        input=InputRef(view.input_name, tuple(int(s) for s in view.input_shape)),
        schedule=a.schedule, schedule_reason=a.schedule_reason, alternatives=_plain(a.alternatives),
        feasible=a.feasible, cores_used=a.cores_used, chips_used=a.chips_used, n_chips=a.chips_used,
        phase_ticks=a.phase_ticks if a.schedule == "looped" else None, lower_bound=int(a.lower_bound),
        lower_bound_detail=_plain(a.lower_bound_detail), ratio_to_lower_bound=None if a.ratio_to_lower_bound is None else round(a.ratio_to_lower_bound, 4),
        violations=tuple(Violation.from_dict(v.to_dict()) for v in a.violations),  # as the file holds them
        quantization=_plain(quantization_of(a.spec)), looped=_plain(_looped(a)), notes=tuple(view.notes),
        not_allocated={"input": f"{view.input_name} {list(view.input_shape)}: injected from off chip as "
                                "input axons (counted on the cores it feeds)",
                       "readouts": "decoded by the host from the spikes of " + (", ".join(readouts) or "-")
                                   + " (one off-chip destination per neuron, counted in fan-out)",
                       **({"layers": list(a.unplaced_layers)} if a.unplaced_layers else {})},
        placement=_plain(a.traffic), seconds=None, per_layer=tuple(_plain(per_layer(a))),
        conv_layers=tuple(_plain(a.conv_layer.get("layers", []))), cores=records,
        state_buffer=_state_buffer(_plain(_looped(a))), split=a.split)


# ------------------------------------------------------------------------------------- to JSON

def _head_json(f: AllocFile) -> dict:
    chip = {"name": f.chip.name, "full_name": f.chip.full_name, "architecture": f.chip.architecture,
            "path": f.chip.path, "limits": f.chip.limits}
    return {"schema_version": f.schema_version, "chip": chip, "network": f.network,
            "input": {"name": f.input.name, "shape": list(f.input.shape)}, "schedule": f.schedule,
            "schedule_reason": f.schedule_reason, "alternatives": f.alternatives, "feasible": f.feasible,
            "cores_used": f.cores_used, "chips_used": f.chips_used, "n_chips": f.n_chips,
            "phase_ticks": f.phase_ticks, "lower_bound_cores": f.lower_bound,
            "lower_bound_detail": f.lower_bound_detail, "ratio_to_lower_bound": f.ratio_to_lower_bound,
            "violations": [v.to_dict() for v in f.violations], "quantization": f.quantization,
            "looped": f.looped, "notes": list(f.notes), "not_allocated": f.not_allocated,
            "placement": f.placement, "per_layer": list(f.per_layer),
            "conv_layers": list(f.conv_layers), "split": None if f.split is None else _plain(f.split.to_dict()),
            "axon_fields": list(AXON_FIELDS)}


def core_json(c: CoreRecord) -> dict:
    """One entry of ``cores`` (tiles as objects, axon records as lists in :data:`AXON_FIELDS` order)."""
    tiles = []
    for t in c.tiles:
        d = {"population": t.population, "iteration": t.iteration, "channels": list(t.channels),
             "rows": list(t.rows), "cols": list(t.cols), "neurons": t.neurons, "own": t.own}
        if t.kind != "population":
            d["kind"] = t.kind
        if t.multiplexed:
            d["multiplexed"] = True
        tiles.append(d)
    axons = [[r.tile, r.source, r.iteration, *r.box, r.sign, r.copy, r.population] for r in c.axons]
    return {"id": c.id, "chip": c.chip, "x": c.x, "y": c.y, "tiles": tiles, "neurons": c.neurons,
            "axons": c.n_axons, "synapses": c.synapses, "memory_bytes": c.memory_bytes,
            "output_axons": c.output_axons, "axon_list": axons}


def to_dict(f: AllocFile) -> dict:
    """The whole ``alloc.json`` document as one dict (small allocations; :func:`write` streams)."""
    doc = _head_json(f)
    doc["cores"] = [core_json(c) for c in f.cores]
    return doc


def write(alloc, path) -> Path:
    """Write ``alloc.json`` atomically: ``alloc`` is an :class:`AllocFile` or an ``Allocation``.

    The cores of an ``Allocation`` are derived and written one at a time (millions of them for a
    large network on TrueNorth), so memory stays bounded by a chunk of cores.
    """
    from itnet_neuro.utils import atomic_path

    if isinstance(alloc, AllocFile):
        head, cores = alloc, iter(alloc.cores)
    else:
        from mapping.axons import iter_core_records

        head, cores = from_allocation(alloc, cores=False), iter_core_records(alloc)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        text = json.dumps(_head_json(head), indent=2)
        out.write(text[:-2] + ',\n  "cores": [')
        for i, core in enumerate(cores):
            out.write(("\n    " if i == 0 else ",\n    ") + json.dumps(core_json(core), separators=(",", ":")))
        out.write("\n  ]\n}\n")
    return path


# ------------------------------------------------------------------------------------ from JSON

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_range(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v) and 0 <= v[0] < v[1]


_KINDS = {
    "int": (_is_int, "an integer"),
    "int?": (lambda v: v is None or _is_int(v), "an integer or null"),
    "count": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "num": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "num?": (lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)), "a number or null"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "dict?": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "range": (_is_range, "a range [start, stop) of integers with 0 <= start < stop"),
    "shape": (lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(x) and x > 0 for x in v),
              "a shape [C, H, W] of positive integers"),
}


class _Doc:
    """One JSON object of an ``alloc.json``, read with its key path; a bad value fails in one line."""

    def __init__(self, path, obj, where: str = ""):
        self.path, self.obj, self.where = path, obj, where

    def fail(self, key, problem: str):
        raise SchemaError(f"{self.path}: key {self.where + str(key)!r}: {problem}; {FIX}")

    def get(self, key, kind: str):
        if not isinstance(self.obj, dict) or key not in self.obj:
            self.fail(key, "missing")
        value = self.obj[key]
        ok, desc = _KINDS[kind]
        if not ok(value):
            self.fail(key, f"expected {desc}, got {json.dumps(value)[:40]}")
        return value

    def sub(self, key, kind: str = "dict") -> "_Doc":
        return _Doc(self.path, self.get(key, kind), f"{self.where}{key}.")

    def element(self, key, i: int, item, kind: str = "dict") -> "_Doc":
        """``_Doc`` of element ``i`` of the list at ``key``, checked to be ``kind``."""
        ok, desc = _KINDS[kind]
        if not ok(item):
            self.fail(f"{key}[{i}]", f"expected {desc}, got {json.dumps(item)[:40]}")
        return _Doc(self.path, item, f"{self.where}{key}[{i}].")

    def items(self, key, kind: str = "dict"):
        """``_Doc`` of every element of the list at ``key`` (each checked to be ``kind``)."""
        for i, item in enumerate(self.get(key, "list")):
            yield self.element(key, i, item, kind)


def _violation(d: dict, doc: _Doc) -> Violation:
    v = _Doc(doc.path, d, doc.where)
    its = v.get("iterations", "list")
    if not all(_is_int(i) for i in its):
        v.fail("iterations", "expected a list of integers")
    return Violation(v.get("population", "str"), v.get("iteration", "int?"), v.get("resource", "str"),
                     v.get("value", "num"), v.get("limit", "num?"), v.get("hint", "str"), v.get("what", "str"),
                     tuple(its))


def _head(doc: _Doc, path) -> AllocFile:
    version = doc.get("schema_version", "int") if "schema_version" in doc.obj else None
    if version != ALLOC_SCHEMA_VERSION:
        doc.fail("schema_version", f"{'missing' if version is None else version}: this itnet-neuro reads "
                                   f"alloc.json schema {ALLOC_SCHEMA_VERSION}")
    chip, inp = doc.sub("chip"), doc.sub("input")
    schedule = doc.get("schedule", "str")
    if schedule not in ("looped", "unrolled"):
        doc.fail("schedule", f"{schedule!r} is not 'looped' or 'unrolled'")
    f = AllocFile(
        chip=ChipRef(chip.get("name", "str"), chip.get("full_name", "str"), chip.get("architecture", "str"),
                     chip.get("path", "str"), chip.get("limits", "dict")),
        network=doc.get("network", "dict"), input=InputRef(inp.get("name", "str"), tuple(inp.get("shape", "shape"))),
        schedule=schedule, schedule_reason=doc.get("schedule_reason", "str"),
        alternatives=doc.get("alternatives", "dict"), feasible=doc.get("feasible", "bool"),
        cores_used=doc.get("cores_used", "count"), chips_used=doc.get("chips_used", "count"),
        n_chips=doc.get("n_chips", "count"), phase_ticks=doc.get("phase_ticks", "int?"),
        lower_bound=doc.get("lower_bound_cores", "count"), lower_bound_detail=doc.get("lower_bound_detail", "dict"),
        ratio_to_lower_bound=doc.get("ratio_to_lower_bound", "num?"),
        violations=tuple(_violation(v.obj, v) for v in doc.items("violations")),
        quantization=doc.get("quantization", "dict"), looped=doc.get("looped", "dict?"),
        notes=tuple(x.obj for x in doc.items("notes", "str")), not_allocated=doc.get("not_allocated", "dict"),
        placement=doc.get("placement", "dict"),
        seconds=doc.get("seconds", "num") if "seconds" in doc.obj else None,  # written before issue 14
        per_layer=tuple(x.obj for x in doc.items("per_layer")),
        conv_layers=tuple(x.obj for x in doc.items("conv_layers")),
        split=_split(doc.sub("split"), schedule) if doc.obj.get("split") is not None else None, path=str(path))
    _check_head(f, doc)
    if f.looped is not None:
        f = dataclasses.replace(f, state_buffer=_read_state_buffer(doc, f.phase_ticks))
    return f


def _read_state_buffer(doc: _Doc, phase_ticks: int | None) -> StateBufferRef:
    """``looped.state_buffer``: its mode (``replay`` where a file predates it) and the regenerating window."""
    from mapping.schedule import STATE_BUFFERS

    sb = doc.sub("looped").sub("state_buffer")
    mode = sb.get("mode", "str") if "mode" in sb.obj else "replay"
    if mode not in STATE_BUFFERS:
        sb.fail("mode", f"{mode!r} is not one of {', '.join(STATE_BUFFERS)}")
    window = sb.get("window_ticks", "int?") if "window_ticks" in sb.obj else None
    if mode == "regenerate" and not (window is not None and 1 <= window <= (phase_ticks or 0)):
        sb.fail("window_ticks", f"{window} for the regenerating buffer (needs 1 <= window <= phase_ticks "
                                f"{phase_ticks})")
    return StateBufferRef(mode, sb.get("mechanism", "str"), window)


def _split(d: _Doc, schedule: str):
    """The :class:`mapping.split.SplitRecord` of the ``split`` key, every relay checked."""
    from mapping.split import MODES, Relay, SplitRecord

    if d.get("schedule", "str") != schedule:
        d.fail("schedule", f"{d.obj['schedule']!r} differs from the allocation's schedule {schedule!r}")
    if d.get("mode", "str") not in MODES:
        d.fail("mode", f"{d.obj['mode']!r} is not one of {', '.join(MODES)}")
    relays = []
    for r in d.items("relays"):
        ch = r.get("channels", "range")
        sign, level, inputs, theta = r.get("sign", "int"), r.get("level", "int"), r.get("inputs", "list"), r.obj.get("threshold")
        if sign not in (-1, 0, 1) or level < 1:
            r.fail("sign", f"sign {sign} must be -1, 0 or 1 and level {level} >= 1")
        if not inputs or not all(isinstance(x, str) for x in inputs):
            r.fail("inputs", "expected a non-empty list of connection names")
        if theta is not None and not (isinstance(theta, list) and len(theta) == ch[1] - ch[0]
                                      and all(_KINDS["num"][0](x) and x > 0 for x in theta)):
            r.fail("threshold", f"expected null or {ch[1] - ch[0]} positive numbers")
        relays.append(Relay(r.get("name", "str"), r.get("post", "str"), tuple(ch), sign, level, tuple(inputs),
                            None if theta is None else tuple(float(x) for x in theta)))
    return SplitRecord(schedule, d.obj["mode"], tuple(relays), tuple(x.obj for x in d.items("nodes")),
                       tuple(x.obj for x in d.items("unsplit")), d.get("extra_ticks", "dict"),
                       d.get("calibration", "dict"))


def _check_head(f: AllocFile, doc: _Doc) -> None:
    if f.feasible != (not f.violations):
        doc.fail("feasible", f"{str(f.feasible).lower()} with {len(f.violations)} violation(s)")
    if f.n_chips != f.chips_used:
        doc.fail("n_chips", f"{f.n_chips} differs from chips_used {f.chips_used}")
    if f.schedule == "looped" and not (f.phase_ticks and f.phase_ticks >= 1):
        doc.fail("phase_ticks", f"{f.phase_ticks} for the looped schedule (needs an integer >= 1)")
    if tuple(doc.get("axon_fields", "list")) not in (AXON_FIELDS, AXON_FIELDS_V0):
        doc.fail("axon_fields", f"expected {list(AXON_FIELDS)}")


def _tile(t: _Doc) -> TileRecord:
    ch, rows, cols = (tuple(t.get(k, "range")) for k in ("channels", "rows", "cols"))
    own = t.get("own", "count")
    if own != (ch[1] - ch[0]) * (rows[1] - rows[0]) * (cols[1] - cols[0]):
        t.fail("own", f"{own} is not the size of the tile's box")
    neurons = t.get("neurons", "count")
    if neurons < own:
        t.fail("neurons", f"{neurons} < own {own}")
    kind = t.obj.get("kind", "population")
    mux = t.obj.get("multiplexed", False)
    if not isinstance(kind, str) or not isinstance(mux, bool):
        t.fail("kind" if not isinstance(kind, str) else "multiplexed", "wrong type")
    return TileRecord(t.get("population", "str"), t.get("iteration", "int?"), ch, rows, cols, neurons, own, kind, mux)


def _axon(item, n_tiles: int, core: _Doc, i: int) -> AxonRecord:
    key = f"axon_list[{i}]"
    if isinstance(item, list) and len(item) == len(AXON_FIELDS_V0):
        item = item + [0]
    if not isinstance(item, list) or len(item) != len(AXON_FIELDS):
        core.fail(key, f"expected a list of {len(AXON_FIELDS)} values ({', '.join(AXON_FIELDS)})")
    tile, source, it, *box, sign, copy, population = item
    if not (_is_int(tile) and 0 <= tile < n_tiles):
        core.fail(key, f"tile {json.dumps(tile)} is not an index into the core's {n_tiles} tiles")
    if not isinstance(source, str) or not (it is None or _is_int(it)):
        core.fail(key, "source must be a string and iteration an integer or null")
    if not (all(_is_int(x) for x in box) and all(0 <= box[k] < box[k + 1] for k in (0, 2, 4))):
        core.fail(key, f"box {box} is not three ranges [start, stop) with 0 <= start < stop")
    if sign not in (-1, 0, 1) or isinstance(sign, bool) or not (_is_int(copy) and copy >= 0):
        core.fail(key, f"sign {json.dumps(sign)} must be -1, 0 or 1 and copy {json.dumps(copy)} an integer >= 0")
    if population not in (0, 1) or isinstance(population, bool):
        core.fail(key, f"population {json.dumps(population)} must be 0 or 1")
    return AxonRecord(tile, source, it, tuple(box), sign, copy, population)


def _core(c: _Doc, index: int, n_chips: int) -> CoreRecord:
    tiles = tuple(_tile(t) for t in c.items("tiles"))
    raw = c.get("axon_list", "list")
    axons = tuple(_axon(item, len(tiles), c, i) for i, item in enumerate(raw))
    rec = CoreRecord(c.get("id", "count"), c.get("chip", "count"), c.get("x", "count"), c.get("y", "count"), tiles,
                     axons, c.get("neurons", "count"), c.get("axons", "count"), c.get("synapses", "count"),
                     c.get("memory_bytes", "count"), c.get("output_axons", "count"))
    if rec.id != index:
        c.fail("id", f"{rec.id}, expected {index} (cores are numbered in file order)")
    if rec.chip >= max(n_chips, 1):
        c.fail("chip", f"{rec.chip} >= n_chips {n_chips}")
    if rec.neurons != sum(t.neurons for t in tiles):
        c.fail("neurons", f"{rec.neurons} differs from the tiles' sum {sum(t.neurons for t in tiles)}")
    if rec.n_axons != sum(r.size for r in axons):
        c.fail("axons", f"{rec.n_axons} differs from the axon records' sum {sum(r.size for r in axons)}")
    return rec


# ------------------------------------------------------------------------------------- reading

_CORES_LINE = '  "cores": ['


def _open_json(path):
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such allocation file; {FIX}")
    return path


def _load_whole(path: Path):
    try:
        return json.loads(path.read_text())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError; RecursionError: deep nesting
        raise SchemaError(f"{path}: not a JSON allocation ({type(exc).__name__}: {str(exc)[:200]}); {FIX}") from None


def _split_file(path: Path):
    """``(header, True)`` for the layout of :func:`write` (cores last, one per line), read up to the
    cores; ``(whole document, False)`` for any other JSON layout."""
    head = []
    with open(path, errors="replace") as f:
        for line in f:
            if line.rstrip("\n") == _CORES_LINE:
                try:
                    return json.loads("".join(head).rstrip().rstrip(",") + "\n}"), True
                except (ValueError, RecursionError):
                    break
            head.append(line)
    return _load_whole(path), False


def read_header(path) -> AllocFile:
    """Everything but the cores (``cores=()``): chip, schedule, feasibility, violations, ..."""
    path = _open_json(path)
    doc, _ = _split_file(path)
    if not isinstance(doc, dict):
        raise SchemaError(f"{path}: not a JSON object; {FIX}")
    return _head(_Doc(path, doc), path)


def _core_dicts(path: Path, streamed: bool, doc: dict):
    try:
        yield from _core_lines(path, streamed, doc)
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text (byte {exc.start}); {FIX}") from None


def _core_lines(path: Path, streamed: bool, doc: dict):
    if not streamed:
        yield from _Doc(path, doc).get("cores", "list")
        return
    with open(path) as f:
        for line in f:
            if line.rstrip("\n") == _CORES_LINE:
                break
        for n, line in enumerate(f):
            text = line.strip().rstrip(",")
            if text == "]":
                return
            try:
                yield json.loads(text)
            except (ValueError, RecursionError):
                if n:
                    raise SchemaError(f"{path}: key 'cores[{n}]': not one JSON object on its line; {FIX}") from None
                # Not one core per line (e.g. the document of to_dict pretty-printed): read it whole.
                yield from _core_lines(path, False, _load_whole(path))
                return


def iter_cores(path, head: AllocFile | None = None):
    """The :class:`CoreRecord` of every core, one at a time (memory of one core at a time)."""
    path = _open_json(path)
    doc, streamed = _split_file(path)
    head = head or _head(_Doc(path, doc), path)
    n = -1
    top = _Doc(path, doc)
    for n, core in enumerate(_core_dicts(path, streamed, doc)):
        yield _core(top.element("cores", n, core), n, head.n_chips)
    if n + 1 != head.cores_used:
        top.fail("cores", f"{n + 1} cores, but cores_used is {head.cores_used}")


def read(path) -> AllocFile:
    """The whole ``alloc.json`` as an :class:`AllocFile` (every core); refused in one line if it is
    of another schema version or malformed."""
    import dataclasses

    head = read_header(path)
    return dataclasses.replace(head, cores=tuple(iter_cores(path, head)))
