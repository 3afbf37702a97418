r"""Train an ItNet with the paper's joint multi-output loss (§2.2), resumable, strategy-agnostic.

Loss: :math:`\mathcal{L} = \sum_n \bar a_n c_n`, c_n the softmax cross-entropy of output n averaged
over the non-void pixels of each image, ā_n the normalized loss weights of ``ItNetConfig`` (outputs
without a loss are left out of ``compile``). Optimizer: Adam (β1 = 0.9, β2 = 0.999, lr 1e-3), the
learning rate multiplied by 0.1 after 70 % and again after 85 % of the epochs. Augmentation: random
horizontal flips and (optionally) random crops, as in §2.4.

Every epoch ends with

1. the per-output validation mIoU (numpy confusion matrices, void ignored), logged;
2. a TensorFlow checkpoint (model + optimizer + epoch) in ``<output>.ckpt/`` and a ``state.json``
   beside it, both replaced atomically; an interrupted run given the same output resumes after the
   last finished epoch;
3. the current model written to ``<output>`` atomically (``save_itnet``: config attribute included).

Built and compiled under ``tf.distribute.get_strategy()`` (or the strategy given), so a
``MirroredStrategy`` scope works unchanged on several GPUs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from itnet_neuro.errors import ConfigError, DataError
from itnet_neuro.model.config import ItNetConfig

logger = logging.getLogger("itnet_neuro.train")

#: Epoch fractions after which the learning rate is multiplied by 0.1 (§2.2).
LR_DROPS = (0.70, 0.85)


@dataclass(frozen=True)
class TrainOptions:
    """Training settings that are not part of the network (the network is ``ItNetConfig``).

    Attributes
    ----------
    epochs : int
    batch_size : int
        Global batch size (paper: 8).
    learning_rate : float
        Initial Adam learning rate (paper: 1e-3).
    crop : (int, int) or None
        Random crop (height, width) for training, multiples of 8; None trains on full images. The
        saved model always has the full input size (same weights, convs are size-agnostic).
    augment : bool
        Random horizontal flips and random crop windows (with ``crop``); without it crops are central.
    seed : int
        Seed of shuffling and augmentation.
    void_label : int
        Label ignored in loss and mIoU.
    resume : bool
        Continue from ``<output>.ckpt`` when it belongs to the same config and options.
    """

    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    crop: tuple[int, int] | None = None
    augment: bool = True
    seed: int = 0
    void_label: int = 11
    resume: bool = True

    def __post_init__(self):
        if self.crop is not None:
            object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"TrainOptions.epochs={self.epochs!r}: must be an integer >= 1")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"TrainOptions.batch_size={self.batch_size!r}: must be an integer >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"TrainOptions.learning_rate={self.learning_rate!r}: must be > 0")


@dataclass
class TrainResult:
    """What :func:`train_itnet` returns."""

    model: Any
    config: ItNetConfig
    output: Path
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def val_miou_per_output(self) -> list[float]:
        return list(self.history[-1]["val_miou"]) if self.history else []


def lr_at_epoch(epoch: int, epochs: int, base: float = 1e-3) -> float:
    """Learning rate of 0-based ``epoch``: ``base``, ×0.1 from epoch round(0.7·E), ×0.01 from round(0.85·E).

    E = ``epochs``; a single-epoch run keeps ``base``. E = 20: epochs 0–13 at 1e-3, 14–16 at 1e-4, 17–19 at 1e-5.
    """
    lr = base
    for frac in LR_DROPS:
        if epoch >= int(round(frac * epochs)) and epochs > 1:
            lr *= 0.1
    return lr


def masked_sparse_ce(num_classes: int):
    """Softmax cross-entropy on logits, averaged over each image's labelled pixels.

    Labels outside [0, ``num_classes``) — the void label — get weight 0. Returns one value per image
    (shape (batch,)), so Keras' batch averaging and ``tf.distribute`` scaling apply unchanged.
    """
    from itnet_neuro.utils import import_tf

    tf = import_tf()

    def loss(y_true, y_pred):
        y = tf.cast(y_true, tf.int32)
        if y.shape.rank == 4:
            y = y[..., 0]
        valid = tf.logical_and(y >= 0, y < num_classes)
        ce = tf.keras.losses.sparse_categorical_crossentropy(tf.where(valid, y, 0), y_pred, from_logits=True)
        m = tf.cast(valid, ce.dtype)
        return tf.reduce_sum(ce * m, axis=[1, 2]) / tf.maximum(tf.reduce_sum(m, axis=[1, 2]), 1.0)

    loss.__name__ = "masked_sparse_ce"
    return loss


def compile_itnet(model, config: ItNetConfig, learning_rate: float = 1e-3) -> None:
    """Compile ``model`` with the joint loss Σ ā_n c_n over the loss outputs and Adam (§2.2)."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    weights = config.normalized_loss_weights()
    names = model.output_names
    loss_fn = masked_sparse_ce(config.num_classes)
    losses = {names[n - 1]: loss_fn for n in config.loss_output_indices()}
    loss_weights = {names[n - 1]: weights[n - 1] for n in config.loss_output_indices()}
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999),
                  loss=losses, loss_weights=loss_weights)


