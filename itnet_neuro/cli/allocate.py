"""`itnet-neuro allocate`: allocate a spiking network onto the cores of a chip model (alloc.json, core map PNG)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

HELP = "allocate a spiking network onto the cores of a chip model (alloc.json, core map PNG)"
DESCRIPTION = """Allocate a spiking network (IR) onto the cores of a chip model.

Every population is tiled into core-sized pieces that respect the chip's per-core limits (neurons,
input axons incl. sign handling, synapses, synapse memory, output axons, fan-out copies), the tiles
are packed into cores, the cores placed on the chips' meshes. The iterative block runs `looped` (one
copy, time-multiplexed over N phases; needs run-time parameter switching) or `unrolled` (one copy per
iteration); `auto` picks the smallest feasible one and says why. Between looped phases the state
buffer regenerates a rate code of the previous phase's final window (--state-buffer regenerate, costed
from the chip's [state_buffer] table) or replays its spikes exactly (--state-buffer replay, a delay
line of a phase). --phase-ticks auto measures the phase length: one iteration's depth plus a short
simulated convergence on a few synthetic images with the chip's quantization (a few seconds to
minutes; recorded in alloc.json under looped.phase_ticks_choice). Writes alloc.json and a PNG core
map, prints a per-layer table. Exit code 3 when the network does not fit (the report is still
written, listing every violation with what to change).

A neuron whose inputs exceed what one core can feed it has them split into groups whose partial
sums relay neurons compute on other cores (signed pairs; on two-rows chips one sign each), summed
in the original neuron: each level costs cores, axons, copies and a tick of latency, all counted,
and is recorded in alloc.json, so that `simulate --alloc` runs the same split network. The relays'
thresholds are measured on synthetic calibration images (--relay-images). --no-split refuses
instead.

A Keras .h5 model is converted first (its .snn.h5 is cached beside the output and reused while it
is newer than the model). Without MODEL the shipped ItNet is used.

examples:
  itnet-neuro allocate --chip truenorth
  itnet-neuro allocate model.snn.h5 --chip loihi --schedule looped -o loihi.json --plot loihi.png
  itnet-neuro allocate model.h5 --chip my_chip.toml
  itnet-neuro allocate model.snn.h5 --chip loihi --phase-ticks auto
