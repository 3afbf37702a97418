"""`itnet-neuro data`: generate the synthetic street-scene dataset, preview it, or check a CamVid/Cityscapes folder."""

from __future__ import annotations

HELP = "generate the synthetic street-scene dataset, preview it, or check a CamVid/Cityscapes folder"
DESCRIPTION = """\
Work with the datasets of itnet-neuro.

  generate  write the synthetic street scenes as a CamVid (SegNet-layout) folder of PNGs:
            DIR/{train,val,test}/ images and DIR/{train,val,test}annot/ label ids (0..10, 11 void)
  preview   write a PNG grid of synthetic images above their colour-coded label maps
  check     validate a dataset folder layout and print the image count of every split

examples:
  itnet-neuro data generate -o out/synthetic --n 400 --height 96 --width 128
  itnet-neuro data preview -o docs/synthetic_examples.png
  itnet-neuro data check camvid:out/synthetic
  itnet-neuro data check cityscapes:/data/cityscapes
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write the synthetic scenes as a CamVid-layout PNG folder")
    gen.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    gen.add_argument("--n", type=args.positive_int, default=None, metavar="N",
                     help="training images (default 400); val and test get N/4 each (default 100)")
    gen.add_argument("--height", type=args.positive_int, default=96, help="image height in pixels (default 96)")
    gen.add_argument("--width", type=args.positive_int, default=128, help="image width in pixels (default 128)")
    gen.add_argument("--seed", type=args.nonnegative_int, default=0, help="dataset seed (default 0)")
    pre = sub.add_parser("preview", help="PNG grid of synthetic images and their label maps")
    pre.add_argument("-o", "--output", default="docs/synthetic_examples.png", metavar="PNG",
                     help="output PNG (default docs/synthetic_examples.png)")
    pre.add_argument("--n", type=args.positive_int, default=8, help="number of scenes (default 8)")
    pre.add_argument("--height", type=args.positive_int, default=192, help="image height (default 192)")
    pre.add_argument("--width", type=args.positive_int, default=256, help="image width (default 256)")
    pre.add_argument("--seed", type=args.nonnegative_int, default=0, help="seed (default 0)")
    chk = sub.add_parser("check", help="validate a dataset folder and print its split sizes")
    chk.add_argument("spec", metavar="SPEC", help="camvid:DIR, cityscapes:DIR or synthetic")


def run(args) -> int:
    from itnet_neuro.data import commands

    if args.action == "generate":
        commands.generate_folder(args.output, n=args.n, height=args.height, width=args.width, seed=args.seed)
    elif args.action == "preview":
        commands.preview(args.output, n=args.n, height=args.height, width=args.width, seed=args.seed)
    else:
        commands.check(args.spec)
    return 0
