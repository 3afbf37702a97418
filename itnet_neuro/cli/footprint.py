"""`itnet-neuro footprint`: the paper's footprint metrics (MACs, parameters, graph size, depth, state) of a model or preset."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "the paper's footprint metrics (MACs, parameters, graph size, depth, state) of a model or preset"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`footprint` is not built yet (planned in issue #3)")
