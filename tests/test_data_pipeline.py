"""The tf.data pipeline keeps image and label aligned through flips and crops."""

import numpy as np
import pytest

from itnet_neuro.data import make_tf_dataset
from itnet_neuro.errors import ValidationError

N, H, W = 6, 10, 14


def _coded():
    """Images whose channel 0 encodes the label of each pixel, so alignment can be checked exactly."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, (N, H, W)).astype(np.uint8)
    images = rng.random((N, H, W, 3)).astype(np.float32)
    images[..., 0] = labels / 10.0
    return images, labels


def _collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_batches_and_dtypes():
    images, labels = _coded()
    ds = make_tf_dataset(images, labels, 4)
    batches = [(x.shape, y.shape, y.dtype) for x, y in ds]
    assert [b[0][0] for b in batches] == [4, 2]
    assert batches[0][1] == (4, H, W) and batches[0][2].name == "uint8"
    x, y = _collect(ds)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert len(list(make_tf_dataset(images, labels, 4, drop_remainder=True))) == 1


def test_flips_and_crops_keep_alignment():
    images, labels = _coded()
    ds = make_tf_dataset(images, labels, 3, shuffle=True, augment=True, crop=(6, 9), seed=5)
    x, y = _collect(ds)
    assert x.shape == (N, 6, 9, 3) and y.shape == (N, 6, 9)
    np.testing.assert_array_equal(np.round(x[..., 0] * 10).astype(np.uint8), y)
    # each crop is a window of some original image, possibly mirrored
    for xi in x:
        found = False
        for img in images:
            for cand in (img, img[:, ::-1]):
                for r in range(H - 6 + 1):
                    for c in range(W - 9 + 1):
                        if np.array_equal(cand[r:r + 6, c:c + 9], xi):
                            found = True
        assert found


def test_augmentation_flips_some_and_is_seeded():
    images, labels = _coded()
    a = _collect(make_tf_dataset(images, labels, 6, augment=True, seed=1))[0]
    b = _collect(make_tf_dataset(images, labels, 6, augment=True, seed=1))[0]
    np.testing.assert_array_equal(a, b)
    flipped = [not np.array_equal(a[i], images[i]) for i in range(N)]
    assert all(np.array_equal(a[i], images[i][:, ::-1]) for i in range(N) if flipped[i])
    many = _collect(make_tf_dataset(np.repeat(images, 8, 0), np.repeat(labels, 8, 0), 16, augment=True))[0]
    n_flipped = sum(not np.array_equal(m, images[i // 8]) for i, m in enumerate(many))
    assert 0 < n_flipped < len(many)


def test_centre_crop_without_augment_and_padding_with_void():
    images, labels = _coded()
    x, y = _collect(make_tf_dataset(images, labels, 6, crop=(6, 10)))
    np.testing.assert_array_equal(x, images[:, 2:8, 2:12])
    np.testing.assert_array_equal(y, labels[:, 2:8, 2:12])
    x, y = _collect(make_tf_dataset(images, labels, 6, crop=(12, 14), void_label=11))
    assert x.shape == (N, 12, 14, 3)
    assert (y[:, 0] == 11).all() and (y[:, -1] == 11).all() and (x[:, 0] == 0).all()
    np.testing.assert_array_equal(y[:, 1:-1], labels)


def test_bad_shapes():
    images, labels = _coded()
    with pytest.raises(ValidationError):
        make_tf_dataset(images, labels[:, :5], 2)
    with pytest.raises(ValidationError):
        make_tf_dataset(images, labels, 0)
