"""Save and load an ItNet as one Keras 2 HDF5 file that carries its own config.

The file is a plain ``model.save(path, save_format="h5")`` plus one root attribute, ``itnet_config``,
holding ``ItNetConfig.to_json()``. A file alone is enough for every later stage; loading needs no user
code (custom layers come from ``CUSTOM_OBJECTS``), and ``read_config`` needs only h5py.
"""

from __future__ import annotations

import os
from pathlib import Path

from itnet_neuro.errors import ConfigError, ModelFileError
from itnet_neuro.model.config import ItNetConfig

#: Root attribute of the HDF5 file holding the ItNet config JSON.
CONFIG_ATTR = "itnet_config"


def save_itnet(model, config: ItNetConfig, path: str | os.PathLike, *, include_optimizer: bool = False) -> Path:
    """Write ``model`` to ``path`` (Keras HDF5) with ``config`` as root attribute, atomically.

    The file is written beside ``path`` under a temporary name and renamed into place, so a crash
    never leaves a partial model file.
    """
    import h5py

    from itnet_neuro.utils import atomic_path

    path = Path(path)
    if config.chip is not None and any(hasattr(layer, "chip_kernel") for layer in model.layers):
        from itnet_neuro.model.chiplayers import plain_model

        model = plain_model(model, config)  # the quantized weights in stock layers
    with atomic_path(path) as tmp:
        tmp_h5 = tmp.with_suffix(".h5") if tmp.suffix != ".h5" else tmp
        model.save(str(tmp_h5), save_format="h5", include_optimizer=include_optimizer)
        with h5py.File(tmp_h5, "a") as f:
            f.attrs[CONFIG_ATTR] = config.to_json()
        if tmp_h5 != tmp:
            os.replace(tmp_h5, tmp)
    return path


def read_root_attr(path: str | os.PathLike, name: str, *, missing_hint: str) -> str | None:
    """The root attribute ``name`` of the HDF5 model file ``path`` as text, None if absent (h5py only).

    A missing file is a :class:`ModelFileError` ending in ``missing_hint`` (what the user should do);
    a file h5py cannot open is one too.
    """
    import h5py

    from itnet_neuro.untrusted import check_hdf5

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; {missing_hint}")
    check_hdf5(path, ModelFileError)  # in a child process: a crafted file cannot crash or exhaust us
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(name)
    except OSError as exc:
        raise ModelFileError(f"{path}: not an HDF5 model file ({exc}); give a Keras 2 .h5 model") from exc
    if raw is None:
        return None
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def read_config(path: str | os.PathLike) -> ItNetConfig | None:
    """The ItNet config stored in ``path``, or None if the file has none (h5py only, no TensorFlow)."""
    raw = read_root_attr(path, CONFIG_ATTR, missing_hint="train one with `itnet-neuro train` or give the "
                                                         "path of an existing .h5")
    if raw is None:
        return None
    try:
        return ItNetConfig.from_json(raw)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: attribute {CONFIG_ATTR!r} is invalid: {exc}") from exc


def load_itnet(path: str | os.PathLike, *, compile: bool = False):
    """Load ``(model, config)`` from a file written by :func:`save_itnet`.

    Raises
    ------
    ModelFileError
        If the file is missing, not a Keras model, or has no ``itnet_config`` attribute.
    """
    from itnet_neuro.model.layers import CUSTOM_OBJECTS
    from itnet_neuro.utils import import_tf

    from itnet_neuro.convert.safe_load import check_model_file

    config = read_config(path)
    if config is None:
        raise ModelFileError(f"{path}: no {CONFIG_ATTR!r} attribute; it was not written by save_itnet "
                             "(re-save it with itnet_neuro.model.save_itnet(model, config, path))")
    check_model_file(path)  # no Lambda, no unknown class, no memory bomb before Keras reads it
    tf = import_tf()
    try:
        model = tf.keras.models.load_model(str(path), custom_objects=dict(CUSTOM_OBJECTS), compile=compile)
    except Exception as exc:  # noqa: BLE001 - the file was checked; whatever Keras raises now is the file's fault
        msg = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {msg})") from exc
    return model, config


__all__ = ["save_itnet", "load_itnet", "read_config", "read_root_attr", "CONFIG_ATTR"]