def evaluate_miou(model, images: np.ndarray, labels: np.ndarray, num_classes: int, void_label: int,
                  batch_size: int = 8) -> tuple[list[float], list[np.ndarray]]:
    """Per-output mIoU (and IoU per class) of ``model`` on ``images`` / ``labels``, batch by batch."""
    from itnet_neuro.metrics import confusion_matrix, miou

    confs = None
    for i in range(0, len(images), batch_size):
        outs = model.predict_on_batch(images[i:i + batch_size])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if confs is None:
            confs = [np.zeros((num_classes, num_classes), np.int64) for _ in outs]
        for k, o in enumerate(outs):
            confs[k] += confusion_matrix(labels[i:i + batch_size], np.asarray(o).argmax(-1), num_classes,
                                         void_label)
    res = [miou(c) for c in confs or []]
    return [r[0] for r in res], [r[1] for r in res]


def load_data(spec: str, config: ItNetConfig, *, n_train: int | None = None, n_val: int | None = None,
              seed: int = 0):
    """``((train_images, train_labels), (val_images, val_labels), void_label)`` at the config's size.

    ``spec``: ``synthetic`` (the package's procedural scenes), ``camvid:DIR`` or ``cityscapes:DIR``
    (local folders, see ``itnet-neuro data``); read with :func:`itnet_neuro.data.load_dataset`.
    """
    from itnet_neuro.data import load_dataset

    H, W = config.input_height, config.input_width
    xt, yt, classes, void = load_dataset(spec, "train", height=H, width=W, n=n_train, seed=seed)
    xv, yv, _, _ = load_dataset(spec, "val", height=H, width=W, n=n_val, seed=seed)
    if len(classes) != config.num_classes:
        raise ConfigError(f"ItNetConfig.num_classes={config.num_classes}: dataset {spec!r} has {len(classes)} "
                          f"classes; use num_classes={len(classes)}")
    if yt is None or np.ndim(yt) != 3:
        raise ConfigError(f"dataset {spec!r}: an ItNet trains on class maps (N × H × W labels 'y')")
    if xt.shape[3] != config.input_channels:
        raise ConfigError(f"dataset {spec!r} has {xt.shape[3]} input channels; use --set input_channels={xt.shape[3]}")
    # uint8 pixels (npz) train as [0, 1], the scale `convert` assumes by default (--input-scale 1/255)
    xt, xv = ((a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a) for a in (xt, xv))
    return (xt, yt), (xv, yv), int(255 if void is None else void)


def _make_dataset(images, labels, batch_size, *, shuffle, augment, crop, seed, void_label, out_names):
    """The training ``tf.data`` pipeline, labels repeated for every loss output (a dict by output name)."""
    from itnet_neuro.data.pipeline import make_tf_dataset

    ds = make_tf_dataset(images, labels, batch_size, shuffle=shuffle, augment=augment, crop=crop, seed=seed,
                         void_label=void_label)
    return ds.map(lambda x, y: (x, {name: y for name in out_names}))


def _state_key(config: ItNetConfig, options: TrainOptions, data: str) -> dict[str, Any]:
    opts = asdict(options)
    opts.pop("resume")
    return {"config": config.to_dict(), "options": opts, "data": data}


