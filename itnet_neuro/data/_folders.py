"""Shared helpers of the folder loaders: PNG reading and resizing with PIL, layout errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.errors import DataError


def require_dir(root: Path, what: str) -> Path:
    """``root`` as a Path, or :class:`DataError` if it is not an existing folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{what} folder {str(root)!r} does not exist or is not a folder")
    return root


def pngs(folder: Path, suffix: str = ".png") -> list[Path]:
    """PNG files directly in ``folder`` whose names end with ``suffix``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffix.lower()))


def read_rgb(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 H × W × 3; resized bilinearly to ``size = (height, width)`` if given."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}") from exc


def read_ids(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 H × W label ids of a single-channel (L or P mode) PNG; resized with nearest neighbour."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise DataError(
                    f"annotation {str(path)!r} has mode {im.mode}: expected a single-channel PNG of label ids "
                    "(colour-coded annotations must be converted to ids first)")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.NEAREST)
            ids = np.asarray(im)
    except OSError as exc:
        raise DataError(f"cannot read annotation {str(path)!r}: {exc}") from exc
    if ids.max(initial=0) > 255 or ids.min(initial=0) < 0:
        raise DataError(f"annotation {str(path)!r} has ids outside 0..255")
    return ids.astype(np.uint8)


def common_size(first_image: Path, height: int | None, width: int | None) -> tuple[int, int]:
    """``(height, width)`` to load at: the given sizes, or those of the first image for missing ones."""
    if height is not None and width is not None:
        return int(height), int(width)
    from PIL import Image

    with Image.open(first_image) as im:
        w, h = im.size
    if height is not None:       # keep the aspect ratio
        return int(height), max(1, round(w * int(height) / h))
    if width is not None:
        return max(1, round(h * int(width) / w)), int(width)
    return h, w
