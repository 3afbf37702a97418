"""Segmentation metrics (numpy only): confusion matrix, IoU per class, mIoU per output.

IoU of class c = TP / (TP + FP + FN) over all pixels whose label is not void (paper §2.3). A class
that appears neither in the labels nor in the predictions has no IoU (NaN in ``per_class``) and is
left out of the mean, so a small validation set that lacks a class is not penalized for it; a class
that is predicted but never labelled has IoU 0 and counts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from itnet_neuro.errors import ValidationError


def confusion_matrix(labels, preds, num_classes: int, void_label: int | None = None) -> np.ndarray:
    """Confusion matrix ``conf[true, pred]`` (int64, C × C) over all non-void pixels.

    Parameters
    ----------
    labels, preds : array_like of int, same shape
        True and predicted class per pixel. Labels equal to ``void_label`` (and any label outside
        [0, C)) are ignored; predictions must lie in [0, C).
    num_classes : int
        C.
    void_label : int or None
        The label to ignore (e.g. 11 for CamVid's void).
    """
    labels = np.asarray(labels)
    preds = np.asarray(preds)
    if labels.shape != preds.shape:
        raise ValidationError(f"confusion_matrix: labels shape {labels.shape} != predictions shape {preds.shape}")
    labels = labels.reshape(-1).astype(np.int64)
    preds = preds.reshape(-1).astype(np.int64)
    keep = (labels >= 0) & (labels < num_classes)
    if void_label is not None:
        keep &= labels != void_label
    labels, preds = labels[keep], preds[keep]
    if preds.size and (preds.min() < 0 or preds.max() >= num_classes):
        raise ValidationError(f"confusion_matrix: predictions outside [0, {num_classes}): "
                              f"min {preds.min()}, max {preds.max()}")
    return np.bincount(labels * num_classes + preds, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def miou(conf) -> tuple[float, np.ndarray]:
    """Mean IoU and IoU per class from a confusion matrix ``conf[true, pred]``.

    Returns
    -------
    mean : float
        Mean over the classes present in labels or predictions (NaN if there are none).
    per_class : np.ndarray of float, shape (C,)
        IoU per class; NaN for classes absent from both labels and predictions.
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    valid = ~np.isnan(per_class)
    mean = float(per_class[valid].mean()) if valid.any() else float("nan")
    return mean, per_class


def predictions(output) -> np.ndarray:
    """Class map from a network output: argmax over the last axis of logits (N, H, W, C)."""
    output = np.asarray(output)
    return output.argmax(-1) if output.ndim == 4 else output


def miou_per_output(model_outputs: Sequence, labels, num_classes: int | None = None,
                    void_label: int | None = None) -> list[float]:
    """mIoU of every network output against the same labels.

    Parameters
    ----------
    model_outputs : sequence of arrays
        One per output: logits (N, H, W, C) or class maps (N, H, W).
    labels : array (N, H, W)
    num_classes : int, optional
        C; taken from the logits' last axis if not given.
    void_label : int, optional
        Ignored label; defaults to C (CamVid's void is 11 with 11 classes).
    """
    if not len(model_outputs):
        return []
    first = np.asarray(model_outputs[0])
    if num_classes is None:
        if first.ndim != 4:
            raise ValidationError("miou_per_output: give num_classes when the outputs are class maps")
        num_classes = first.shape[-1]
    if void_label is None:
        void_label = num_classes
    return [miou(confusion_matrix(labels, predictions(o), num_classes, void_label))[0] for o in model_outputs]


__all__ = ["confusion_matrix", "miou", "miou_per_output", "predictions"]
