"""``train --distribute``: the ``tf.distribute`` strategy a training run is built and fitted under.

- ``mirrored``: :class:`tf.distribute.MirroredStrategy`, one replica per GPU; on a machine without GPUs
  the CPU is split into ``replicas`` logical devices (how the data-parallel path is exercised and tested
  here: the arithmetic is the same, the speed is not).
- ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`; every worker runs the same
  command with its own ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"type": "worker",
  "index": i}}``). Worker 0 (the chief) writes the model and checkpoint to ``--output``; the others
  write theirs to a temporary folder, as every worker must take part in saving.

Data: Keras distributes the training ``tf.data`` pipeline itself — each global batch is split into one
shard per replica (``global batch / replicas`` images each), and across workers the dataset is sharded
by element (``AutoShardPolicy.DATA``: the arrays are in memory, there are no files to shard). The
gradient is the sum of the replicas' shares of the global-batch loss, so it is the one-device gradient.
BatchNorm statistics would be per replica; :func:`sync_batch_norm` makes them global-batch statistics,
so that a run on R replicas follows the one-device run. The checkpoint holds plain variables and
restores on one device (:func:`restore_checkpoint`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from itnet_neuro.errors import ConfigError

STRATEGIES = ("none", "mirrored", "multiworker")


def split_cpu(replicas: int):
    """Split the first CPU into ``replicas`` logical devices (before TensorFlow initializes); their names."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:  # TensorFlow already initialized: usable only if it was split the same way
        pass
    names = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(names) < replicas:
        raise ConfigError(f"--replicas {replicas}: TensorFlow was initialized with {len(names)} CPU device(s) before "
                          "the split; start a new process (the split must come first)")
    return names[:replicas]


def make_strategy(kind: str, replicas: int | None = None):
    """The strategy for ``--distribute KIND`` (None for ``none``: the default strategy)."""
    from itnet_neuro.utils import import_tf

    if kind not in STRATEGIES:
        raise ConfigError(f"--distribute {kind!r}: valid: {', '.join(STRATEGIES)}")
    if replicas is not None and replicas < 1:
        raise ConfigError(f"--replicas {replicas}: must be >= 1")
    if kind == "none":
        return None
    tf = import_tf()
    if kind == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("--distribute multiworker needs TF_CONFIG on every worker, e.g. "
                              "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                              "\"task\": {\"type\": \"worker\", \"index\": 0}}'")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        n = len(gpus) if replicas is None else replicas
        if n > len(gpus):
            raise ConfigError(f"--replicas {n}: this machine has {len(gpus)} GPU(s)")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(n)])
    devices = split_cpu(replicas or 2)
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def is_replicated(strategy) -> bool:
    """Whether ``strategy`` mirrors variables over replicas (mirrored or multi-worker)."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    return strategy is not None and isinstance(strategy, (tf.distribute.MirroredStrategy,
                                                          tf.distribute.MultiWorkerMirroredStrategy))


def sync_batch_norm(model, strategy) -> int:
    """Under a replicated ``strategy``, make every BatchNormalization layer of ``model`` use the global
    batch's statistics (Keras' ``synchronized``; the unfused kernel). Returns how many layers changed."""
    if not is_replicated(strategy):
        return 0
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    n = 0
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.synchronized, layer.fused = True, False
            n += 1
    return n


def data_options(dataset):
    """``dataset`` sharded by element across workers (in-memory arrays have no files to shard)."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(opts)


def task_index() -> int:
    """This worker's index in ``TF_CONFIG`` (0 without one)."""
    try:
        return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))
    except (ValueError, AttributeError):
        raise ConfigError("TF_CONFIG is not valid JSON with task.index") from None


def worker_output(output, strategy) -> Path:
    """Where this worker writes the model: ``output`` on the chief, a temporary folder elsewhere."""
    output = Path(output)
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    if strategy is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or task_index() == 0:
        return output
    return Path(tempfile.mkdtemp(prefix=f"itnet-worker{task_index()}-")) / output.name


def restore_checkpoint(config, ckpt_dir):
    """The model of a training checkpoint (``<output>.ckpt/``), restored on the default (one-device) strategy."""
    from itnet_neuro.model.build import build_itnet
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    model = build_itnet(config)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    if latest is None:
        raise ConfigError(f"{ckpt_dir}: no checkpoint to restore")
    tf.train.Checkpoint(model=model, epoch=epoch).restore(latest).expect_partial().assert_existing_objects_matched()
    return model, int(epoch.numpy())


__all__ = ["STRATEGIES", "data_options", "is_replicated", "make_strategy", "restore_checkpoint", "split_cpu",
           "sync_batch_norm", "task_index", "worker_output"]
