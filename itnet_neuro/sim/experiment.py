"""``simulate`` as one function: model + data + chip → results dict (what ``results.json`` holds).

:func:`run_experiment` loads or converts the model, loads the images, builds the chip
(:class:`itnet_neuro.sim.hardware.Hardware`), simulates with the chosen backend, evaluates the ANN
(the Keras model when one is given, else the IR's rate evaluation) and computes the metrics of
:mod:`itnet_neuro.sim.metrics`. The CLI only parses arguments and calls it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from itnet_neuro.errors import ModelFileError, ValidationError
from itnet_neuro.ir.graph import Network

log = logging.getLogger("itnet_neuro.sim")


def load_model(path: str | os.PathLike | None, calibration="synthetic"):
    """``(network, keras_model_or_None, description)`` for an ``.snn.h5``, a NIR ``.nir``, a Keras ``.h5``
    (converted on the fly with ``calibration``: ``"synthetic"``, ``"npz:FILE"`` or a folder) or None
    (the shipped model)."""
    from itnet_neuro.ir.io import load_network

    if path is None:
        from itnet_neuro.resources import SHIPPED_MODEL

        path = SHIPPED_MODEL
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.name.endswith(".snn.h5"):
        return load_network(path), None, str(path)
    if path.suffix == ".nir":  # imported as written (`itnet-neuro convert MODEL.nir` has the options)
        from itnet_neuro.convert.nir_import import from_nir

        return from_nir(path)[0], None, str(path)
    from itnet_neuro.model.io import read_root_attr

    if read_root_attr(path, "format", missing_hint="give a .snn.h5 or a Keras .h5") == "itnet-neuro-snn":
        return load_network(path), None, str(path)
    from itnet_neuro.convert import convert_model

    log.info("converting %s to a spiking network", path)
    conv = convert_model(path, calibration=calibration)
    return conv.network, conv.model, str(path)


def check_allocation_matches(alloc, net: Network, path, run: Network | None = None) -> None:
    """Refuse an ``alloc.json`` made for another network: its input shape and every tile's population
    and box must be the simulated network's (issue 14: nothing else ties the two files together).
    ``run``: the network as allocated where it differs from ``net`` (its fan-in split, whose relay
    populations hold tiles too; unrolled copies ``P@n`` count as ``P``)."""
    fix = f"allocate this network: `itnet-neuro allocate MODEL --chip {alloc.chip.name}`"
    if tuple(alloc.input.shape) != tuple(net.input.shape):
        raise ValidationError(f"{path}: made for an input of shape {list(alloc.input.shape)}, but network "
                              f"{net.name!r} takes {list(net.input.shape)}; {fix}")
    from mapping.schedule import split_copy

    shapes = {p.name: p.shape for p in net.populations}
    for p in run.populations if run is not None else ():
        shapes.setdefault(p.name, p.shape)
        shapes.setdefault(split_copy(p.name)[0], p.shape)
    for core in alloc.cores:
        for t in core.tiles:
            if t.kind != "population":  # state-buffer relays/generators, split relays: not in the IR
                continue
            shape = shapes.get(t.population)
            if shape is None:
                raise ValidationError(f"{path}: core {core.id} holds population {t.population!r}, which network "
                                      f"{net.name!r} does not have; {fix}")
            if any(stop > n for (_, stop), n in zip((t.channels, t.rows, t.cols), shape)):
                raise ValidationError(f"{path}: core {core.id} holds {t.population!r} box {list(t.box)} beyond its "
                                      f"shape {list(shape)} in network {net.name!r}; {fix}")


def load_images(data, net: Network, n: int, split: str = "test", seed: int = 0):
    """``(x (B, C, H, W) preprocessed, labels (B, H_out, W_out) or None, void_label)`` at the network's size.

    ``data``: ``"synthetic"``, ``"camvid:DIR"``, ``"cityscapes:DIR"`` or ``"npz:FILE"``
    (:func:`itnet_neuro.data.load_dataset`); labels are class maps or, for a classifier, class indices.
    ``uint8`` images are raw pixels (the network's recorded scale applies), floats model inputs whose
    range is checked (:func:`itnet_neuro.data.inputs.model_inputs`). ``data`` may also be an array of
    images ``N × H × W × C`` or a pair ``(images, labels)``.
    """
    from itnet_neuro.data import load_dataset
    from itnet_neuro.data.inputs import model_inputs

    c, h, w = net.input.shape
    if isinstance(data, (np.ndarray, tuple, list)):
        images, labels = (data, None) if isinstance(data, np.ndarray) else data
        images = np.asarray(images)
        images, void, data = (images[..., None] if images.ndim == 3 else images), None, "array"
    else:
        images, labels, _, void = load_dataset(data, split, height=h, width=w, n=n, seed=seed)
    images = np.asarray(images)[:n]
    labels = None if labels is None else np.asarray(labels)[:n]
    if images.shape[1:3] != (h, w):
        raise ValidationError(f"--data {data!r}: images are {images.shape[1:3]}, the network needs {(h, w)}")
    if images.shape[3] != c:
        raise ValidationError(f"--data {data!r}: images have {images.shape[3]} channels, the network takes {c}")
    x = model_inputs(images, net.input.scale, net.input.offset, recorded_range=net.metadata.get("input_range"),
                     what=f"--data {data}")
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))), labels, void


def ann_logits(net: Network, keras_model, x: np.ndarray) -> list[np.ndarray]:
    """The ANN's logits per readout (readout order), ``(B, K, H, W)``."""
    from itnet_neuro.sim.metrics import rate_logits

    if keras_model is None:
        return rate_logits(net, x)
    outs = keras_model.predict(np.transpose(x, (0, 2, 3, 1)), verbose=0)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    outs = [np.asarray(o)[:, None, None, :] if np.ndim(o) == 2 else np.asarray(o) for o in outs]  # classifiers
    return [np.transpose(outs[r.index], (0, 3, 1, 2)) for r in net.unroll().readouts]


#: Simulated ticks when ``--ticks`` is not given (a simulation length, not a chip figure).
DEFAULT_TICKS = 256


def looped_ticks(n_it: int, ticks: int | None, phase_ticks: int | None, alloc_phase: int | None):
    """``(T_phase, total, note)`` of a looped run: the phase from ``--phase-ticks``, else the
    allocation's, else ``--ticks // N``; the run is always N whole phases, and ``note`` says exactly
    what runs and how it differs from a ``--ticks`` that was given."""
    if phase_ticks:
        phase, source = int(phase_ticks), "--phase-ticks"
    elif alloc_phase:
        phase, source = int(alloc_phase), "the allocation"
    else:
        want = DEFAULT_TICKS if ticks is None else int(ticks)
        phase, source = want // n_it, f"{want} ticks / {n_it} iterations"
        if phase < 1:
            raise ValidationError(f"looped schedule: {want} ticks leave no tick per phase for {n_it} iterations; "
                                  f"use --ticks >= {n_it}")
    total = n_it * phase
    note = f"looped schedule: {n_it} phases × {phase} ticks = {total} ticks (phase from {source})"
    if ticks is not None and int(ticks) != total:
        if source.endswith("iterations"):
            note += f"; --ticks {ticks} is not a multiple of {n_it}, so {int(ticks) - total} tick(s) fewer run"
        else:
            note += (f"; --ticks {ticks} does not set the length of a looped run (whole phases of the "
                     f"{source}'s length); give --phase-ticks to change it")
    return phase, total, note


def _buffer_choice(hw, phase: int, alloc_phase: int | None, state_buffer, window_ticks):
    """``(state_buffer, window_ticks, note)``: the arguments, else the allocation's, else the default
    (replay on a chip without a regenerator)."""
    sb = hw.state_buffer if hw is not None else None
    mode = state_buffer or (sb.mode if sb is not None else None)
    note = None
    if mode is None and hw is not None and hw.chip.state_buffer.regenerator is None:
        mode, note = "replay", f"{hw.name} has no state-buffer regenerator: the state buffer replays"
    if window_ticks is None and mode in (None, "regenerate") and sb is not None and sb.mode == "regenerate" \
            and alloc_phase == phase:
        window_ticks = sb.window_ticks
    return mode, window_ticks, note


def split_of(hw, schedule: str):
    """The fan-in split (:class:`mapping.split.SplitRecord`) of ``hw``'s allocation, or None; refused when
    the simulation runs another schedule than the one allocated (its relays would not exist)."""
    alloc = None if hw is None else hw.allocation
    record = None if alloc is None else alloc.split
    if record is None or not record.relays:
        return None
    if schedule != record.schedule:
        raise ValidationError(f"{alloc.path or 'alloc.json'}: the allocation split fan-in over relay neurons for the "
                              f"{record.schedule} schedule; simulate it with --schedule {record.schedule} (or "
                              f"allocate with --schedule {schedule})")
    return record


def _as_allocated(net: Network, hw, schedule: str) -> Network:
    """``net`` as ``hw``'s allocation built it: with its fan-in relays (:mod:`mapping.split`), else ``net``."""
    fanin = split_of(hw, schedule)
    if fanin is None:
        return net
    from mapping.split import apply_record

    return apply_record(net, fanin)


def run_experiment(model=None, *, alloc=None, chip=None, backend: str = "fast", data: str = "synthetic",
                   images: int = 4, ticks: int | None = None, schedule: str | None = None,
                   phase_ticks: int | None = None, state_buffer: str | None = None,
                   window_ticks: int | None = None, decoder=None,
                   split: str = "test", seed: int = 0, chip_seed: int = 0, grid_points: int = 96,
                   batch_size: int | None = None, plot_dir=None, network: Network | None = None,
                   ann_model=None, keep_predictions: bool = True, ignore_limits: bool = False,
                   calibration="synthetic", **backend_options) -> dict:
    """Run one simulation experiment and return the results dict (see ``itnet-neuro simulate --help``).

    ``data``: a dataset spec (``"synthetic"``, ``"npz:FILE"``, …), an image array ``N × H × W × C``, or
    ``(images, labels)`` with labels as class indices (a classifier, scored by accuracy) or class maps.

    ``network`` (with optional ``ann_model``, the Keras model it came from) replaces loading ``model``,
    e.g. to run one conversion on several chips. An infeasible ``alloc`` is refused
    (:class:`~itnet_neuro.errors.AllocationError`) unless ``ignore_limits``; the results then say so
    (``ignore_limits``, ``violations``). ``ticks`` (default :data:`DEFAULT_TICKS`) is the length of an
    unrolled run; a looped run is N whole phases (:func:`looped_ticks` says which). ``decoder``:
    :class:`itnet_neuro.sim.metrics.Decoder` or its spec (default
    :data:`~itnet_neuro.sim.metrics.DEFAULT_DECODER`).
    """
    from itnet_neuro.sim.core import default_grid, simulate
    from itnet_neuro.sim.hardware import Hardware
    from itnet_neuro.sim.metrics import Decoder, decoding_grid, layer_activity, output_metrics

    t_start = time.perf_counter()
    if network is not None:
        net, keras_model, desc = network, ann_model, network.name
    else:
        net, keras_model, desc = load_model(model, calibration)
    hw = None
    if alloc is not None:
        hw = Hardware.from_allocation(alloc, seed=chip_seed, ignore_limits=ignore_limits)
    elif chip is not None:
        hw = Hardware.from_chip(chip, seed=chip_seed)
    if schedule is None:
        schedule = (hw.schedule if hw is not None and hw.schedule in ("looped", "unrolled") else "unrolled")
    if schedule == "looped" and hw is not None and not hw.chip.looped_schedule_allowed:
        raise ValidationError(f"chip {hw.name!r} cannot rewrite neuron parameters at run time, so the looped "
                              "schedule cannot run on it (chip.neuron.parameters_switchable_at_runtime); "
                              "use --schedule unrolled")
    run_net = _as_allocated(net, hw, schedule)
    if alloc is not None:
        check_allocation_matches(hw.allocation, net, alloc, run_net)
    decoder = Decoder.parse(decoder)
    x, labels, void = load_images(data, net, images, split, seed)
    n_it = 1 if net.block is None else net.block.iterations
    notes = []
    if schedule == "looped" and net.block is not None:
        alloc_phase = hw.phase_ticks if hw is not None else None
        phase_ticks, total, note = looped_ticks(n_it, ticks, phase_ticks, alloc_phase)
        state_buffer, window_ticks, buf_note = _buffer_choice(hw, phase_ticks, alloc_phase, state_buffer,
                                                              window_ticks)
        notes += [note] + ([buf_note] if buf_note else [])
    else:
        total = DEFAULT_TICKS if ticks is None else int(ticks)
        phase_ticks = state_buffer = window_ticks = None
    for n in notes:
        log.info(n)
    grid = default_grid(total, grid_points)
    if schedule == "looped" and net.block is not None:  # the phase ends: where each output is final
        grid = np.unique(np.concatenate([grid, np.arange(1, n_it + 1) * phase_ticks]))
    ann = ann_logits(net, keras_model, x)
    net, fanin = run_net, split_of(hw, schedule)
    sim_grid = decoding_grid(net, grid, decoder, schedule, phase_ticks, state_buffer)
    result = simulate(net, x, total, backend=backend, schedule=schedule, grid=sim_grid, phase_ticks=phase_ticks,
                      seed=seed, hardware=hw, batch_size=batch_size, state_buffer=state_buffer,
                      window_ticks=window_ticks, **backend_options)
    tick_s = hw.tick_seconds if hw is not None else None
    g = grid
    keep = tuple(sorted({int(g[min(len(g) - 1, int(round(f * (len(g) - 1))))]) for f in (0.1, 0.25, 0.5, 1.0)}))
    outputs = output_metrics(result, net, labels, ann, void, tick_s, keep if keep_predictions else (), decoder,
                             report_grid=grid)
    unet = net.unroll()
    layers = layer_activity(result, net)
    per_image = max(result.images, 1)
    spikes = sum(result.spikes_per_population.values()) / per_image
    synops = sum(result.synaptic_ops.values()) / per_image
    run_ticks = result.phase_ticks or result.ticks
    neuron_updates = sum(p.size for p in unet.populations) * run_ticks
    energy = None
    energy_detail = None
    if hw is not None:
        buffer_spikes = result.info.get("state_buffer_spikes", 0.0) / per_image  # the regenerator's own
        est = hw.energy(spikes + buffer_spikes, synops, neuron_updates, result.ticks)
        known = [v for v in est.components.values() if v is not None]
        energy = float(est.total_j) if known else None  # None: the chip publishes no energy figure
        energy_detail = {"components": dict(est.components), "missing": list(est.missing),
                         "lower_bound": bool(est.missing), "n_chips": est.n_chips}
    results = {
        "backend": backend,
        "schedule": result.schedule,
        "ticks": int(result.ticks),
        "requested_ticks": ticks,
        "phase_ticks": result.phase_ticks,
        "state_buffer": None if result.state_buffer is None else {
            "mode": result.state_buffer, "window_ticks": result.window_ticks,
            "spikes_per_image": result.info.get("state_buffer_spikes", 0.0) / per_image},
        "run_notes": notes,
        "decoder": decoder.to_json(),
        "images": int(result.images),
        "data": data if isinstance(data, str) else "array",
        "model": desc,
        "network": {"name": net.name, "neurons": net.n_neurons, "synapses": net.n_synapses,
                    "iterations": n_it},
        "fanin_split": None if fanin is None else {"relays": len(fanin.relays), "levels": fanin.levels,
                                                   "mode": fanin.mode, "extra_ticks": fanin.extra_ticks,
                                                   "thresholds": fanin.calibration},
        "chip": None if hw is None else hw.name,
        "chip_seed": None if hw is None else chip_seed,
        "ignore_limits": bool(ignore_limits),
        "violations": [] if hw is None else [v.to_dict() for v in hw.violations],
        "tick_seconds": tick_s,
        "grid": [int(t) for t in grid],
        "outputs": outputs,
        "spikes": {"per_image": spikes, "per_layer": {k: v["spikes"] for k, v in layers.items()}},
        "synaptic_ops": {"per_image": synops, "per_layer": {k: v["synaptic_ops_in"] for k, v in layers.items()}},
        "rates": {k: v["rate"] for k, v in layers.items()},
        "energy_joules": energy,
        "energy": energy_detail,
        "hardware_seconds": None if tick_s is None else result.ticks * tick_s,
        # the first tick in seconds since the process started (issue 17): a timing, kept with the others
        "wall_seconds": {"simulation": result.wall_seconds, "total": time.perf_counter() - t_start,
                         "first_tick_after_process_start": result.info.get("first_tick_after_s")},
        "simulator": {k: v for k, v in result.info.items() if k not in ("sequential_neuron_chunks",
                                                                        "first_tick_after_s")},
    }
    if hw is not None:
        results["weight_rms_error"] = hw.report.get("weight_rms_error", {})
        results["clipped"] = dict(hw.report.get("clipped", {}))  # parameters clipped to the chip's ranges
        results["clip_factors"] = hw.report.get("clip_factors", {})
        results["neuron"] = hw.report.get("neuron")
    if plot_dir is not None:
        from itnet_neuro.sim.plots import plot_all

        results["plots"] = [str(p) for p in plot_all(results, plot_dir, x=x, labels=labels, ann=ann)]
    for o in outputs:
        o.pop("predictions", None)
    return results
