"""`itnet-neuro demo`: run the whole pipeline on the shipped model and embedded defaults."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "run the whole pipeline on the shipped model and embedded defaults"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`demo` is not built yet (planned in issue #2)")
