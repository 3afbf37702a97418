"""The one place where :mod:`mapping` reads a :class:`hardware_models.spec.ChipSpec`.

Every limit the partitioner, the allocator and the lower bound use comes through :class:`Limits`,
so a renamed spec field is a one-line change here. ``None`` in the spec (no such limit) becomes
``math.inf`` here, so comparisons need no special case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware_models.formulas import get_formula

INF = math.inf


def _lim(value) -> float:
    return INF if value is None else value


@dataclass(frozen=True)
class Limits:
    """Per-core and per-chip limits of one chip, with ``inf`` for "no limit".

    Attributes
    ----------
    name : str
        Chip name (``spec.name``).
    architecture : str
        ``"crossbar"`` (a core holds up to ``max_neurons`` neurons fed by up to ``max_axons`` inputs)
        or ``"conv-layer"`` (one whole convolutional layer per core, DYNAP-CNN).
    max_neurons, max_axons, max_output_axons, max_synapses : float
        Per core; ``inf`` = unbounded.
    synapse_memory_bytes : float
        Per core; ``inf`` = not the binding limit.
    synapse_memory_formula : str or None
        Name of a :mod:`hardware_models.formulas` function giving the synapse memory *bits* one input
        axon with ``n`` synapses uses (Loihi); ``None``: ``synapses × weight_bits / 8`` bytes.
    neuron_state_bytes : float or None
        Bytes of state + parameters per neuron on memory-based cores; ``None`` where neurons are fixed
        slots (``max_neurons`` is then the limit).
    max_fanin, max_fanout_cores : float
        Per neuron; ``inf`` = unbounded. ``max_fanout_cores = 1`` (TrueNorth) means a neuron feeding
        ``d`` cores is copied ``d`` times on its own core.
    cores_per_chip, mesh_rows, mesh_cols, max_chips : float
        Chip organisation; ``inf`` where unbounded (then the mesh is taken as square, see
        :func:`mapping.place.place`).
    shared_memory_bytes : float
        Off-core memory per chip shared by its cores; ``inf`` if none / not a limit.
    weight_bits : int or None
        Stored bits per weight (``None`` = float; 32 bits are costed).
    weight_sign : str
        ``"float"``, ``"signed"``, ``"axon-types"``, ``"two-rows"`` or ``"exponent"``.
    n_axon_types : int or None
    threshold_bits : int or None
        Bits of a stored threshold / bias (per-iteration tables are costed with it; ``None`` = 32).
    switchable : bool
        Neuron parameters can be rewritten at run time (the looped schedule needs it).
    max_delay : float
        Longest synaptic delay in ticks; ``inf`` = unbounded.
    shared_lists, population_axons, population_out_slots, max_compartment_base, index_bits, group_size, group_header_bits, word_bits
        Loihi's synapse encodings (``core.shared_synapse_lists`` … ``core.synapse_word_bits`` of the spec;
        :mod:`mapping.synmem` uses them).
    regenerator, regen_neurons, regen_bytes
        How the looped state buffer regenerates a rate code (``state_buffer.*`` of the spec):
        ``"generator-neurons"`` with ``regen_neurons`` extra neurons per state neuron,
        ``"core-memory"`` with ``regen_bytes`` per state neuron, or ``None`` (replay only).
    conv-layer fields
        ``kernel_memory_words``, ``neuron_memory_words``, ``bias_memory_words`` (tuples, one entry per
        core, or None), the formula names, ``max_kernel_size``, ``max_stride``, ``max_channels``,
        ``max_destinations``.
    """

    name: str
    architecture: str
    max_neurons: float
    max_axons: float
    max_output_axons: float
    max_synapses: float
    synapse_memory_bytes: float
    synapse_memory_formula: str | None
    neuron_state_bytes: float | None
    max_fanin: float
    max_fanout_cores: float
    max_destinations: float
    cores_per_chip: float
    mesh_rows: float
    mesh_cols: float
    max_chips: float
    shared_memory_bytes: float
    weight_bits: int | None
    weight_sign: str
    n_axon_types: int | None
    threshold_bits: int | None
    switchable: bool
    max_delay: float
    kernel_memory_words: tuple | None = None
    neuron_memory_words: tuple | None = None
    bias_memory_words: tuple | None = None
    kernel_memory_formula: str | None = None
    neuron_memory_formula: str | None = None
    max_kernel_size: float = INF
    max_stride: float = INF
    max_channels: float = INF
    regenerator: str | None = None
    regen_neurons: int | None = None
    regen_bytes: float | None = None
    pooling_sizes: tuple | None = None
    local_memory_bytes: float = INF
    synapses_in_local_memory: bool = False
    input_buffer_bytes: float = 0.0
    max_events_per_tick: float = INF
    extended_delay: float | None = None
    shared_lists: bool = False
    population_axons: bool = False
    population_out_slots: int = 1
    max_compartment_base: float = INF
    index_bits: tuple | None = None
    group_size: int | None = None
    group_header_bits: int = 0
    word_bits: int | None = None

    @property
    def two_rows(self) -> bool:
        """A presynaptic neuron whose weights into a core have both signs takes two axons (rows)."""
        return self.weight_sign == "two-rows"

    @property
    def stored_weight_bits(self) -> int:
        return 32 if self.weight_bits is None else int(self.weight_bits)

    @property
    def table_value_bytes(self) -> int:
        """Bytes of one stored threshold or bias value (per-iteration parameter tables)."""
        bits = 32 if self.threshold_bits is None else int(self.threshold_bits)
        return (bits + 7) // 8

    @property
    def needs_fanout(self) -> bool:
        """Whether per-neuron destination counts matter (copies or output-axon slots)."""
        return self.max_fanout_cores < INF or self.max_output_axons < INF

    def synapse_bytes(self, axons, synapses):
        """Synapse memory in bytes of tiles with ``axons`` inputs and ``synapses`` synapses (arrays).

        With a per-axon formula each axon is costed with the tile's mean synapses per axon, rounded
        up — an estimate, since the formula's rounding makes the exact figure depend on how the
        synapses spread over the axons. Otherwise ``synapses · weight_bits / 8``. Chips whose spec
        gives their synapse-memory layout (Loihi) are costed by :mod:`mapping.synmem` instead.
        """
        import numpy as np

        axons = np.asarray(axons, dtype=np.int64)
        synapses = np.asarray(synapses, dtype=np.int64)
        if self.synapse_memory_formula is None:
            return (synapses * self.stored_weight_bits + 7) // 8
        formula = get_formula(self.synapse_memory_formula)
        per_axon = np.where(axons > 0, -(-synapses // np.maximum(axons, 1)), 0)
        values, inverse = np.unique(per_axon, return_inverse=True)
        bits = np.array([formula(int(v), self.stored_weight_bits) for v in values], dtype=np.int64)
        total_bits = bits[inverse].reshape(per_axon.shape) * axons
        if not self.synapse_memory_formula.endswith("_bits"):
            return total_bits  # a formula that already returns bytes
        return (total_bits + 7) // 8

    def kernel_words(self, c_in: int, c_out: int, kh: int, kw: int) -> int:
        return int(get_formula(self.kernel_memory_formula)(c_in, c_out, kh, kw))

    def neuron_words(self, c_out: int, h: int, w: int) -> int:
        return int(get_formula(self.neuron_memory_formula)(c_out, h, w))


def limits_of(spec) -> Limits:
    """Read the limits :mod:`mapping` needs from a :class:`~hardware_models.spec.ChipSpec`."""
    core, chip, w, n = spec.core, spec.chip, spec.weights, spec.neuron
    return Limits(
        name=spec.name,
        architecture=core.architecture,
        max_neurons=_lim(core.max_neurons),
        max_axons=_lim(core.max_axons),
        max_output_axons=_lim(core.max_output_axons),
        max_synapses=_lim(core.max_synapses),
        synapse_memory_bytes=_lim(core.synapse_memory_bytes),
        synapse_memory_formula=core.synapse_memory_formula,
        neuron_state_bytes=core.neuron_state_bytes_per_neuron,
        max_fanin=_lim(core.max_fanin_per_neuron),
        max_fanout_cores=_lim(core.max_fanout_cores_per_neuron),
        max_destinations=_lim(core.max_destinations_per_layer),
        cores_per_chip=_lim(chip.cores_per_chip),
        mesh_rows=_lim(chip.mesh_rows),
        mesh_cols=_lim(chip.mesh_cols),
        max_chips=_lim(chip.max_chips),
        shared_memory_bytes=_lim(chip.shared_memory_bytes),
        weight_bits=w.bits,
        weight_sign=w.sign,
        n_axon_types=w.n_axon_types,
        threshold_bits=n.threshold_bits,
        switchable=bool(n.parameters_switchable_at_runtime),
        max_delay=_lim(n.max_synaptic_delay_ticks),
        kernel_memory_words=core.kernel_memory_words,
        neuron_memory_words=core.neuron_memory_words,
        bias_memory_words=core.bias_memory_words,
        kernel_memory_formula=core.kernel_memory_formula,
        neuron_memory_formula=core.neuron_memory_formula,
        max_kernel_size=_lim(core.max_kernel_size),
        max_stride=_lim(core.max_stride),
        max_channels=_lim(core.max_channels),
        regenerator=spec.state_buffer.regenerator,
        regen_neurons=spec.state_buffer.neurons_per_state_neuron,
        regen_bytes=spec.state_buffer.bytes_per_state_neuron,
        pooling_sizes=core.pooling_sizes,
        local_memory_bytes=_lim(core.local_memory_bytes),
        synapses_in_local_memory=bool(core.synapses_in_local_memory),
        input_buffer_bytes=float(core.input_buffer_bytes_per_neuron or 0.0),
        max_events_per_tick=INF if core.synaptic_events_per_second is None
        else float(core.synaptic_events_per_second) * float(spec.timing.tick_seconds),
        extended_delay=None if n.extended_delay_ticks is None else float(n.extended_delay_ticks),
        shared_lists=bool(core.shared_synapse_lists),
        population_axons=bool(core.population_axons),
        population_out_slots=int(core.population_axon_out_slots or 1),
        max_compartment_base=_lim(core.max_compartment_base),
        index_bits=core.synapse_index_bits,
        group_size=core.synapse_group_size,
        group_header_bits=int(core.synapse_group_header_bits or 0),
        word_bits=core.synapse_word_bits,
    )


def quantization_of(spec) -> dict:
    """The weight representation the allocation assumes (for ``alloc.json``)."""
    w = spec.weights
    return {"bits": w.bits, "sign": w.sign, "n_axon_types": w.n_axon_types,
            "exponent_bits": w.exponent_bits, "exponent_scope": w.exponent_scope,
            "threshold_bits": spec.neuron.threshold_bits}
