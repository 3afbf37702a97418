"""`itnet-neuro data`: generate the synthetic street-scene dataset, preview it, or check a CamVid/Cityscapes folder."""

from __future__ import annotations

from itnet_neuro.errors import NotBuiltError

HELP = "generate the synthetic street-scene dataset, preview it, or check a CamVid/Cityscapes folder"
DESCRIPTION = HELP[0].upper() + HELP[1:] + "."


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    raise NotBuiltError("`data` is not built yet (planned in issue #2)")
