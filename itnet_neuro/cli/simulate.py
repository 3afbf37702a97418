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
ann_miou, snn_miou, miou_over_time (on the tick grid `grid`), first_output_tick, ticks_to_90,
ticks_to_99 and seconds_to_first_output; plus spikes, synaptic_ops and energy_joules per image. --plot
DIR draws the anytime mIoU curves, predictions per output at chosen ticks, and spike rates per layer.

Ticks follow one semantics in every backend (see itnet_neuro.sim.core): delay d delivers spikes of
tick t at tick t + d; --schedule looped runs iteration n in phase n of --ticks/N ticks.

Examples:
  itnet-neuro simulate --images 4 --ticks 256 -o results.json --plot plots/
  itnet-neuro simulate model.snn.h5 --chip truenorth --backend fast --ticks 128
  itnet-neuro simulate model.snn.h5 --alloc alloc.json --schedule looped
"""


def add_arguments(parser) -> None:
    from itnet_neuro.sim.core import BACKENDS, SCHEDULES

    parser.add_argument("model", nargs="?", default=None, help="model.snn.h5 or model.h5 (default: shipped model)")
    hw = parser.add_mutually_exclusive_group()
    hw.add_argument("--alloc", default=None, help="alloc.json from `itnet-neuro allocate` (chip + schedule)")
    hw.add_argument("--chip", default=None, help="chip name (`itnet-neuro chips`) or TOML path")
    parser.add_argument("--backend", default="fast", choices=[b for b in BACKENDS if b != "reference"] + ["reference"],
                        help="simulator (default: fast)")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic | camvid:DIR | cityscapes:DIR | npz:FILE (arrays x, optional y: class "
                             "indices or class maps; uint8 = raw pixels, float = model inputs)")
    parser.add_argument("--calibration", default="synthetic",
                        help="for a Keras MODEL converted on the fly: synthetic | npz:FILE | DIR (as in convert)")
    parser.add_argument("--split", default="test", help="dataset split (default: test)")
    parser.add_argument("--images", type=int, default=4, help="number of images (default: 4)")
    parser.add_argument("--ticks", type=int, default=256,  # a simulation length, not a chip figure
                        help="simulated ticks in total (default: 256)")
    parser.add_argument("--schedule", default=None, choices=SCHEDULES,
                        help="block schedule (default: the allocation's, else unrolled)")
    parser.add_argument("--phase-ticks", type=int, default=None, help="looped: ticks per phase (default ticks/N)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per batch (default: what fits)")
    parser.add_argument("--grid-points", type=int, default=96, help="ticks at which outputs are decoded")
    parser.add_argument("--seed", type=int, default=0, help="input-encoding seed")
    parser.add_argument("--chip-seed", type=int, default=0, help="chip instance (mismatch pattern, noise)")
    parser.add_argument("--ignore-limits", action="store_true",
                        help="simulate an infeasible --alloc anyway (stamped in results.json and the table)")
    parser.add_argument("-o", "--output", default="results.json", help="results file (default: results.json)")
    parser.add_argument("--plot", default=None, metavar="DIR", help="write plots into DIR")


def run(args) -> int:
    from itnet_neuro.sim.experiment import run_experiment
    from itnet_neuro.utils import write_json

    results = run_experiment(args.model, alloc=args.alloc, chip=args.chip, backend=args.backend, data=args.data,
                             images=args.images, ticks=args.ticks, schedule=args.schedule,
                             phase_ticks=args.phase_ticks, split=args.split, seed=args.seed,
                             chip_seed=args.chip_seed, grid_points=args.grid_points, batch_size=args.batch_size,
                             plot_dir=args.plot, ignore_limits=args.ignore_limits, calibration=args.calibration)
    write_json(args.output, results)
    print(f"{results['backend']} · {results['schedule']} · {results['ticks']} ticks · {results['images']} image(s)"
          f" · chip {results['chip'] or 'none (ideal IF)'}" + _limits_note(results))
    metric = "acc" if results["outputs"] and results["outputs"][0].get("metric") == "accuracy" else "mIoU"
    print(f"{'output':>6} {'ANN ' + metric:>9} {'SNN ' + metric:>9} {'first tick':>10} {'→90%':>6} {'→99%':>6}")
    for o in results["outputs"]:
        def f(v, fmt):
            return "—" if v is None else format(v, fmt)
        print(f"{o['index'] + 1:>6} {f(o['ann_miou'], '9.3f')} {f(o['snn_miou'], '9.3f')} "
              f"{f(o['first_output_tick'], '10d')} {f(o['ticks_to_90'], '6d')} {f(o['ticks_to_99'], '6d')}")
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
