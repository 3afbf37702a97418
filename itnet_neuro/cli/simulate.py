"""`itnet-neuro simulate`: simulate the spiking network (fast, nengo-dl, nengo, brian2): mIoU per output over time."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "simulate the spiking network (fast, nengo-dl, nengo, brian2): mIoU per output over time"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`simulate` is not built yet (planned in issue #7)")
