"""`itnet-neuro export`: export a spiking network to NIR or a nengo Network."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "export a spiking network to NIR or a nengo Network"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`export` is not built yet (planned in issue #4)")
