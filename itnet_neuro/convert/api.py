"""Public conversion API: :func:`convert_model`, :func:`convert_file`, :class:`ConversionResult`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from itnet_neuro.errors import ConversionError, DataError, ModelFileError
from itnet_neuro.ir.graph import Network

#: Defaults, chosen by measurement on the shipped ItNet (benchmarks/results/convert.json: SNN − ANN mIoU
#: gap at 256 ticks, mean over the 6 outputs: 0.52 points per channel at 99.99, 0.56 per channel at
#: 99.9, 0.74 per channel at 99, 0.77 per layer at 99.9).
DEFAULT_PERCENTILE = 99.99
DEFAULT_PER_CHANNEL = True
DEFAULT_N_CALIBRATION = 32


def shipped_model_path() -> Path:
    """The ItNet shipped with the package (``itnet_neuro/resources/itnet_small_shared.h5``)."""
    return Path(__file__).resolve().parent.parent / "resources" / "itnet_small_shared.h5"


@dataclass
class ConversionResult:
    """What :func:`convert_model` returns.

    Attributes
    ----------
    network : Network
        The spiking IR.
    report : dict
        Decode scales, where signed pairs / folding were used and why, sign changes, notes.
    model : tf.keras.Model
        The (functional copy of the) Keras model that was converted.
    calibration : np.ndarray
        The calibration images used (model inputs, N × H × W × C).
    """

    network: Network
    report: dict
    model: object = None
    calibration: np.ndarray | None = None
    converter: object = field(default=None, repr=False)

    def summary(self) -> str:
        """Populations, neurons, synapses, shared vs unrolled weights, tables, pairs and folding."""
        from itnet_neuro.convert.summary import summarize

        return summarize(self)

    def verify(self, images: np.ndarray | None = None, **kwargs):
        """Layer-by-layer rate check against the Keras activations (:func:`~itnet_neuro.convert.verify.verify`)."""
        from itnet_neuro.convert.verify import verify

        return verify(self, images, **kwargs)


def _load(model_or_path):
    """``(keras model, ItNetConfig or None, name)`` from a path (checked safely first) or a model."""
    from itnet_neuro.convert.safe_load import check_model, safe_load_model

    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        model = safe_load_model(path)
        from itnet_neuro.model.io import read_config

        config = read_config(path)
        return model, config, path.name.removesuffix(".h5")
    check_model(model_or_path)
    return model_or_path, None, getattr(model_or_path, "name", "model")


def _trained_for_axon_types(config) -> bool:
    """Whether ``config`` (an ItNetConfig or None) was trained for a chip whose cores share axon types."""
    if config is None or getattr(config, "chip", None) is None:
        return False
    from hardware_models.spec import load_chip

    return load_chip(config.chip).weights.sign == "axon-types"


def calibration_images(calibration, n: int, height: int, width: int, channels: int, *,
                       input_scale: float = 1.0 / 255.0, input_offset: float = 0.0, seed: int = 0) -> np.ndarray:
    """Calibration inputs, N × H × W × C float32, preprocessed as the model expects.

    Parameters
    ----------
    calibration : "synthetic", "npz:FILE", np.ndarray or path of a folder
        ``"synthetic"``: procedural street scenes of the model's own input size
        (:func:`itnet_neuro.data.synthetic.load_split`, validation split; grey for a 1-channel model).
        ``"npz:FILE"`` (or a ``.npz`` path): its ``x`` (:mod:`itnet_neuro.data.npz`). An array:
        ``uint8`` raw pixels (scaled by ``input_scale``/``input_offset``) or float model inputs (their
        range checked against ``input_scale``, :func:`itnet_neuro.data.inputs.model_inputs`). A folder:
        its ``.png``/``.jpg`` images (resized to the input size) or ``.npy`` arrays.
    """
    from itnet_neuro.data.inputs import model_inputs

    if isinstance(calibration, str) and calibration == "synthetic":
        return _synthetic(n, height, width, channels, input_scale, input_offset, seed)
    what = f"calibration {calibration if not isinstance(calibration, np.ndarray) else 'array'}"
    if isinstance(calibration, np.ndarray):
        arr = calibration
    elif isinstance(calibration, (str, os.PathLike)) and (str(calibration).startswith("npz:")
                                                          or str(calibration).endswith(".npz")):
        from itnet_neuro.data.npz import load_split

        arr = load_split(str(calibration).removeprefix("npz:"), "train", n=n, height=height, width=width)[0]
    elif isinstance(calibration, (str, os.PathLike)):
        arr = _read_folder(Path(calibration), n, height, width, channels)
    else:
        raise ConversionError(f"calibration must be 'synthetic', 'npz:FILE', an array or a folder, got "
                              f"{type(calibration).__name__}")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[1:] != (height, width, channels):
        raise DataError(f"calibration images have shape {arr.shape[1:]}, the model takes {(height, width, channels)}")
    return model_inputs(arr[:n], input_scale, input_offset, what=what)


def _synthetic(n, height, width, channels, input_scale, input_offset, seed) -> np.ndarray:
    """Synthetic street scenes as calibration: RGB, or their luminance for a one-channel model."""
    if channels not in (1, 3):
        raise ConversionError(f"synthetic calibration makes RGB (or grey) images; the model takes {channels} "
                              "channels: give --calibration npz:FILE (an array x of N × H × W × C) or a folder of .npy")
    from itnet_neuro.data.synthetic import load_split

    images, _ = load_split("val", n, height, width, seed=seed)
    raw = np.clip(images * 255.0, 0, 255)
    if channels == 1:
        raw = raw @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return (raw * input_scale + input_offset).astype(np.float32)


def _read_folder(folder: Path, n: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    if not folder.is_dir():
        raise DataError(f"{folder}: calibration folder not found (give 'synthetic', an array or a folder of images)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".npy"))
    if not files:
        raise DataError(f"{folder}: no .png/.jpg/.npy files for calibration")
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    out = []
    for p in files[:n]:
        if p.suffix.lower() == ".npy":
            a = np.load(p, allow_pickle=False)
            out.extend(a if a.ndim == 4 else [a])
            continue
        if channels not in (1, 3):
            raise DataError(f"{p}: a {channels}-channel model needs .npy (or npz:FILE) calibration arrays, not images")
        img = tf.io.decode_image(tf.io.read_file(str(p)), channels=channels, expand_animations=False)
        img = tf.image.resize(img, (height, width), method="bilinear").numpy()
        out.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    arr = np.stack(out[:n])
    return arr


def convert_model(model_or_path, *, calibration="synthetic", n_calibration: int = DEFAULT_N_CALIBRATION,
                  percentile: float = DEFAULT_PERCENTILE, per_channel: bool | None = None,
                  v_init: float = 0.5, input_scale: float = 1.0 / 255.0, input_offset: float = 0.0,
                  itnet_config=None, name: str | None = None) -> ConversionResult:
    """Convert a Keras 2 functional CNN (ItNet or generic) into a rate-coded spiking network.

    Parameters
    ----------
    model_or_path : str, PathLike or tf.keras.Model
        A ``.h5`` file (checked with h5py for ``Lambda`` / unknown layers before Keras loads it; an
        ItNet's ``itnet_config`` attribute is read from it) or an in-memory model.
    calibration : "synthetic", "npz:FILE", np.ndarray or folder
        Images for data-based normalization (see :func:`calibration_images`).
    n_calibration : int
        Number of calibration images.
    percentile : float
        Percentile (0–100] of the positive activations that becomes a population's decode scale λ
        (rate 1 spike/tick); larger values clip less and quantize more coarsely. Default 99.99.
    per_channel : bool or None
        One λ per channel instead of one per layer. None: per channel, except for a model trained for
        a chip with axon types (TrueNorth, ``train --chip``): one λ per layer there, so that a
        population's axons keep the few distinct weights its training gave each neuron.
    v_init : float
        Initial membrane potential as a fraction of θ (0.5 halves the rate quantization error).
    input_scale, input_offset : float
        Preprocessing of raw pixels: ``x = raw * scale + offset`` (the synthetic data and CamVid: 1/255, 0).
    itnet_config : ItNetConfig, optional
        For an in-memory ItNet: its config (shared block, readout iterations). Files carry their own.
    """
    if not 0 < percentile <= 100:
        raise ConversionError(f"percentile={percentile}: must be in (0, 100]; 99.99 is the default")
    if n_calibration < 1:
        raise ConversionError(f"n_calibration={n_calibration}: must be >= 1")
    from itnet_neuro.convert.converter import ConversionOptions, Converter
    from itnet_neuro.convert.emit import emit

    model, config, default_name = _load(model_or_path)
    if itnet_config is not None:
        config = itnet_config
    shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    if shape is None or len(shape) != 3 or None in shape:
        raise ConversionError(f"model input shape {shape}: need a fixed (H, W, C) image input")
    h, w, c = (int(s) for s in shape)
    images = calibration_images(calibration, n_calibration, h, w, c, input_scale=input_scale,
                                input_offset=input_offset)
    if per_channel is None:
        per_channel = DEFAULT_PER_CHANNEL and not _trained_for_axon_types(config)
    opts = ConversionOptions(percentile=float(percentile), per_channel=bool(per_channel), v_init=float(v_init))
    conv = Converter(model, config, images, opts, input_scale, input_offset)
    conv.calibration_name = str(calibration) if not isinstance(calibration, np.ndarray) else "array"
    conv.run()
    net, report = emit(conv, name or default_name)
    report["calibration"] = calibration if isinstance(calibration, str) else f"array {images.shape}"
    report["n_calibration"] = int(len(images))
    return ConversionResult(net, report, conv.model, images, conv)


def convert_file(in_path, out_path, **kwargs) -> ConversionResult:
    """:func:`convert_model` on a file, writing the IR to ``out_path`` (``.snn.h5``) atomically."""
    from itnet_neuro.ir.io import save_network

    if not Path(in_path).is_file():
        raise ModelFileError(f"{in_path}: model file not found")
    result = convert_model(in_path, **kwargs)
    save_network(result.network, out_path)
    return result