def train_itnet(config: ItNetConfig, train_data, val_data, output: str | os.PathLike,
                options: TrainOptions = TrainOptions(), *, data_name: str = "arrays", strategy=None,
                verbose: int | None = None, callbacks=()) -> TrainResult:
    """Train the ItNet of ``config`` and save it to ``output`` (Keras HDF5 with the config attribute).

    Parameters
    ----------
    train_data, val_data : (images, labels)
        float32 images in [0, 1] (n, H, W, 3) and uint8 labels (n, H, W); ``options.void_label`` is
        ignored. ``val_data`` may be None (no mIoU then).
    output : path
        The model file; ``<output>.ckpt/`` holds the resumable checkpoint.
    strategy : tf.distribute.Strategy, optional
        Defaults to ``tf.distribute.get_strategy()`` (the one whose scope is active, else the default).
    verbose : int, optional
        Keras progress: 1 a progress bar, 2 one line per epoch; default 1 on a terminal, else 2.
    callbacks : sequence of keras callbacks
        Run after the built-in ones (which save the epoch's checkpoint first).
    """
    from itnet_neuro.model.build import build_itnet
    from itnet_neuro.model.distribute import data_options, sync_batch_norm
    from itnet_neuro.model.io import save_itnet
    from itnet_neuro.utils import import_tf, write_json

    tf = import_tf()
    output = Path(output)
    ckpt_dir = output.with_name(output.name + ".ckpt")
    strategy = strategy or tf.distribute.get_strategy()
    x_tr, y_tr = train_data
    if x_tr.shape[1:3] != (config.input_height, config.input_width):
        raise DataError(f"training images are {x_tr.shape[1]}×{x_tr.shape[2]}, the config wants "
                        f"{config.input_height}×{config.input_width}; load the data at the model's size")
    train_config = config
    if options.crop is not None and tuple(options.crop) != (config.input_height, config.input_width):
        ch, cw = options.crop
        if ch > config.input_height or cw > config.input_width:
            raise ConfigError(f"TrainOptions.crop={options.crop}: larger than the input "
                              f"{config.input_height}×{config.input_width}")
        train_config = config.replace(input_height=ch, input_width=cw)  # same weights, smaller input

    with strategy.scope():
        model = build_itnet(train_config)
        sync_batch_norm(model, strategy)  # replicas: global-batch BatchNorm statistics (model/distribute.py)
        compile_itnet(model, config, options.learning_rate)
        full = model if train_config is config else build_itnet(config)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, str(ckpt_dir), max_to_keep=1)

    state_path = ckpt_dir / "state.json"
    key = _state_key(config, options, data_name)
    history: list[dict[str, Any]] = []
    start = 0
    if options.resume and state_path.is_file() and manager.latest_checkpoint:
        try:
            state = json.loads(state_path.read_text())
        except ValueError:
            state = {}
        if isinstance(state, dict) and state.get("key") == key:
            ckpt.restore(manager.latest_checkpoint)
            # the checkpoint carries its own epoch: an interruption between saving it and writing
            # state.json leaves state.json one epoch behind, and that epoch must not be trained twice
            start = int(epoch_var.numpy())
            history = list(state.get("history", []))[:start]
            logger.info("resuming %s after epoch %d of %d", output, start, options.epochs)
        else:
            logger.info("%s belongs to another config/options; starting afresh", ckpt_dir)

    out_names = model.output_names
    ds = _make_dataset(x_tr, y_tr, options.batch_size, shuffle=True, augment=options.augment,
                       crop=options.crop, seed=options.seed, void_label=options.void_label, out_names=out_names)
    ds = data_options(ds)  # sharded by element across workers; Keras splits each batch over replicas
    if verbose is None:
        verbose = 1 if sys.stderr.isatty() else 2

    class EpochEnd(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            t0 = time.time()
            entry = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", float("nan"))),
                     "lr": float(tf.keras.backend.get_value(model.optimizer.learning_rate))}
            if full is not model:
                full.set_weights(model.get_weights())
            if val_data is not None:
                m, _ = evaluate_miou(full, val_data[0], val_data[1], config.num_classes, options.void_label,
                                     options.batch_size)
                entry["val_miou"] = [round(float(v), 5) for v in m]
                logger.info("epoch %d/%d  loss %.4f  val mIoU per output: %s", epoch + 1, options.epochs,
                            entry["loss"], " ".join(f"{v:.3f}" for v in m))
            entry["eval_seconds"] = round(time.time() - t0, 2)
            history.append(entry)
            epoch_var.assign(epoch + 1)
            # checkpoint, then the state that points to it, then the model: an interruption anywhere
            # leaves a checkpoint to resume from and the previous complete model (files are atomic)
            manager.save(checkpoint_number=epoch + 1)
            write_json(state_path, {"key": key, "epoch": epoch + 1, "history": history})
            save_itnet(full, config, output)

    if start < options.epochs:
        sched = tf.keras.callbacks.LearningRateScheduler(
            lambda e: lr_at_epoch(e, options.epochs, options.learning_rate))
        model.fit(ds, epochs=options.epochs, initial_epoch=start, callbacks=[sched, EpochEnd(), *callbacks], verbose=verbose)
    else:  # every epoch was trained, but the run that trained the last may have been stopped saving it
        if full is not model:
            full.set_weights(model.get_weights())
        save_itnet(full, config, output)
    return TrainResult(model=full, config=config, output=output, history=history)


__all__ = ["TrainOptions", "TrainResult", "train_itnet", "compile_itnet", "masked_sparse_ce", "lr_at_epoch",
           "evaluate_miou", "load_data", "LR_DROPS"]
