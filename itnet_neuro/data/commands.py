"""What ``itnet-neuro data`` does: write the synthetic dataset as a CamVid folder, preview it, check folders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from itnet_neuro.data import synthetic
from itnet_neuro.errors import ValidationError

logger = logging.getLogger("itnet_neuro.data")


def _save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    from itnet_neuro.utils import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def generate_folder(output, *, n: int | None = None, height: int = 96, width: int = 128,
                    seed: int = 0) -> dict[str, int]:
    """Write the synthetic splits in the SegNet CamVid layout; returns the image count per split.

    ``n`` training images (default 400) and ``max(1, n // 4)`` each for val and test (default 100):
    the same images :func:`itnet_neuro.data.synthetic.load_split` gives for these sizes and seed, so
    ``camvid:DIR`` reads back exactly the synthetic dataset. Each file is written atomically.
    """
    from itnet_neuro.utils import progress

    if n is not None and n < 1:
        raise ValidationError(f"data generate: --n must be >= 1, got {n}")
    sizes = dict(synthetic.SPLIT_SIZES) if n is None else {"train": n, "val": max(1, n // 4),
                                                           "test": max(1, n // 4)}
    root = Path(output)
    for split, count in sizes.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        s = synthetic.split_seed(split, seed)
        for i in progress(range(count), desc=f"writing {split}", unit="img"):
            image, label = synthetic.render_scene(height, width, seed=s, index=i)
            name = f"{split}_{i:05d}.png"
            _save_png(image, root / split / name)
            _save_png(label, root / f"{split}annot" / name)
    logger.info("wrote %s in the CamVid SegNet layout: %s (%d×%d, seed %d); read it with camvid:%s",
                root, ", ".join(f"{k} {v}" for k, v in sizes.items()), width, height, seed, root)
    return sizes


def preview(output="docs/synthetic_examples.png", *, n: int = 8, height: int = 192, width: int = 256,
            seed: int = 0) -> Path:
    """Write the preview PNG (:func:`itnet_neuro.data.preview.make_preview`) and log its path."""
    from itnet_neuro.data.preview import make_preview

    path = make_preview(output, n=n, height=height, width=width, seed=seed)
    logger.info("wrote %s (%d synthetic scenes, %d×%d, seed %d)", path, n, width, height, seed)
    return path


def check(spec: str) -> dict[str, int]:
    """Validate a dataset folder (``camvid:DIR``, ``cityscapes:DIR``) and print its split sizes."""
    from itnet_neuro.data import parse_spec

    kind, path = parse_spec(spec)
    if kind == "synthetic":
        counts = dict(synthetic.SPLIT_SIZES)
    elif kind == "camvid":
        from itnet_neuro.data import camvid

        counts = camvid.check_layout(path)
    else:
        from itnet_neuro.data import cityscapes

        counts = cityscapes.check_layout(path)
    print(f"{spec}: ok, " + ", ".join(f"{split} {count}" for split, count in counts.items())
          + f" images ({sum(counts.values())} in all)")
    return counts
