"""Cityscapes (fine annotations) mapped to its 19 training classes, with the paper's preprocessing.

Expected layout (as distributed at cityscapes-dataset.com)::

    DIR/leftImg8bit/{train,val,test}/{city}/{name}_leftImg8bit.png
    DIR/gtFine/{train,val,test}/{city}/{name}_gtFine_labelIds.png

Label ids are mapped to train ids with the table of ``cityscapesscripts`` (:data:`ID_TO_TRAIN_ID`);
everything not used for training becomes :data:`IGNORE` (255). Paper §2.4: images resized to
1024 × 512 (:data:`SIZE`), scaled to [-1, 1] (``x / 127.5 - 1``), random horizontal flips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.data._folders import pngs, read_ids, read_rgb, require_dir
from itnet_neuro.errors import DataError, ValidationError

SPLITS = ("train", "val", "test")
#: ``(height, width)`` the paper resizes Cityscapes to (§2.4).
SIZE = (512, 1024)
#: Train id of pixels ignored in loss and metrics.
IGNORE = 255
#: The 19 training classes, train ids 0..18.
CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
           "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
           "bicycle")
NUM_CLASSES = 19

#: label id → train id, copied as data from ``cityscapesscripts/helpers/labels.py``
#: (github.com/mcordts/cityscapesScripts, the ``labels`` table: columns ``id`` and ``trainId``;
#: trainId 255 and -1 mean ignored). Ids 0..33; license plate (-1) never occurs in labelIds PNGs.
ID_TO_TRAIN_ID = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255,   # unlabeled, ego vehicle, rect. border, out of roi, static, dynamic, ground
    7: 0, 8: 1, 9: 255, 10: 255,                              # road, sidewalk, parking, rail track
    11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255,           # building, wall, fence, guard rail, bridge, tunnel
    17: 5, 18: 255, 19: 6, 20: 7,                             # pole, polegroup, traffic light, traffic sign
    21: 8, 22: 9, 23: 10,                                     # vegetation, terrain, sky
    24: 11, 25: 12,                                           # person, rider
    26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,         # car, truck, bus, caravan, trailer, train
    32: 17, 33: 18,                                           # motorcycle, bicycle
}

_LUT = np.full(256, IGNORE, np.uint8)
for _id, _train in ID_TO_TRAIN_ID.items():
    _LUT[_id] = _train

_IMG_SUFFIX = "_leftImg8bit.png"
_GT_SUFFIX = "_gtFine_labelIds.png"
LAYOUT = ("expected the Cityscapes layout: DIR/leftImg8bit/{split}/{city}/*_leftImg8bit.png and "
          "DIR/gtFine/{split}/{city}/*_gtFine_labelIds.png")


def to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map Cityscapes label ids (any integer array) to train ids 0..18, 255 for ignored."""
    return _LUT[np.asarray(label_ids).astype(np.uint8)]


def pairs(root, split: str) -> list[tuple[Path, Path]]:
    """``(image, labelIds)`` paths of one split, sorted by city and name.

    Raises
    ------
    DataError
        Naming the missing folder, or the first image without its ``_gtFine_labelIds.png``.
    """
    if split not in SPLITS:
        raise ValidationError(f"unknown Cityscapes split {split!r}: expected one of {list(SPLITS)}")
    root = require_dir(root, "Cityscapes")
    img_dir, gt_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    missing = [str(d.relative_to(root)) + "/" for d in (img_dir, gt_dir) if not d.is_dir()]
    if missing:
        raise DataError(f"Cityscapes folder {str(root)!r} lacks {', '.join(missing)}; {LAYOUT}")
    out, lone = [], []
    for city in sorted(p for p in img_dir.iterdir() if p.is_dir()):
        for img in pngs(city, _IMG_SUFFIX):
            gt = gt_dir / city.name / (img.name[: -len(_IMG_SUFFIX)] + _GT_SUFFIX)
            (out if gt.is_file() else lone).append((img, gt))
    if lone:
        raise DataError(f"{len(lone)} Cityscapes image(s) without annotation, first: {str(lone[0][1])!r} "
                        f"is missing; {LAYOUT}")
    if not out:
        raise DataError(f"no *{_IMG_SUFFIX} images under {str(img_dir)!r}; {LAYOUT}")
    return out


def check_layout(root, splits=SPLITS) -> dict[str, int]:
    """Validate the layout of the given splits and return the number of image/annotation pairs of each."""
    return {split: len(pairs(root, split)) for split in splits}


def load_split(root, split: str, *, n: int | None = None, height: int | None = None,
               width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load one split, preprocessed as in the paper: resized (default 1024 × 512), ``x / 127.5 - 1``.

    Returns
    -------
    images : np.ndarray
        float32 in [-1, 1], ``n × H × W × 3``.
    labels : np.ndarray
        uint8 train ids, ``n × H × W``, 0..18 or :data:`IGNORE`.
    """
    from itnet_neuro.utils import progress

    items = pairs(root, split)
    if n is not None:
        items = items[: int(n)]
    size = (int(height) if height is not None else SIZE[0], int(width) if width is not None else SIZE[1])
    images = np.empty((len(items),) + size + (3,), np.float32)
    labels = np.empty((len(items),) + size, np.uint8)
    for i, (img_path, gt_path) in enumerate(progress(items, desc=f"Cityscapes {split}", unit="img")):
        images[i] = read_rgb(img_path, size) * np.float32(1 / 127.5) - np.float32(1.0)
        labels[i] = to_train_ids(read_ids(gt_path, size))
    return images, labels
