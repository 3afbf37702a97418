"""Load a Keras 2 HDF5 model without ever executing code stored in the file.

Keras 2 deserializes a ``Lambda`` layer from an ``.h5`` file by unmarshalling and running its stored
Python bytecode, and it resolves unknown ``class_name`` entries through whatever custom objects are
registered. So the model config is read with h5py and checked *before* Keras sees the file:

* ``Lambda`` layers (anywhere, nested models included) are refused;
* every other layer must be a Keras built-in the converter supports, or one of the itnet-neuro
  custom layers (:data:`itnet_neuro.model.layers.CUSTOM_OBJECTS`).

All offending layers are listed at once, each with its name, type and what to do instead.
"""

from __future__ import annotations

import json
import os

from itnet_neuro.errors import ModelFileError, UnsupportedLayerError

#: Keras layer classes the converter turns into spiking populations, connections or readouts.
SUPPORTED_LAYERS = (
    "InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "ReLU", "Activation",
    "AveragePooling2D", "MaxPooling2D", "GlobalAveragePooling2D", "Concatenate", "Add", "UpSampling2D",
    "Resizing", "Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise", "Softmax", "Flatten",
    "ClipFloorShift", "ZeroPadding2D", "Reshape", "SeparableConv2D", "Rescaling", "Normalization",
)
#: Model containers (their layers are checked recursively; conversion needs one flat functional model).
CONTAINERS = ("Functional", "Model", "Sequential")

#: What to do instead of a layer the converter cannot take (by class name).
ADVICE = {
    "Lambda": "executes Python bytecode stored in the file when loaded; replace it with a built-in layer "
              "(ReLU, Rescaling, Resizing, ...) and re-save the model",
    "LeakyReLU": "use ReLU (an IF neuron cannot emit negative rates) and retrain",
    "PReLU": "use ReLU (an IF neuron cannot emit negative rates) and retrain",
    "ELU": "use ReLU and retrain",
    "GlobalMaxPooling2D": "use GlobalAveragePooling2D and retrain",
    "Conv2DTranspose": "use UpSampling2D(interpolation='bilinear') followed by Conv2D and retrain",
    "Multiply": "a product of two signals (squeeze-and-excitation gates, gated activations) has no rate-coded "
                "equivalent: an IF neuron only adds its inputs; remove the gate (e.g. MobileNetV2 blocks instead of "
                "MobileNetV3/EfficientNet ones) and retrain",
    "TFOpLambda": "a raw TensorFlow op stored in the model (e.g. MobileNetV3's hard-swish x·relu6(x+3)/6, a product "
                  "of two signals) has no spiking form; build the model from Keras layers with ReLU/ReLU6",
    "Cropping2D": "cropping a spiking map is not converted; crop the input or use 'valid' convolutions",
    "LayerNormalization": "use BatchNormalization (folded into weights and thresholds)",
}
_DEFAULT_ADVICE = "not convertible to a rate-coded spiking network; supported layers: " + ", ".join(SUPPORTED_LAYERS)


def _custom_names() -> set[str]:
    """Registered names of the itnet-neuro custom layers (imports TensorFlow through layers.py)."""
    try:
        from itnet_neuro.model.layers import CUSTOM_OBJECTS
    except ImportError:  # pragma: no cover - the model package always ships layers.py
        return {"ClipFloorShift", "itnet_neuro>ClipFloorShift"}
    return set(CUSTOM_OBJECTS)


def read_model_config(path: str | os.PathLike) -> dict:
    """The ``model_config`` JSON stored in a Keras HDF5 file, read with h5py only."""
    from itnet_neuro.model.io import read_root_attr

    raw = read_root_attr(path, "model_config", missing_hint="give the path of a Keras .h5 model "
                                                            "(or train one with `itnet-neuro train`)")
    if raw is None:
        raise ModelFileError(f"{path}: no 'model_config' attribute (weights-only file?); save the whole model "
                             "with model.save(path, save_format='h5')")
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: model_config is not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise ModelFileError(f"{path}: model_config has no class_name; not a Keras model file")
    return cfg


