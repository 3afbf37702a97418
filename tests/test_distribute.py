"""``train --distribute`` (issue 18 §3): two replicas on two logical CPU devices against one device.

The reference is the one-device run: with the gradient summed over the replicas' shares of the global
batch and BatchNorm statistics of the global batch, a two-replica run must follow the one-replica loss
curve (fixed seed); the per-replica input shards must be the halves of the one-device batch; and the
two-replica checkpoint must restore on one device (a fresh process, no logical split) to the saved model.
Each run is its own process: the CPU can be split only before TensorFlow starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Relative difference allowed between the one- and two-replica loss of every epoch: the sums run in a
#: different order (float32 all-reduce), nothing else differs.
LOSS_RTOL = 1e-4

TRAIN = r"""
import json, sys
import numpy as np
from itnet_neuro.model.distribute import data_options, split_cpu
split_cpu(2)
import tensorflow as tf
from itnet_neuro.data.pipeline import make_tf_dataset
from itnet_neuro.model.presets import get_preset
from itnet_neuro.train import TrainOptions, train_itnet

tmp = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.random((16, 48, 64, 3), dtype=np.float32)
y = rng.integers(0, 12, (16, 48, 64)).astype(np.uint8)
out = {}
for name, devices in (("one", ["/cpu:0"]), ("two", ["/cpu:0", "/cpu:1"])):
    tf.keras.utils.set_random_seed(0)
    s = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    r = train_itnet(get_preset("tiny"), (x, y), None, f"{tmp}/{name}.h5", TrainOptions(epochs=3, batch_size=8),
                    strategy=s, verbose=0)
    out[name] = [h["loss"] for h in r.history]
    out[name + "_replicas"] = s.num_replicas_in_sync
    if name == "two":  # what each replica receives of the first global batch
        whole = next(iter(make_tf_dataset(x, y, 8)))[0].numpy()
        dist = s.experimental_distribute_dataset(data_options(make_tf_dataset(x, y, 8)))
        parts = [t.numpy() for t in s.experimental_local_results(next(iter(dist))[0])]
        out["shards"] = [p.shape[0] for p in parts]
        out["shards_are_halves"] = bool(np.array_equal(np.concatenate(parts), whole))
print(json.dumps(out))
"""

RESTORE = r"""
import json, sys
import numpy as np
from itnet_neuro.model.distribute import restore_checkpoint
from itnet_neuro.model.io import load_itnet
from itnet_neuro.model.presets import get_preset
import tensorflow as tf

model, epoch = restore_checkpoint(get_preset("tiny"), sys.argv[1] + "/two.h5.ckpt")
saved = load_itnet(sys.argv[1] + "/two.h5")[0]
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), saved.get_weights()))
x = np.random.default_rng(1).random((2, 48, 64, 3), dtype=np.float32)
pred = max(float(np.max(np.abs(a - b))) for a, b in zip(model.predict(x, verbose=0), saved.predict(x, verbose=0)))
print(json.dumps({"epoch": epoch, "weight_diff": diff, "pred_diff": pred,
                  "devices": len(tf.config.list_logical_devices("CPU"))}))
"""


def _python(code: str, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0")
    res = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two trainings and a restore, each in a fresh process: 2-13 min on 2 shared cores
def test_two_replicas_follow_the_one_replica_loss_curve_and_restore_on_one_device(tmp_path):
    got = _python(TRAIN, str(tmp_path))
    print("loss per epoch, one replica:", got["one"], "two replicas:", got["two"])
    assert got["one_replicas"] == 1 and got["two_replicas"] == 2
    assert got["shards"] == [4, 4] and got["shards_are_halves"]  # each replica: its half of the global batch
    one, two = np.array(got["one"]), np.array(got["two"])
    assert len(one) == len(two) == 3 and one[-1] < one[0]  # it trains
    np.testing.assert_allclose(two, one, rtol=LOSS_RTOL)
    back = _python(RESTORE, str(tmp_path))
    assert back["devices"] == 1 and back["epoch"] == 3
    assert back["weight_diff"] == 0.0 and back["pred_diff"] == 0.0


def test_distribute_cli_refuses_multiworker_without_tf_config(capsys, monkeypatch):
    from itnet_neuro.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "--preset", "tiny", "--distribute", "multiworker", "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TF_CONFIG" in err[0]


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow  # two worker processes talking gRPC on localhost: minutes on 2 shared cores
def test_multiworker_training_with_two_local_workers(tmp_path):
    """``train --distribute multiworker``: two real worker processes (TF_CONFIG on localhost ports); the
    chief writes the model and a checkpoint that restores on one device, the other worker writes nothing
    beside it."""
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", ITNET_NEURO_PROGRESS="0",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "itnet_neuro", "train", "--preset", "tiny", "--distribute", "multiworker",
             "--epochs", "2", "--n-train", "8", "--n-val", "2", "--batch-size", "4", "-o", str(tmp_path / "m.h5")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=1800) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.h5", "m.h5.ckpt"]
    state = json.loads((tmp_path / "m.h5.ckpt" / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2] and all(np.isfinite(h["loss"]) for h in state["history"])
    back = _python(RESTORE.replace('"/two.h5', '"/m.h5'), str(tmp_path))
    assert back["devices"] == 1 and back["epoch"] == 2 and back["weight_diff"] == 0.0
