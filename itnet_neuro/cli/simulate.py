"""`itnet-neuro simulate`: simulate the spiking network (fast, nengo-dl, nengo, brian2): mIoU per output over time."""

from __future__ import annotations

HELP = "simulate the spiking network (fast, nengo-dl, nengo, brian2): mIoU per output over time"
DESCRIPTION = """Simulate a converted ItNet as a spiking network and measure every output over time.

MODEL is a spiking IR (.snn.h5) or a Keras ItNet (.h5, converted on the fly); without it the shipped
model is converted and used. With --alloc (an alloc.json from `itnet-neuro allocate`) or --chip NAME the
chip's weight quantization, its neuron (reset mode, leak, membrane saturation), the ranges of its
thresholds and biases (every clip counted in results.json `clipped` and printed), analog mismatch (fixed
by --chip-seed), trial-to-trial noise, tick length and energy figures are applied. An infeasible
allocation is refused (exit 3) unless --ignore-limits, which simulates it anyway and says so in
results.json (ignore_limits, violations) and the table. Writes results.json (-o) with, per output:
ann_miou, snn_miou, miou_over_time (on the tick grid `grid`), first_output_tick (the depth: longest
path from the input), first_spike_tick (shortest path), ticks_to_90 / ticks_to_99 (to 90% / 99% of
the ANN's mIoU for that output, null if never) and the same in hardware seconds; plus spikes,
synaptic_ops and energy_joules per image. --plot DIR draws the anytime mIoU curves, predictions per
output at chosen ticks, and spike rates per layer.

Ticks follow one semantics in every backend (see itnet_neuro.sim.core): delay d delivers the spikes
of tick t at tick t + d, so an output's first_output_tick is its depth (the paper's latency).
--schedule looped runs iteration n in phase n: N whole phases of --phase-ticks, else the
allocation's phase length, else --ticks/N ticks (the run says which, and how it differs from
--ticks). Between phases the state buffer regenerates a steady rate code of the previous
iteration's final window (--state-buffer regenerate, the default; fast and reference backends) or
replays its spike train exactly (--state-buffer replay, every backend). --decoder sets how spike
counts become rates (default: the measured best; results.json records it).

Examples:
  itnet-neuro simulate --images 4 --ticks 256 -o results.json --plot plots/
  itnet-neuro simulate model.snn.h5 --chip truenorth --backend fast --ticks 128
  itnet-neuro simulate model.snn.h5 --alloc alloc.json --schedule looped
  itnet-neuro simulate model.snn.h5 --chip loihi --schedule looped --phase-ticks 64 --state-buffer replay
  itnet-neuro simulate --chip ideal --ticks 128 --decoder sliding:32
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args
    from itnet_neuro.sim.core import BACKENDS, SCHEDULES
    from mapping.schedule import STATE_BUFFERS

    parser.add_argument("model", nargs="?", default=None, help="model.snn.h5 or model.h5 (default: shipped model)")
    hw = parser.add_mutually_exclusive_group()
    hw.add_argument("--alloc", default=None, help="alloc.json from `itnet-neuro allocate` (chip + schedule)")
    hw.add_argument("--chip", default=None, type=args.chip, help="chip name (`itnet-neuro chips`) or TOML path")
    parser.add_argument("--backend", default="fast", choices=[b for b in BACKENDS if b != "reference"] + ["reference"],
                        help="simulator (default: fast)")
    parser.add_argument("--data", default="synthetic", type=args.dataset,
                        help="synthetic | camvid:DIR | cityscapes:DIR | npz:FILE (arrays x, optional y: class "
                             "indices or class maps; uint8 = raw pixels, float = model inputs)")
    parser.add_argument("--calibration", default="synthetic",
                        help="for a Keras MODEL converted on the fly: synthetic | npz:FILE | DIR (as in convert)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"),
                        help="dataset split (default: test)")
    parser.add_argument("--images", type=args.positive_int, default=4, help="number of images (default: 4)")
    parser.add_argument("--ticks", type=args.positive_int, default=None,  # a simulation length, not a chip figure
                        help="simulated ticks in total (default: 256; looped: see above)")
    parser.add_argument("--schedule", default=None, choices=SCHEDULES,
                        help="block schedule (default: the allocation's, else unrolled)")
    parser.add_argument("--phase-ticks", type=args.positive_int, default=None,
                        help="looped: ticks per phase (default: the allocation's, else ticks/N)")
    parser.add_argument("--state-buffer", default=None, choices=STATE_BUFFERS,
                        help="looped: regenerate a rate code or replay the spike train (default: the "
                             "allocation's, else regenerate)")
    parser.add_argument("--window-ticks", type=args.positive_int, default=None,
                        help="looped, regenerate: the rate window at the end of a phase (default: the "
                             "allocation's, else phase minus one iteration's depth)")
    parser.add_argument("--decoder", default=None,
                        help="cumulative | from-depth | late[:fraction] | sliding[:ticks] | exponential[:tau] "
                             "(default: the measured best, see benchmarks/results/decoders.json)")
    parser.add_argument("--batch-size", type=args.positive_int, default=None,
                        help="images per batch (default: what fits)")
    parser.add_argument("--grid-points", type=args.positive_int, default=96, help="ticks at which outputs are decoded")
    parser.add_argument("--seed", type=args.nonnegative_int, default=0, help="input-encoding seed")
    parser.add_argument("--chip-seed", type=args.nonnegative_int, default=0,
                        help="chip instance (mismatch pattern, noise)")
    parser.add_argument("--precision", default=None, choices=("float32", "float64"),
                        help="fast: arithmetic of the currents and membranes (default float32; float64 matches "
                             "the reference spike for spike on any weights)")
    parser.add_argument("--kernels", default=None, choices=("auto", "numpy", "tensorflow"),
                        help="fast: the ops' kernels (default auto: numpy for short runs, which then never import "
                             "TensorFlow; TensorFlow's for long ones)")
    parser.add_argument("--workers", type=args.positive_int, default=None,
                        help="fast: threads that share out a batch's images (default: one per CPU)")
    parser.add_argument("--brian2-target", default=None, choices=("numpy", "cython"),
                        help="brian2: code generation target (default numpy; cython compiles one extension per "
                             "generated code object on the first run, cached afterwards)")
    parser.add_argument("--ignore-limits", action="store_true",
                        help="simulate an infeasible --alloc anyway (stamped in results.json and the table)")
    parser.add_argument("-o", "--output", default="results.json", help="results file (default: results.json)")
    parser.add_argument("--plot", default=None, metavar="DIR", help="write plots into DIR")


def _backend_options(args) -> tuple[dict, str | None]:
    """``(options, None)``, or ``({}, usage error)`` for an option of another backend than the one chosen."""
    opts = {}
    for flag, value, backend, key in (("--precision", args.precision, "fast", "precision"),
                                      ("--kernels", args.kernels, "fast", "kernels"),
                                      ("--workers", args.workers, "fast", "workers"),
                                      ("--brian2-target", args.brian2_target, "brian2", "target")):
        if value is not None:
            if args.backend != backend:
                return {}, f"{flag} is an option of --backend {backend}, not {args.backend}"
            opts[key] = value
    return opts, None


def run(args) -> int:
    import sys

    from itnet_neuro.sim.experiment import run_experiment
    from itnet_neuro.utils import write_json

    options, usage = _backend_options(args)
    if usage:
        print(f"itnet-neuro simulate: error: {usage}", file=sys.stderr)
        return 2

    results = run_experiment(args.model, alloc=args.alloc, chip=args.chip, backend=args.backend, data=args.data,
                             images=args.images, ticks=args.ticks, schedule=args.schedule,
                             phase_ticks=args.phase_ticks, state_buffer=args.state_buffer,
                             window_ticks=args.window_ticks, decoder=args.decoder, split=args.split, seed=args.seed,
                             chip_seed=args.chip_seed, grid_points=args.grid_points, batch_size=args.batch_size,
                             plot_dir=args.plot, ignore_limits=args.ignore_limits, calibration=args.calibration,
                             **options)
    write_json(args.output, results)
    buf = results["state_buffer"]
    print(f"{results['backend']} · {results['schedule']} · {results['ticks']} ticks"
          + (f" ({results['phase_ticks']}-tick phases, state buffer {buf['mode']})" if buf else "")
          + f" · {results['images']} image(s) · chip {results['chip'] or 'none (ideal IF)'}"
          + f" · decoder {results['decoder']['spec']}" + _limits_note(results))
    metric = "acc" if results["outputs"] and results["outputs"][0].get("metric") == "accuracy" else "mIoU"
    print(f"{'output':>6} {'ANN ' + metric:>9} {'SNN ' + metric:>9} {'depth tick':>10} {'1st spike':>9} "
          f"{'→90% ANN':>8} {'→99% ANN':>8}")
    for o in results["outputs"]:
        def f(v, fmt):
            return "—" if v is None else format(v, fmt)
        print(f"{o['index'] + 1:>6} {f(o['ann_miou'], '9.3f')} {f(o['snn_miou'], '9.3f')} "
              f"{f(o['first_output_tick'], '10d')} {f(o['first_spike_tick'], '9d')} {f(o['ticks_to_90'], '8d')} "
              f"{f(o['ticks_to_99'], '8d')}")
    if results.get("clipped") is not None:
        from itnet_neuro.sim.hardware import clip_summary

        print(clip_summary(results["clipped"], results.get("clip_factors")))
    e = results["energy_joules"]
    print(f"spikes/image {results['spikes']['per_image']:.3g} · synaptic ops/image "
          f"{results['synaptic_ops']['per_image']:.3g}" + ("" if e is None else f" · energy/image {e:.3g} J")
          + f" · wrote {args.output}")
    return 0


def _limits_note(results: dict) -> str:
    """The header's stamp for an infeasible allocation simulated with --ignore-limits."""
    from mapping.violations import Violation

    v = results.get("violations") or []
    if not v:
        return ""
    return (f" · LIMITS IGNORED: the allocation does not fit ({len(v)} violation(s); first: "
            f"{Violation.from_dict(v[0])})")
