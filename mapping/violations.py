"""One reason an allocation is infeasible (STYLE.md §3–4): what, where, value against limit, what to try."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    layer : str
        The population (``pop@n`` for an unrolled copy), or ``"(network)"`` / ``"(schedule)"`` for
        a limit of the whole allocation.
    resource : str
        What is exceeded, e.g. ``"axons per neuron"``, ``"chips"``, ``"kernel memory (words)"``.
    value : int or float
        What the network needs.
    limit : int or float or None
        What the chip offers (None: not offered at all, e.g. an unsupported operation).
    hint : str
        What to change so that it fits.
    """

    layer: str
    resource: str
    value: float
    limit: float | None
    hint: str

    def to_dict(self) -> dict:
        return {"layer": self.layer, "resource": self.resource, "value": _num(self.value),
                "limit": _num(self.limit) if self.limit is not None else None, "hint": self.hint}

    def __str__(self) -> str:
        if self.limit is None:
            return f"{self.layer}: {self.resource}: not supported ({self.hint})"
        return f"{self.layer}: {self.resource} {_num(self.value)} > limit {_num(self.limit)} ({self.hint})"
