"""mIoU from confusion matrices, checked on hand-computed cases."""

import math

import numpy as np
import pytest

from itnet_neuro.errors import ValidationError
from itnet_neuro.metrics import confusion_matrix, miou, miou_per_output


def test_confusion_matrix_hand_case_with_void():
    labels = np.array([[0, 0, 1], [1, 2, 3]])  # 3 = void
    preds = np.array([[0, 1, 1], [1, 2, 0]])
    conf = confusion_matrix(labels, preds, num_classes=3, void_label=3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]


def test_miou_hand_computed():
    conf = np.array([[1, 1, 0], [0, 2, 0], [0, 0, 1]])
    mean, per_class = miou(conf)
    # class 0: tp 1, fn 1, fp 0 -> 1/2; class 1: tp 2, fp 1 -> 2/3; class 2: 1/1
    assert per_class == pytest.approx([0.5, 2 / 3, 1.0])
    assert mean == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)


def test_absent_classes_are_excluded_but_false_positives_count():
    labels = np.array([0, 0, 1, 1])
    preds = np.array([0, 0, 1, 2])  # class 2 never labelled but predicted once: IoU 0, counts
    mean, per_class = miou(confusion_matrix(labels, preds, 4))
    assert per_class[0] == 1.0 and per_class[1] == 0.5 and per_class[2] == 0.0
    assert math.isnan(per_class[3])  # class 3 absent from labels and predictions
    assert mean == pytest.approx((1 + 0.5 + 0) / 3)


def test_all_void_gives_nan():
    mean, per_class = miou(confusion_matrix(np.full(4, 5), np.zeros(4, int), 5, void_label=5))
    assert math.isnan(mean) and np.isnan(per_class).all()


def test_miou_per_output_from_logits():
    labels = np.array([[[0, 1], [1, 11]]])  # (1, 2, 2), 11 = void with C = 11
    good = np.zeros((1, 2, 2, 11))
    good[0, 0, 0, 0] = good[0, 0, 1, 1] = good[0, 1, 0, 1] = good[0, 1, 1, 5] = 1
    bad = np.zeros((1, 2, 2, 11))
    bad[..., 0] = 1  # everything class 0
    res = miou_per_output([bad, good], labels)
    assert res[1] == 1.0
    assert res[0] == pytest.approx((1 / 3 + 0) / 2)


def test_shape_mismatch_and_bad_predictions_raise():
    with pytest.raises(ValidationError):
        confusion_matrix(np.zeros(3), np.zeros(4), 2)
    with pytest.raises(ValidationError):
        confusion_matrix(np.zeros(3, int), np.array([0, 1, 7]), 2)
