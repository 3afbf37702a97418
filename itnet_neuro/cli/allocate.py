"""`itnet-neuro allocate`: allocate a spiking network onto the cores of a chip model (alloc.json, core map PNG)."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "allocate a spiking network onto the cores of a chip model (alloc.json, core map PNG)"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`allocate` is not built yet (planned in issue #6)")
