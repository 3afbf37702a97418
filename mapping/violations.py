"""One reason an allocation is infeasible (STYLE.md §3–4): what, where, value against limit, what to try.

A :class:`Violation` is structured: the population and unrolled iteration it concerns, a resource
*key* (``"axons"``, ``"fan_in"``, ...), the value against the limit, and a hint. The copies of an
unrolled block that exceed a limit in the same way are merged on those fields
(:func:`merge_copies`), never by parsing the text; the text (``str(v)``, ``v.layer``) is only for
display.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

#: Display text of each resource key (a producer may give another, e.g. "axons per core").
RESOURCE_TEXT = {
    "fan_in": "fan-in per neuron",
    "axons": "axons per neuron",
    "synapses": "synapses per neuron",
    "syn_bytes": "synapse memory per neuron (bytes)",
    "local_bytes": "core memory per neuron (bytes)",
    "events": "synaptic events per tick per neuron",
    "neurons": "neurons per core",
    "copies": "fan-out copies per neuron (on its core)",
    "out_axons": "output axons per core",
    "switchable": "neuron parameters switchable at run time",
    "chips": "chips",
    "shared_memory": "core memory > chip shared memory (bytes)",
    "operation": "operation",
    "kernel_size": "kernel size",
    "stride": "stride",
    "in_channels": "input channels",
    "out_channels": "output channels",
    "destinations": "destinations per layer",
    "kernel_words": "kernel memory (words)",
    "neuron_words": "neuron memory (words)",
    "cores": "cores",
    "layers": "layers (one per core)",
}


def _num(x):
    if isinstance(x, float) and math.isinf(x):
        return None
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


@dataclass(frozen=True)
class Violation:
    """A limit the network exceeds on a chip.

    Attributes
    ----------
    population : str
        The IR population (without ``@n``), or ``"(network)"`` / ``"(schedule)"`` / ``"core N"`` for
        a limit of the whole allocation or of one core.
    iteration : int or None
        The unrolled copy's iteration (1-based); None outside the block, for the looped block, for
        a whole-allocation limit and after merging copies (then see ``iterations``).
    resource : str
        Key of what is exceeded, one of :data:`RESOURCE_TEXT` (e.g. ``"axons"``, ``"fan_in"``).
    value : int or float
        What the network needs.
    limit : int or float or None
        What the chip offers (None: not offered at all, e.g. an unsupported operation).
    hint : str
        What to change so that it fits.
    what : str
        Display text of the resource (default ``RESOURCE_TEXT[resource]``), e.g. ``"axons per core"``.
    iterations : tuple of int
        The unrolled copies merged into this violation by :func:`merge_copies` (empty otherwise).
    """

    population: str
    iteration: int | None
    resource: str
    value: float
    limit: float | None
    hint: str
    what: str = ""
    iterations: tuple[int, ...] = ()

    def __post_init__(self):
        if not self.what:
            object.__setattr__(self, "what", RESOURCE_TEXT.get(self.resource, self.resource))

    @property
    def layer(self) -> str:
        """Where, for display: ``pop``, ``pop@n`` or ``pop@a..b (k copies)``."""
        if self.iterations:
            its = self.iterations
            return f"{self.population}@{its[0]}..{its[-1]} ({len(its)} copies)"
        if self.iteration is not None:
            return f"{self.population}@{self.iteration}"
        return self.population

    def to_dict(self) -> dict:
        return {"layer": self.layer, "population": self.population, "iteration": self.iteration,
                "iterations": list(self.iterations), "resource": self.resource, "what": self.what,
                "value": _num(self.value), "limit": _num(self.limit) if self.limit is not None else None,
                "hint": self.hint}

    @classmethod
    def from_dict(cls, d: dict) -> "Violation":
        """The inverse of :meth:`to_dict` (no checks: :mod:`mapping.allocfile` validates files)."""
        return cls(d["population"], d["iteration"], d["resource"], d["value"], d["limit"], d["hint"],
                   d.get("what", ""), tuple(d.get("iterations", ())))

    def __str__(self) -> str:
        if self.limit is None:
            return f"{self.layer}: {self.what}: not supported ({self.hint})"
        return f"{self.layer}: {self.what} {_num(self.value)} > limit {_num(self.limit)} ({self.hint})"


def merge_copies(violations: list[Violation]) -> list[Violation]:
    """One violation for the same excess in several unrolled copies (``h@2, h@3 …`` → ``h@2..3``).

    Violations are merged when every field but the iteration is equal (population, resource, its
    text, value, limit and hint), in the order of their first occurrence; exact duplicates collapse.
    """
    groups: dict[tuple, list[Violation]] = {}
    for v in violations:
        key = (v.population, v.resource, v.what, v.value, v.limit, v.hint)
        groups.setdefault(key, []).append(v)
    out = []
    for vs in groups.values():
        its = sorted({i for v in vs for i in (v.iterations or (v.iteration,)) if i is not None})
        if len(vs) == 1 or len(its) <= 1:
            out.append(vs[0])
        else:
            out.append(dataclasses.replace(vs[0], iteration=None, iterations=tuple(its)))
    return out