"""

log = logging.getLogger("itnet_neuro")


def add_model_argument(parser) -> None:
    parser.add_argument("--calibration", default="synthetic",
                        help="for a Keras MODEL converted on the fly: synthetic | npz:FILE | DIR (as in convert)")
    parser.add_argument("model", nargs="?", default=None,
                        help="spiking IR (.snn.h5), Keras model (.h5, converted on the fly) or NIR graph (.nir); "
                             "default: the shipped ItNet")


def add_arguments(parser) -> None:
    from itnet_neuro.cli import args
    from mapping.schedule import DEFAULT_PHASE_TICKS, SCHEDULES, STATE_BUFFERS

    add_model_argument(parser)
    parser.add_argument("--chip", required=True, type=args.chip,
                        help="packaged chip name (see `itnet-neuro chips`) or a chip .toml")
    parser.add_argument("--schedule", choices=SCHEDULES, default="auto",
                        help="schedule of the iterative block (default: auto, the smallest feasible)")
    parser.add_argument("-o", "--output", default="alloc.json", help="allocation report (default: alloc.json)")
    parser.add_argument("--plot", default=None,
                        help="core-map PNG (default: OUTPUT with _cores.png); 'none' to skip")
    parser.add_argument("--phase-ticks", type=_phase_ticks, default=DEFAULT_PHASE_TICKS,
                        help=f"ticks per phase of the looped schedule, or 'auto' to measure it (default "
                             f"{DEFAULT_PHASE_TICKS})")
    parser.add_argument("--state-buffer", choices=STATE_BUFFERS, default="regenerate",
                        help="looped: regenerate the state's rate code (default) or replay its spikes exactly")
    parser.add_argument("--window-ticks", type=args.positive_int, default=None,
                        help="looped, regenerate: the rate window at the end of a phase (default: phase "
                             "minus one iteration's depth)")
    parser.add_argument("--no-split", action="store_true",
                        help="refuse neurons whose fan-in exceeds what one core feeds (violations) instead of "
                             "splitting it over relay neurons")
    parser.add_argument("--relay-images", type=args.positive_int, default=None,
                        help="synthetic calibration images that set the fan-in relays' thresholds (default 16)")
    parser.add_argument("--rates", default=None,
                        help="JSON of calibration rates {population: spikes per neuron per tick} for the "
                             "placement's traffic estimate and, on chips with a real-time budget of synaptic "
                             "events (SpiNNaker), the events per tick (default: measured on synthetic "
                             "calibration images where the chip needs them, else uniform)")


def _phase_ticks(text: str):
    """``type=`` of ``--phase-ticks``: ``auto`` or a number of ticks >= 1."""
    from itnet_neuro.cli import args

    return text if text == "auto" else args.positive_int(text)


def _plan(net, args, rates):
    """The allocation (fan-in split unless ``--no-split``); with ``--phase-ticks auto`` the looped phase is
    measured where the result loops."""
    kw = dict(rates=rates, state_buffer=args.state_buffer, window_ticks=args.window_ticks, split=not args.no_split)
    if args.phase_ticks == "auto":
        from itnet_neuro.sim.phase import plan_auto_phase

        return plan_auto_phase(net, args.chip, args.schedule, **kw)
    from mapping.allocate import plan

    return plan(net, args.chip, args.schedule, phase_ticks=args.phase_ticks, **kw)


def load_model_network(model: str | None, cache_dir: Path, calibration="synthetic"):
    """The IR of ``model``: a ``.snn.h5`` is read, a Keras ``.h5`` converted (and cached).

    Parameters
    ----------
    model : str or None
        Path, or None for the shipped ItNet.
    cache_dir : Path
        Where the converted ``<stem>.snn.h5`` is kept; reused while newer than the model.
    """
    from itnet_neuro.errors import ModelFileError
    from itnet_neuro.ir import load_network, save_network

    if model is None:
        from itnet_neuro.resources import SHIPPED_MODEL

        path = Path(SHIPPED_MODEL)
    else:
        path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found" + (
            "" if model else "; the shipped model is missing from this installation, give MODEL"))
    if path.name.endswith(".snn.h5"):
        return load_network(path)
    if path.suffix == ".nir":  # a NIR graph: imported as written (`convert MODEL.nir` has the options)
        from itnet_neuro.convert.nir_import import from_nir

        return from_nir(path)[0]
    cache = Path(cache_dir) / (path.name.removesuffix(".h5") + ".snn.h5")
    if cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        cached = load_network(cache)
        if cached.metadata.get("calibration", "synthetic") == str(calibration):
            log.info(f"using {cache} (converted from {path.name})")
            return cached
    try:
        from itnet_neuro.convert import convert_model
    except ImportError as exc:  # pragma: no cover - depends on the installation
        from itnet_neuro.errors import NotBuiltError

        raise NotBuiltError(f"{path}: converting a Keras model needs itnet_neuro.convert ({exc}); "
                            "give a .snn.h5 instead") from exc
    log.info(f"converting {path} (cached as {cache}) ...")
    net = convert_model(path, calibration=calibration).network
    save_network(net, cache)
    return net


def read_rates(path: str | None) -> dict | None:
    if path is None:
        return None
    import json

    from itnet_neuro.errors import ValidationError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError(f"--rates {path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ValidationError(f"--rates {path}: must be a JSON object {{population: rate}}")
    return data


def needs_rates(chip) -> bool:
    """Whether the chip bounds a core's synaptic events per tick (then allocation needs rates)."""
    from hardware_models.spec import load_chip

    return load_chip(chip).core.synaptic_events_per_second is not None


def calibrate_relays(alloc, net, images: int | None) -> None:
    """Set the fan-in relays' thresholds of ``alloc`` from synthetic calibration images (numpy)."""
    from itnet_neuro.sim.calibrate import DEFAULT_IMAGES, calibrate_split, calibration_inputs

    x = calibration_inputs(net, images or DEFAULT_IMAGES)
    alloc.split = calibrate_split(net, alloc.split, x)


def run(args) -> int:
    from itnet_neuro.errors import AllocationError
    from mapping import allocfile
    from mapping.report import plot_cores, table

    out = Path(args.output)
    net = load_model_network(args.model, out.parent, args.calibration)
    from itnet_neuro.model.chipaware import chip_mismatch_warning

    warning = chip_mismatch_warning(net.metadata.get("itnet_config"), args.chip)
    if warning:
        print(warning, file=sys.stderr)
    rates = read_rates(args.rates)
    if rates is None and needs_rates(args.chip):
        from itnet_neuro.sim.calibrate import DEFAULT_IMAGES, calibration_inputs, population_rates

        rates = population_rates(net, calibration_inputs(net, args.relay_images or DEFAULT_IMAGES))
        print(f"rates measured on {args.relay_images or DEFAULT_IMAGES} synthetic calibration images (for the chip's "
              "real-time budget of synaptic events per tick)")
    alloc = _plan(net, args, rates)
    if alloc.split is not None and alloc.split.relays:
        calibrate_relays(alloc, net, args.relay_images)
    print(table(alloc))
    allocfile.write(alloc, out)
    print(f"wrote {out}")
    plot = args.plot if args.plot is not None else str(out.with_name(out.stem + "_cores.png"))
    if plot.lower() != "none":
        plot_cores(alloc, plot)
        print(f"wrote {plot}")
    if not alloc.feasible:
        raise AllocationError(alloc.violations, f"{net.name} does not fit {alloc.spec.name} ({alloc.schedule}): "
                                                f"{len(alloc.violations)} violation(s), listed in {out}")
    return 0
