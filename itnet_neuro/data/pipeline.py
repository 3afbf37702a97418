"""The ``tf.data`` input pipeline: shuffling, joint flips and crops of image and label, batching, prefetch.

TensorFlow is imported inside :func:`make_tf_dataset` only (DESIGN.md §3: importing the package stays
light).
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.data.synthetic import VOID
from itnet_neuro.errors import ValidationError


def make_tf_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, *, shuffle: bool = False,
                    augment: bool = False, crop: tuple[int, int] | None = None, seed: int = 0,
                    void_label: int = VOID, drop_remainder: bool = False):
    """A batched, prefetched ``tf.data.Dataset`` of ``(image, label)`` pairs.

    Parameters
    ----------
    images : np.ndarray
        float32, ``N × H × W × C`` (already preprocessed, e.g. /255).
    labels : np.ndarray
        integer, ``N × H × W``; the label dtype is kept.
    batch_size : int
    shuffle : bool
        Reshuffle every epoch (seeded by ``seed``).
    augment : bool
        Random horizontal flips, and random crops if ``crop`` is given (paper §2.4). Image and label
        always get the same flip and the same crop window. Deterministic for a given ``seed``.
    crop : (height, width), optional
        Crop size. Random windows when ``augment``, the central window otherwise. Images smaller than
        the crop are padded (image with 0, label with ``void_label``).
    seed : int
    void_label : int
        Label of padded pixels.
    drop_remainder : bool
        Drop the last incomplete batch.

    Returns
    -------
    tf.data.Dataset
        Elements ``(images float32 B × h × w × C, labels B × h × w)``.
    """
    from itnet_neuro.utils import import_tf

    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or labels.ndim != 3 or images.shape[:3] != labels.shape:
        raise ValidationError(f"make_tf_dataset: expected images N×H×W×C and labels N×H×W of the same N, H, W; "
                              f"got {images.shape} and {labels.shape}")
    if int(batch_size) < 1:
        raise ValidationError(f"make_tf_dataset: batch_size must be >= 1, got {batch_size}")
    if crop is not None:
        crop = (int(crop[0]), int(crop[1]))
        if min(crop) < 1:
            raise ValidationError(f"make_tf_dataset: crop must be positive (height, width), got {crop}")
    tf = import_tf()
    n, H, W, C = images.shape
    label_dtype = tf.as_dtype(labels.dtype)

    ds = tf.data.Dataset.from_tensor_slices((images.astype(np.float32, copy=False), labels))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    def prepare(pair, rnd):
        image, label = pair
        joint = tf.concat([image, tf.cast(label, tf.float32)[..., None]], axis=-1)   # H × W × (C+1)
        if crop is not None:
            ch, cw = crop
            if ch > H or cw > W:   # pad the label with void, the image with zeros
                ph, pw = max(ch, H), max(cw, W)
                joint = joint - tf.constant([0.0] * C + [float(void_label)])
                joint = tf.image.pad_to_bounding_box(joint, (ph - H) // 2, (pw - W) // 2, ph, pw)
                joint = joint + tf.constant([0.0] * C + [float(void_label)])
            if augment:
                joint = tf.image.stateless_random_crop(joint, (ch, cw, C + 1), seed=rnd[0:2])
            else:
                hh, ww = tf.shape(joint)[0], tf.shape(joint)[1]
                joint = joint[(hh - ch) // 2:(hh - ch) // 2 + ch, (ww - cw) // 2:(ww - cw) // 2 + cw]
        if augment:
            joint = tf.image.stateless_random_flip_left_right(joint, seed=rnd[2:4])
        out_image = joint[..., :C]
        out_label = tf.cast(tf.round(joint[..., C]), label_dtype)
        return out_image, out_label

    if augment or crop is not None:
        # One pair of stateless seeds per element: the same seed gives the same augmentations.
        randoms = tf.data.Dataset.random(seed=seed).batch(4)
        ds = tf.data.Dataset.zip((ds, randoms)).map(
            lambda pair, rnd: prepare(pair, tf.reshape(rnd, [4])), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True)
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
