"""`itnet-neuro train`: train an ItNet (Keras) with the paper's multi-output loss and save model.h5."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "train an ItNet (Keras) with the paper's multi-output loss and save model.h5"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`train` is not built yet (planned in issue #3)")
