"""Training: LR schedule, masked joint loss, compile weights, a smoke run with checkpoint and resume."""

import json

import numpy as np
import pytest

from itnet_neuro.errors import ConfigError
from itnet_neuro.model import get_preset
from itnet_neuro.train import TrainOptions, lr_at_epoch

TINY = get_preset("tiny")


def test_lr_drops_at_70_and_85_percent():
    lrs = [lr_at_epoch(e, 20, 1e-3) for e in range(20)]
    assert lrs[:14] == [1e-3] * 14
    assert lrs[14:17] == pytest.approx([1e-4] * 3)
    assert lrs[17:] == pytest.approx([1e-5] * 3)
    assert lr_at_epoch(0, 1) == 1e-3


def test_train_options_validation():
    with pytest.raises(ConfigError, match="epochs"):
        TrainOptions(epochs=0)
    assert TrainOptions(crop=[8, 16]).crop == (8, 16)


@pytest.fixture(scope="module")
def tf():
    from itnet_neuro.utils import import_tf

    return import_tf()


def test_masked_loss_ignores_void_and_averages_labelled_pixels(tf):
    from itnet_neuro.train import masked_sparse_ce

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, (2, 3, 4)).astype(np.uint8)
    labels[0, 0, :] = 5  # void (= C)
    labels[1] = 5  # an all-void image contributes 0
    loss = np.asarray(masked_sparse_ce(5)(tf.constant(labels), tf.constant(logits)))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = labels[0] < 5
    ce = -np.take_along_axis(logp[0], np.minimum(labels[0], 4)[..., None].astype(int), -1)[..., 0]
    assert loss[0] == pytest.approx(ce[valid].mean(), rel=1e-5)
    assert loss[1] == 0.0


def test_compile_uses_normalized_weights_of_the_loss_outputs(tf):
    from itnet_neuro.model import build_itnet
    from itnet_neuro.train import compile_itnet

    cfg = TINY.replace(loss_weights=(1, 1, 1, 2), loss_outputs=(1, 2, 4))
    model = build_itnet(cfg)
    compile_itnet(model, cfg)
    assert set(model.compiled_loss._losses) == {"cls_n1_up", "cls_n2_up", "cls_n4_up"}
    assert model.compiled_loss._loss_weights == pytest.approx(
        {"cls_n1_up": 0.25, "cls_n2_up": 0.25, "cls_n4_up": 0.5})
    assert model.optimizer.beta_1 == 0.9 and model.optimizer.beta_2 == 0.999


def _tiny_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 48, 64, 3), dtype=np.float32)
    y = rng.integers(0, 12, (n, 48, 64)).astype(np.uint8)  # 11 = void
    return x, y


@pytest.mark.slow
def test_one_epoch_smoke_run_writes_model_checkpoint_and_miou(tf, tmp_path):
    from itnet_neuro.model import load_itnet, read_config
    from itnet_neuro.train import train_itnet

    cfg = TINY.replace(iterations=2)
    x, y = _tiny_data(4)
    out = tmp_path / "m.h5"
    res = train_itnet(cfg, (x, y), (x[:2], y[:2]), out, TrainOptions(epochs=1, batch_size=4), verbose=0,
                      strategy=tf.distribute.get_strategy())
    assert out.is_file() and read_config(out) == cfg
    assert len(res.val_miou_per_output) == cfg.iterations
    assert all(0 <= v <= 1 for v in res.val_miou_per_output)
    state = json.loads((tmp_path / "m.h5.ckpt" / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    model, _ = load_itnet(out)
    assert len(model.outputs) == cfg.iterations


@pytest.mark.slow
def test_interrupted_training_resumes_after_the_last_epoch(tf, tmp_path):
    from itnet_neuro.train import train_itnet

    x, y = _tiny_data()
    out = tmp_path / "m.h5"
    opts = TrainOptions(epochs=3, batch_size=4, crop=(40, 56))

    class Interrupt(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_itnet(TINY, (x, y), (x[:4], y[:4]), out, opts, verbose=0, callbacks=[Interrupt()])
    assert json.loads((tmp_path / "m.h5.ckpt" / "state.json").read_text())["epoch"] == 2
    res = train_itnet(TINY, (x, y), (x[:4], y[:4]), out, opts, verbose=0)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    # schedule continues across the restart: epoch 3 of 3 is past round(0.7·3) = 2, not round(0.85·3) = 3
    assert [h["lr"] for h in res.history] == pytest.approx([1e-3, 1e-3, 1e-4])


@pytest.mark.slow
def test_training_under_a_mirrored_strategy_on_cpu(tf, tmp_path):
    from itnet_neuro.train import train_itnet

    x, y = _tiny_data()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    res = train_itnet(TINY, (x, y), None, tmp_path / "m.h5", TrainOptions(epochs=1, batch_size=4),
                      strategy=strategy, verbose=0)
    assert res.history[0]["epoch"] == 1 and np.isfinite(res.history[0]["loss"])


@pytest.mark.slow
def test_train_cli_on_synthetic_data(tmp_path, capsys):
    from itnet_neuro.cli import main

    out = tmp_path / "cli.h5"
    rc = main(["train", "--preset", "tiny", "--data", "synthetic", "--epochs", "1", "--n-train", "8",
               "--n-val", "4", "--batch-size", "4", "--set", "iterations=2", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "val mIoU per output" in capsys.readouterr().out
    assert main(["footprint", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["macs_per_output"]) == 2


def test_cli_config_resolution_presets_json_and_overrides(tmp_path):
    from itnet_neuro.cli.train import resolve_config

    assert resolve_config(None, None, []) == get_preset("small")
    cfg = resolve_config("tiny", None, ["width=12", "shared=false", "activation=clip_floor_shift"])
    assert (cfg.width, cfg.shared, cfg.activation) == (12, False, "clip_floor_shift")
    (tmp_path / "c.json").write_text(TINY.replace(iterations=3).to_json())
    assert resolve_config(None, str(tmp_path / "c.json"), []).iterations == 3
    assert resolve_config(None, TINY.to_json(), []) == TINY
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        resolve_config("tiny", None, ["width"])
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_config("tiny", None, ["colour=3"])
    with pytest.raises(ConfigError, match="neither"):
        resolve_config(None, str(tmp_path / "missing.json"), [])
