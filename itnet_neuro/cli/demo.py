"""`itnet-neuro demo`: run the whole pipeline on the shipped model and embedded defaults."""

from __future__ import annotations

HELP = "run the whole pipeline on the shipped model and embedded defaults"
DESCRIPTION = (
    "Run the whole pipeline on the shipped model: data preview, footprint, convert (with verification),\n"
    "nengo export, allocation on every packaged chip, and spiking simulation on the ideal chip, TrueNorth\n"
    "and BrainScaleS-2. Each step prints the itnet-neuro command it runs."
)


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--images", type=int, default=8, help="validation images to simulate (default: 8)")
    parser.add_argument("--ticks", type=int, default=256, help="simulated ticks (default: 256)")


def run(args) -> int:
    from itnet_neuro.demo import run_demo

    return run_demo(args.out, images=args.images, ticks=args.ticks)
