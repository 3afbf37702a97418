"""`itnet-neuro explore`: sweep chips × schedules × phase lengths; one table and the Pareto fronts."""

from __future__ import annotations

HELP = "sweep chips × schedules × phase lengths on Dask: one table (CSV/JSON) and Pareto plots"
DESCRIPTION = """Which chip, schedule and phase length reach the accuracy you need soonest, on the fewest
cores, for the least energy? The model is converted once; every point (chip × schedule × phase
length) is allocated (cached on disk by network hash and chip-spec hash) and, where it fits,
simulated on --images images. Writes OUTPUT.jsonl (append-only: a killed run resumes from it),
OUTPUT.csv and OUTPUT.json (one row per point: fits, cores, chips, ratio to the lower bound, mIoU of
every output, ticks and hardware seconds to 90 % of the ANN's mIoU, energy per image) and the Pareto
fronts OUTPUT_cores.png, OUTPUT_energy.png, OUTPUT_latency.png (mIoU of the last output against
each; one marker per chip, hollow for unrolled).

A looped point runs N phases of T ticks (`auto`: T measured, as `allocate --phase-ticks auto`); an
unrolled point runs N × T ticks, the same budget (`auto`: --unrolled-ticks). Points run as tasks on
Dask distributed: a local cluster of worker processes, one per core, by default; --scheduler ADDRESS
for a running cluster (its workers need itnet-neuro installed and --cache on a shared filesystem);
--scheduler serial (or --workers 0) in this process. A failing point is recorded with its error and
the sweep goes on (exit 1 at the end; the next run retries it).

A sweep file (TOML or JSON; --sweep) holds the same keys for larger sweeps: chips, schedules,
phase_ticks, model, images, data, calibration, state_buffer, decoder, seed, chip_seed,
unrolled_ticks, and a table allocate_only = {chip = "reason"}. Options given on the command line win.

examples:
  itnet-neuro explore --chips ideal,loihi,spinnaker2 --phase-ticks 16,32 --images 4
  itnet-neuro explore model.h5 --sweep sweep.toml -o out/sweep --scheduler tcp://10.0.0.5:8786
  itnet-neuro explore --chips loihi,truenorth --allocate-only truenorth --workers 0
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    parser.add_argument("model", nargs="?", default=None, help="Keras .h5 or .snn.h5 (default: the shipped ItNet)")
    parser.add_argument("--sweep", default=None, metavar="FILE", help="sweep file (.toml or .json), see above")
    parser.add_argument("--chips", default=None, type=args.chip_list,
                        help="comma-separated chip names or .toml paths (default: every packaged chip)")
    parser.add_argument("--schedules", default=None, help="comma-separated: looped,unrolled (default: both)")
    parser.add_argument("--phase-ticks", default=None, help="comma-separated phase lengths or auto (default: 32)")
    parser.add_argument("--images", type=args.positive_int, default=None, help="images per point (default 4)")
    parser.add_argument("--data", type=args.dataset, default=None, help="synthetic | camvid:DIR | … (as simulate)")
    parser.add_argument("--calibration", default=None, help="conversion calibration (as convert; default synthetic)")
    parser.add_argument("--state-buffer", choices=("regenerate", "replay"), default=None,
                        help="looped: the state buffer (default regenerate)")
    parser.add_argument("--decoder", default=None, help="as simulate (default: the measured best)")
    parser.add_argument("--seed", type=args.nonnegative_int, default=None, help="image and encoding seed (default 0)")
    parser.add_argument("--chip-seed", type=args.nonnegative_int, default=None, help="chip instance (default 0)")
    parser.add_argument("--unrolled-ticks", type=args.positive_int, default=None,
                        help="ticks of an unrolled point whose phase length is auto (default 256)")
    parser.add_argument("--allocate-only", action="append", default=[], metavar="CHIP[|SCHEDULE][=REASON]",
                        help="allocate CHIP (or only its SCHEDULE points) but do not simulate them (the reason goes "
                             "into the table)")
    parser.add_argument("--scheduler", default="local",
                        help="local (default: a local Dask cluster), serial, or a Dask scheduler ADDRESS")
    parser.add_argument("--workers", type=args.nonnegative_int, default=None,
                        help="local cluster: worker processes (default: one per core); 0 = serial")
    parser.add_argument("--cache", default=None, help="allocation/conversion cache (default ~/.cache/itnet-neuro/explore)")
    parser.add_argument("-o", "--output", default="explore", help="output prefix (default: explore → explore.csv, …)")
    parser.add_argument("--fresh", action="store_true", help="start over instead of resuming OUTPUT.jsonl")
    parser.add_argument("--no-plots", action="store_true", help="skip the Pareto PNGs")


def build_sweep(args):
    """The :class:`~itnet_neuro.explore.Sweep` of the sweep file (if any) with the options on top."""
    from hardware_models import list_chips
    from itnet_neuro.explore import make_sweep, read_sweep_file

    data = read_sweep_file(args.sweep) if args.sweep else {}
    where = args.sweep or "command line"
    split = lambda text: [x.strip() for x in text.split(",") if x.strip()]  # noqa: E731
    for key, value in (("chips", args.chips and split(args.chips)), ("schedules", args.schedules and split(args.schedules)),
                       ("phase_ticks", args.phase_ticks and split(args.phase_ticks)), ("model", args.model),
                       ("images", args.images), ("data", args.data), ("calibration", args.calibration),
                       ("state_buffer", args.state_buffer), ("decoder", args.decoder), ("seed", args.seed),
                       ("chip_seed", args.chip_seed), ("unrolled_ticks", args.unrolled_ticks)):
        if value is not None:
            data[key] = value
    only = dict(data.pop("allocate_only", None) or {})
    for item in args.allocate_only:
        chip, _, reason = item.partition("=")
        only[chip.strip()] = reason.strip() or "--allocate-only"
    chips = data.pop("chips", None) or list_chips()
    schedules = data.pop("schedules", None) or ["looped", "unrolled"]
    phases = data.pop("phase_ticks", None) or [32]
    return make_sweep(chips, schedules, phases, where, allocate_only=only, **data)


def run(args) -> int:
    import shlex
    import sys

    from itnet_neuro.explore import explore
    from itnet_neuro.explore.report import format_table

    sweep = build_sweep(args)
    scheduler = "serial" if args.workers == 0 else args.scheduler
    # the command as typed, where this process was started as `itnet-neuro explore ...` (not from a test's main())
    command = "itnet-neuro " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["explore"] else None
    table = explore(sweep, args.output, scheduler=scheduler, workers=args.workers, cache=args.cache,
                    fresh=args.fresh, plots=not args.no_plots, command=command)
    print(format_table(table["rows"]))
    stem = args.output
    print(f"{table['points']} point(s), {table['resumed']} resumed, {table['ran']} run on {table['engine']} "
          f"({table['workers']} worker(s)) in {table['wall_seconds']:.0f} s · wrote {stem}.csv, {stem}.json, "
          f"{stem}.jsonl" + (f", {stem}_{{cores,energy,latency}}.png" if table.get("plots") else ""))
    failed = [r for r in table["rows"] if r["status"] == "error"]
    if failed:
        print(f"itnet-neuro explore: {len(failed)} point(s) failed (first: {failed[0]['key']}: {failed[0]['error']}); "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