def iter_layers(cfg: dict, prefix: str = ""):
    """Yield ``(qualified name, class_name, layer config)`` of every layer, nested models included."""
    layers = (cfg.get("config") or {}).get("layers") or []
    for layer in layers:
        cls = str(layer.get("class_name", "?"))
        name = str((layer.get("config") or {}).get("name", layer.get("name", "?")))
        qual = f"{prefix}{name}"
        yield qual, cls, layer
        if cls in CONTAINERS:
            yield from iter_layers(layer, prefix=qual + "/")


def find_unsupported(cfg: dict, *, allow_nested: bool = False) -> list[tuple[str, str, str]]:
    """Every layer that is refused, as ``(name, class_name, what to do instead)``; empty if all are fine."""
    allowed = set(SUPPORTED_LAYERS) | _custom_names()
    bad = []
    for name, cls, _ in iter_layers(cfg):
        if cls in CONTAINERS:
            if not allow_nested:
                bad.append((name, cls, "nested models are not converted; build one flat functional model "
                                       "(call the inner model's layers directly)"))
            continue
        if cls not in allowed:
            bad.append((name, cls, ADVICE.get(cls, _DEFAULT_ADVICE)))
    return bad


def format_unsupported(path, bad: list[tuple[str, str, str]]) -> str:
    items = "; ".join(f"{name!r} ({cls}): {advice}" for name, cls, advice in bad)
    return f"{path}: {len(bad)} unsupported layer(s): {items}"


def check_model_file(path: str | os.PathLike) -> dict:
    """Inspect ``path`` with h5py and refuse it before Keras runs anything; returns the model config.

    Raises
    ------
    UnsupportedLayerError
        Listing every ``Lambda``, unknown custom class or unsupported layer (name, type, what to do).
    ModelFileError
        If the file is missing or not a Keras HDF5 model.
    """
    cfg = read_model_config(path)
    bad = find_unsupported(cfg, allow_nested=False)
    if bad:
        raise UnsupportedLayerError(format_unsupported(path, bad))
    check_declared_size(path, cfg)
    return cfg


def check_declared_size(path, cfg: dict) -> None:
    """Refuse a config whose layers would make Keras allocate more than the file-size limit."""
    from itnet_neuro.convert.declared import declared_parameters
    from itnet_neuro.untrusted import max_bytes_limit

    try:
        n = declared_parameters(cfg)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    limit = max_bytes_limit()
    if 4 * n > limit:
        raise ModelFileError(f"{path}: its config declares {n} parameters ({4 * n} bytes), more than the limit of "
                             f"{limit} bytes (set ITNET_NEURO_MAX_FILE_BYTES to raise it for a file you trust)")


def safe_load_model(path: str | os.PathLike):
    """Load a Keras HDF5 model after :func:`check_model_file` accepted it (``compile=False``).

    ``compile=False`` also keeps Keras from deserializing stored losses and metrics, which may name
    arbitrary custom functions.
    """
    check_model_file(path)
    from itnet_neuro.model.layers import CUSTOM_OBJECTS
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    try:
        return tf.keras.models.load_model(str(path), custom_objects=dict(CUSTOM_OBJECTS), compile=False)
    except Exception as exc:  # noqa: BLE001 - the file was checked; whatever Keras raises now is the file's fault
        msg = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {msg})") from exc


def check_model(model) -> None:
    """The same check for an in-memory Keras model (no code runs here either way, but the converter
    needs every layer to be supported)."""
    cfg = {"class_name": type(model).__name__, "config": {"layers": [
        {"class_name": type(layer).__name__, "config": {"name": layer.name}} for layer in model.layers]}}
    bad = find_unsupported(cfg, allow_nested=False)
    if bad:
        raise UnsupportedLayerError(format_unsupported(f"model {model.name!r}", bad))


__all__ = ["SUPPORTED_LAYERS", "check_model", "check_model_file", "find_unsupported", "read_model_config",
           "safe_load_model"]
