"""Datasets: the procedural street scenes, CamVid and Cityscapes loaders, and the tf.data pipeline.

:func:`load_dataset` is the one entry point of the other stages::

    images, labels, class_names, void_label = load_dataset("synthetic", "train")
    images, labels, class_names, void_label = load_dataset("camvid:/data/CamVid", "val")
    images, labels, class_names, void_label = load_dataset("cityscapes:/data/cityscapes", "val")
    images, labels, class_names, void_label = load_dataset("npz:my_data.npz", "test")   # your own arrays

Importing this package never imports TensorFlow; :func:`itnet_neuro.data.pipeline.make_tf_dataset`
does, when called.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.data.synthetic import CLASS_COLORS, CLASSES, NUM_CLASSES, VOID
from itnet_neuro.errors import ValidationError

__all__ = ["CLASSES", "CLASS_COLORS", "NUM_CLASSES", "VOID", "DATASETS", "parse_spec", "load_dataset",
           "make_tf_dataset"]

#: Dataset kinds a spec may name: ``synthetic``, ``camvid:DIR``, ``cityscapes:DIR``, ``npz:FILE``.
DATASETS = ("synthetic", "camvid", "cityscapes", "npz")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"kind:DIR"`` into ``(kind, DIR)``; ``"synthetic"`` has no folder.

    Raises
    ------
    ValidationError
        For an unknown kind (listing the valid ones) or a folder kind without its folder.
    """
    kind, sep, path = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind not in DATASETS:
        raise ValidationError(f"unknown dataset {spec!r}: expected 'synthetic', 'camvid:DIR', 'cityscapes:DIR' or "
                              "'npz:FILE'")
    if kind == "synthetic":
        if path:
            raise ValidationError(f"dataset {spec!r}: 'synthetic' takes no folder")
        return kind, None
    if not path:
        raise ValidationError(f"dataset {spec!r}: give the " + ("file as 'npz:FILE'" if kind == "npz"
                                                               else f"folder as '{kind}:DIR'"))
    return kind, path


def load_dataset(spec: str, split: str, *, height: int | None = None, width: int | None = None,
                 n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int]:
    """Load one split of a dataset, preprocessed as in the paper (§2.4).

    Parameters
    ----------
    spec : str
        ``"synthetic"``, ``"camvid:DIR"`` or ``"cityscapes:DIR"``.
    split : {'train', 'val', 'test'}
    height, width : int, optional
        Image size. Defaults: synthetic 96 × 128; CamVid its native size (480 × 360); Cityscapes
        1024 × 512 (paper).
    n : int, optional
        Number of images (synthetic default 400 / 100 / 100; folders: all).
    seed : int
        Seed of the synthetic scenes (ignored for folders).

    Returns
    -------
    images : np.ndarray
        float32 ``n × H × W × 3``: [0, 1] for synthetic and CamVid (``/255``), [-1, 1] for Cityscapes;
        ``npz:FILE``: its ``x`` as stored (``uint8`` raw pixels or float model inputs, any channels,
        see :mod:`itnet_neuro.data.npz`).
    labels : np.ndarray
        uint8 ``n × H × W``; ``npz``: ``n`` class indices, ``n × H × W`` maps, or None.
    class_names : tuple of str
    void_label : int
        Label of ignored pixels (11 for synthetic and CamVid, 255 for Cityscapes).
    """
    kind, path = parse_spec(spec)
    if kind == "npz":
        from itnet_neuro.data import npz

        images, labels, classes, void = npz.load_split(path, split, n=n, height=height, width=width)
        return images, labels, classes, void
    if kind == "synthetic":
        from itnet_neuro.data import synthetic

        images, labels = synthetic.load_split(split, n=n, height=96 if height is None else height,
                                              width=128 if width is None else width, seed=seed)
        return images, labels, CLASSES, VOID
    if kind == "camvid":
        from itnet_neuro.data import camvid

        images, labels = camvid.load_split(path, split, n=n, height=height, width=width)
        return images, labels, camvid.CLASSES, camvid.VOID
    from itnet_neuro.data import cityscapes

    images, labels = cityscapes.load_split(path, split, n=n, height=height, width=width)
    return images, labels, cityscapes.CLASSES, cityscapes.IGNORE


def make_tf_dataset(*args, **kwargs):
    """See :func:`itnet_neuro.data.pipeline.make_tf_dataset` (TensorFlow loads on the first call)."""
    from itnet_neuro.data.pipeline import make_tf_dataset as impl

    return impl(*args, **kwargs)
