"""Your own data as one ``.npz`` file: ``--data npz:FILE`` (and ``--calibration npz:FILE``).

Arrays (``np.savez``; read with ``allow_pickle=False``):

* ``x`` — images ``N × H × W × C`` (any ``C``; ``N × H × W`` is one channel): ``uint8`` raw pixels
  (preprocessed by the network's recorded scale and offset) or float model inputs (used as they are,
  after :func:`itnet_neuro.data.inputs.model_inputs` checked their range);
* ``y`` — optional labels: ``N`` class indices (classification) or ``N × H × W`` class maps
  (segmentation);
* ``x_train``/``y_train``, ``x_val``/``y_val``, ``x_test``/``y_test`` — per-split arrays, used instead
  of ``x``/``y`` for that split when present;
* ``classes`` — optional class names; ``void`` — optional label of ignored pixels (default 255 for
  segmentation maps that contain it, else none).

Images are never resized: an array of another size than the network's input is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.errors import DataError


def _arrays(path: Path, split: str):
    if not path.is_file():
        raise DataError(f"{path}: npz file not found (give npz:FILE with arrays x and optional y)")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    keys = set(data.files)
    xk = f"x_{split}" if f"x_{split}" in keys else "x"
    yk = f"y_{split}" if f"x_{split}" in keys else "y"
    if xk not in keys:
        raise DataError(f"{path}: no array 'x' (or 'x_{split}'); arrays present: {sorted(keys)}")
    return data, xk, (yk if yk in keys else None)


def load_split(path, split: str, *, n: int | None = None, height: int | None = None,
               width: int | None = None) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...], int | None]:
    """``(images N×H×W×C, labels or None, class names, void label or None)`` of one split."""
    path = Path(path)
    data, xk, yk = _arrays(path, split)
    x = data[xk]
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.dtype.kind not in "uif":
        raise DataError(f"{path}: {xk} must be N × H × W × C numbers, got {x.shape} {x.dtype}")
    if (height is not None and x.shape[1] != height) or (width is not None and x.shape[2] != width):
        raise DataError(f"{path}: images are {x.shape[1]}×{x.shape[2]}, the network takes {height}×{width} "
                        "(npz images are not resized; store them at the network's size)")
    y = None if yk is None else data[yk]
    if y is not None:
        if y.shape[0] != x.shape[0] or y.ndim not in (1, 3) or y.dtype.kind not in "iu":
            raise DataError(f"{path}: {yk} must be N class indices or N × H × W class maps (integers) for the "
                            f"{x.shape[0]} images, got {y.shape} {y.dtype}")
    if n is not None:
        x, y = x[:n], None if y is None else y[:n]
    void = int(data["void"]) if "void" in data.files else (255 if y is not None and y.ndim == 3 and
                                                           np.any(y == 255) else None)
    if "classes" in data.files:
        classes = tuple(str(c) for c in data["classes"])
    else:
        valid = y if (y is None or void is None) else y[y != void]
        k = 0 if valid is None or valid.size == 0 else int(valid.max()) + 1
        classes = tuple(str(i) for i in range(k))
    if x.dtype != np.uint8:  # uint8 stays raw pixels; anything else is read as float model inputs
        x = x.astype(np.float32)
    return x, y, classes, void
