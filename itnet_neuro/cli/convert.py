"""`itnet-neuro convert`: convert a trained model.h5 into a rate-coded spiking network (model.snn.h5)."""

from __future__ import annotations

from pathlib import Path

HELP = "convert a trained model.h5 (or a NIR graph, model.nir) into a rate-coded spiking network (model.snn.h5)"
DESCRIPTION = """Convert a Keras 2 model (.h5) into a rate-coded spiking network of integrate-and-fire neurons,
or read a NIR graph (.nir, from sinabs, snnTorch, norse, rockpool, lava-dl or `itnet-neuro export`).

The file is inspected with h5py before Keras reads it: Lambda layers and unknown custom layers are
refused (listed all at once, with what to do instead), so converting an untrusted file never runs
code. ReLU / ReLU6 / clip-floor-shift become IF populations with reset by subtraction; BatchNorm,
pooling, resampling, concatenation, residual sums and classifiers become weights, thresholds, signed
population pairs or readouts. An ItNet's shared iterative block stays shared, per-iteration BatchNorm
becoming per-iteration threshold/bias tables. Decode scales come from a percentile of the activations
on calibration images (synthetic street scenes of the model's input size unless --calibration
npz:FILE or DIR; any number of input channels from an npz file). The input scale (raw pixel → model
input, --input-scale, default 1/255) and the calibration inputs' range are recorded with the network;
simulate and verify then refuse data whose range does not match instead of rescaling it silently.

A NIR graph becomes the same IR: IF/LIF neurons become populations, Conv2d/pooling/Flatten/Affine/
Scale/Delay fold into connections, Outputs become readouts; what cannot be expressed is refused by
node name with the reason (see itnet_neuro/convert/nir_import.py). --verify then runs the NIR graph
and the IR side by side and prints the fraction of neuron-ticks that agree.

examples:
  itnet-neuro convert                                  # the shipped model
  itnet-neuro convert model.nir -o model.snn.h5 --verify --nir-reset subtract
  itnet-neuro convert model.h5 -o model.snn.h5 --verify
  itnet-neuro convert model.h5 --calibration images/ --percentile 99.9 --per-layer
"""


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args

    parser.add_argument("model", nargs="?", default=None,
                        help="Keras .h5 model (default: the shipped itnet_small_shared.h5)")
    parser.add_argument("-o", "--output", default=None,
                        help="output .snn.h5 (default: MODEL with .snn.h5 in the current folder)")
    parser.add_argument("--calibration", default="synthetic",
                        help="'synthetic' (default), npz:FILE (array x: uint8 raw pixels or float model inputs) "
                             "or a folder of .png/.jpg/.npy calibration images")
    parser.add_argument("--input-scale", type=float, default=1.0 / 255.0,
                        help="model input = raw pixel × scale + offset (default 1/255: inputs in [0, 1])")
    parser.add_argument("--input-offset", type=float, default=0.0, help="see --input-scale (default 0)")
    parser.add_argument("--n-calibration", type=args.positive_int, default=None,
                        help="number of calibration images (default 32)")
    parser.add_argument("--percentile", type=args.percentile, default=None,
                        help="percentile of positive activations used as decode scale (default 99.99)")
    parser.add_argument("--per-layer", action="store_true",
                        help="one decode scale per layer instead of per channel (the default, except for a "
                             "model trained for a chip with axon types, TrueNorth: per layer)")
    parser.add_argument("--v-init", type=float, default=0.5, help="initial membrane potential / θ (default 0.5)")
    parser.add_argument("--verify", action="store_true",
                        help="print the layer-by-layer rate check against Keras (exit 1 if it fails)")
    parser.add_argument("--spiking-ticks", type=args.nonnegative_int, default=0,
                        help="with --verify: also simulate this many ticks and compare the outputs")
    parser.add_argument("--json", action="store_true", help="print the conversion report as JSON")
    parser.add_argument("--chip", default=None,
                        help="the chip the IR is meant for: a warning when the model was trained for another "
                             "(`train --chip`); the IR itself does not depend on it")
    nir = parser.add_argument_group("NIR input (MODEL.nir)")
    nir.add_argument("--nir-dt", type=float, default=None,
                     help="length of one tick in the graph's time unit (default: the graph's dt, else τ/r, else 1)")
    nir.add_argument("--nir-reset", choices=("auto", "subtract"), default="auto",
                     help="auto (default): v_reset = 0 → reset to zero, exactly; subtract: every neuron resets "
                          "by subtraction (what sinabs' IAF and converted ANNs do)")


