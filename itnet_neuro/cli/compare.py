"""`itnet-neuro compare`: allocate one model on every packaged chip and print the comparison table."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "allocate one model on every packaged chip and print the comparison table"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`compare` is not built yet (planned in issue #6)")
