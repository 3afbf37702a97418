"""`itnet-neuro demo`: run the whole pipeline on the shipped model and embedded defaults."""

from __future__ import annotations

HELP = "run the whole pipeline on the shipped model and embedded defaults"
DESCRIPTION = (
    "Run the whole pipeline on the shipped model: data preview, footprint, convert (with verification),\n"
    "nengo export, allocation on every packaged chip and on Loihi (looped), and spiking simulation on the\n"
    "ideal chip, with TrueNorth's and BrainScaleS-2's device effects, and on the Loihi allocation. Each\n"
    "step prints the itnet-neuro command it runs; the end prints a table of every output's mIoU and time\n"
    "to 90% of it, and OUT/anytime_by_chip.png shows the four runs side by side."
)


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    parser.add_argument("-o", "--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--images", type=args.positive_int, default=8,
                        help="synthetic test images to simulate (default: 8)")
    parser.add_argument("--ticks", type=args.positive_int, default=256,
                        help="ticks of the --chip runs (default: 256; the Loihi run lasts its allocation's N phases)")


def run(args) -> int:
    from itnet_neuro.demo import run_demo

    return run_demo(args.out, images=args.images, ticks=args.ticks)
