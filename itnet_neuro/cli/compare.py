"""`itnet-neuro compare`: allocate one model on every packaged chip and print the comparison table."""

from __future__ import annotations

from pathlib import Path

HELP = "allocate one model on every packaged chip and print the comparison table"
DESCRIPTION = """Allocate one model on every packaged chip model and print one row per chip: schedule,
feasibility, cores and chips used, the lower bound on cores, utilization of neurons / axons /
synapses, and the first reason it does not fit — the table a paper needs.

examples:
  itnet-neuro compare
  itnet-neuro compare model.snn.h5 --markdown --json compare.json
  itnet-neuro compare --schedule unrolled --chips truenorth,loihi
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args
    from itnet_neuro.cli.allocate import add_model_argument
    from mapping.schedule import DEFAULT_PHASE_TICKS, SCHEDULES

    add_model_argument(parser)
    parser.add_argument("--schedule", choices=SCHEDULES, default="auto", help="schedule (default: auto)")
    parser.add_argument("--chips", default=None, type=args.chip_list,
                        help="comma-separated chip names or .toml paths (default: all packaged)")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the rows as JSON here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--phase-ticks", type=args.positive_int, default=DEFAULT_PHASE_TICKS,
                        help=f"ticks per phase of the looped schedule (default {DEFAULT_PHASE_TICKS})")


def run(args) -> int:
    import tempfile

    from hardware_models.spec import list_chips
    from itnet_neuro.cli.allocate import load_model_network
    from itnet_neuro.utils import write_json
    from mapping.compare import compare, format_table

    cache = Path(args.json_out).parent if args.json_out else Path(tempfile.gettempdir()) / "itnet-neuro-cache"
    net = load_model_network(args.model, cache, args.calibration)
    chips = args.chips.split(",") if args.chips else list_chips()
    rows = compare(net, chips, schedule=args.schedule, phase_ticks=args.phase_ticks)
    print(format_table(rows, markdown=args.markdown, title=f"{net.name}: {net.n_neurons:,} neurons, "
                                                           f"{net.n_synapses:,} synapses"))
    if args.json_out:
        write_json(args.json_out, {"model": args.model or "shipped", "network": net.name,
                                   "schedule": args.schedule, "phase_ticks": args.phase_ticks, "chips": rows})
        print(f"wrote {args.json_out}")
    return 0
