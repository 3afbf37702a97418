"""Argument types shared by the subcommands: a bad value is a usage error (exit 2) before any work.

Each function is an ``argparse`` ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with what was given and what is valid, which argparse prints as
``itnet-neuro CMD: error: argument --ticks: must be an integer >= 1, got '-5'`` and exits 2.
"""

from __future__ import annotations

import argparse
import os


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


#: ``type=`` for counts that must be at least 1 (ticks, images, epochs, batch sizes).
positive_int = _int_at_least(1)
#: ``type=`` for counts that may be 0 (seeds, extra ticks).
nonnegative_int = _int_at_least(0)


def positive_float(text: str) -> float:
    """``type=`` for a finite number > 0 (learning rates)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def percentile(text: str) -> float:
    """``type=`` for a percentile in (0, 100]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentile in (0, 100], got {text!r}")
    return value


def chip(text: str) -> str:
    """``type=`` for a chip: a packaged name or an existing ``.toml`` file (the spec is read later)."""
    from hardware_models import list_chips

    names = list_chips()
    if text in names or os.path.isfile(text):
        return text
    if text.endswith(".toml") or os.sep in text:
        raise argparse.ArgumentTypeError(f"no such chip file: {text!r}")
    raise argparse.ArgumentTypeError(f"unknown chip {text!r}; valid names: {', '.join(names)}; "
                                     "or a path to a .toml file")


def dataset(text: str) -> str:
    """``type=`` for ``synthetic``, ``camvid:DIR``, ``cityscapes:DIR`` with an existing DIR, or ``npz:FILE``
    with an existing FILE."""
    from itnet_neuro.data import parse_spec
    from itnet_neuro.errors import ValidationError

    try:
        kind, path = parse_spec(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if kind == "npz":
        if not os.path.isfile(path):
            raise argparse.ArgumentTypeError(f"npz file {path!r} does not exist; give npz:FILE with arrays x (and y)")
        return text
    if path is not None and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{kind} folder {path!r} does not exist; valid: synthetic, camvid:DIR, "
                                         "cityscapes:DIR with an existing DIR")
    return text


def chip_list(text: str) -> str:
    """``type=`` for comma-separated chips, each as :func:`chip` wants it; returns the text unchanged."""
    for item in text.split(","):
        chip(item.strip())
    return text
