"""`itnet-neuro chips`: list the packaged neuromorphic chip models, or show one in full with sources."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "list the packaged neuromorphic chip models, or show one in full with sources"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`chips` is not built yet (planned in issue #5)")
