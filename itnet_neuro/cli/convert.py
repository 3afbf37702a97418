"""`itnet-neuro convert`: convert a trained model.h5 into a rate-coded spiking network (model.snn.h5)."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "convert a trained model.h5 into a rate-coded spiking network (model.snn.h5)"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`convert` is not built yet (planned in issue #4)")
