"""`itnet-neuro chips`: list the packaged neuromorphic chip models, or show one in full with sources."""

from __future__ import annotations

HELP = "list the packaged neuromorphic chip models, or show one in full with sources"
DESCRIPTION = (
    HELP[0].upper() + HELP[1:] + ".\n\n"
    "Without CHIP: a table of the packaged chips and their key limits. With CHIP (a packaged name such as\n"
    "`truenorth`, or a path to your own TOML file): every value with its unit, its source, and an\n"
    "UNCERTAIN mark where no primary source pins it. A user TOML is validated the same way as the\n"
    "packaged ones (copy one from `hardware_models/chips/` to start)."
)


def add_arguments(parser) -> None:
    parser.add_argument("chip", nargs="?", metavar="CHIP",
                        help="packaged chip name or path to a chip TOML file (omit to list all)")
    parser.add_argument("--json", action="store_true", help="print the values as JSON instead of text")


def run(args) -> int:
    import json

    from hardware_models import SpecError as _HwSpecError
    from hardware_models import list_chips, load_chip
    from hardware_models.describe import format_chip_details, format_chip_table
    from itnet_neuro.errors import SpecError

    try:
        if args.chip is None:
            chips = [load_chip(name) for name in list_chips()]
            print(json.dumps([c.to_dict() for c in chips], indent=2) if args.json else format_chip_table(chips))
        else:
            chip = load_chip(args.chip)
            if args.json:
                data = chip.to_dict()
                data["sources"] = {k: {"source": s.text, "uncertain": s.uncertain, "note": s.note}
                                   for k, s in chip.sources.items()}
                print(json.dumps(data, indent=2))
            else:
                print(format_chip_details(chip))
    except _HwSpecError as exc:  # hardware_models cannot raise our hierarchy (it imports nothing of ours)
        raise SpecError(str(exc)) from exc
    return 0
