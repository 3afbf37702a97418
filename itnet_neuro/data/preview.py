"""A picture of the synthetic dataset: a grid of images over their colour-coded label maps.

``itnet-neuro data preview`` writes ``docs/synthetic_examples.png`` with :func:`make_preview`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.data.synthetic import CLASS_COLORS, CLASSES, VOID, generate


def class_frequencies(labels: np.ndarray) -> dict[str, float]:
    """Fraction of pixels of every class and of void (keys: class names and ``"void"``)."""
    counts = np.bincount(np.asarray(labels).ravel(), minlength=VOID + 1)[: VOID + 1]
    total = max(int(counts.sum()), 1)
    return {name: float(c) / total for name, c in zip(CLASSES + ("void",), counts)}


def make_preview(path="docs/synthetic_examples.png", *, n: int = 8, cols: int = 4, height: int = 192,
                 width: int = 256, seed: int = 0) -> Path:
    """Render ``n`` scenes and save a PNG grid: each row of images above the row of their label maps.

    The legend names every class with its colour; void is black.
    """
    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    images, labels = generate(n, height, width, seed=seed)
    rows = -(-n // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(3.2 * cols, 2 * rows * 3.2 * height / width + 0.9),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, cols)
        axes[2 * r, c].imshow(images[i], interpolation="nearest")
        axes[2 * r + 1, c].imshow(CLASS_COLORS[labels[i]], interpolation="nearest")
    handles = [Patch(facecolor=CLASS_COLORS[k] / 255.0, edgecolor="0.3", label=name)
               for k, name in enumerate(CLASSES + ("void",))]
    fig.legend(handles=handles, loc="lower center", ncol=6, frameon=False, fontsize=9)
    fig.suptitle(f"itnet-neuro synthetic street scenes ({width}×{height}, seed {seed}): images above their labels",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97), h_pad=0.3, w_pad=0.3)
    return save_figure(fig, path, dpi=90)