def run(args) -> int:
    import json

    from itnet_neuro.convert import api
    from itnet_neuro.errors import ModelFileError

    model = Path(args.model) if args.model else api.shipped_model_path()
    if not model.is_file():
        raise ModelFileError(f"{model}: model file not found" + (
            "; the shipped model is missing from this installation, give MODEL.h5" if not args.model else ""))
    from itnet_neuro.convert.nir_import import is_nir_file

    if model.suffix == ".nir" or is_nir_file(model):
        return _run_nir(args, model)
    out = Path(args.output) if args.output else Path(model.name.removesuffix(".h5") + ".snn.h5")
    kwargs = {"calibration": args.calibration, "v_init": args.v_init, "input_scale": args.input_scale,
              "input_offset": args.input_offset}
    if args.n_calibration is not None:
        kwargs["n_calibration"] = args.n_calibration
    if args.percentile is not None:
        kwargs["percentile"] = args.percentile
    if args.per_layer:
        kwargs["per_channel"] = False
    result = api.convert_file(model, out, **kwargs)
    _trained_for_lines(result.network.metadata.get("itnet_config"), args.chip)
    if args.json:
        print(json.dumps({k: v for k, v in result.report.items() if k != "decode_scales"}, indent=2, default=str))
    else:
        print(result.summary())
    print(f"wrote {out}")
    if args.verify:
        rep = result.verify(spiking_ticks=args.spiking_ticks)
        print(rep.table())
        return 0 if rep.passed else 1
    return 0


def _run_nir(args, model: Path) -> int:
    """``convert MODEL.nir``: NIR graph → IR (:func:`itnet_neuro.convert.nir_import.from_nir`)."""
    import json

    from itnet_neuro.convert.nir_import import from_nir, read_graph, verify_nir
    from itnet_neuro.ir import save_network

    out = Path(args.output) if args.output else Path(model.stem + ".snn.h5")
    graph = read_graph(model)
    net, report = from_nir(graph, dt=args.nir_dt, reset=args.nir_reset, name=model.stem)
    save_network(net, out)
    print(json.dumps(report, indent=2) if args.json else net.summary())
    for note in report["notes"][:10]:
        print(f"note: {note}")
    print(f"wrote {out} (from NIR, dt = {report['dt']:g} per tick{'; shared block re-folded' if report['refolded'] else ''})")
    if args.verify:
        ticks = args.spiking_ticks or 32
        rep = verify_nir(read_graph(model), net, ticks=ticks, reset=args.nir_reset)
        print(f"verify: NIR graph vs IR, {rep['images']} random inputs × {ticks} ticks: "
              f"{rep['agreement']:.6f} of {rep['neuron_ticks']:,} neuron-ticks agree ({rep['spikes']:,} spikes)")
        return 0 if rep["agreement"] >= 0.999 else 1
    return 0


def _trained_for_lines(config: dict | None, chip: str | None) -> None:
    """Say which chip and tick budget a chip-trained model was made for, and warn on another chip."""
    import sys

    from itnet_neuro.model.chipaware import chip_mismatch_warning, trained_for

    trained, ticks = trained_for(config)
    if trained is not None:
        print(f"trained for {trained} at {ticks} ticks")
    warning = chip_mismatch_warning(config, chip)
    if warning:
        print(warning, file=sys.stderr)
