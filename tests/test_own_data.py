"""Your own data: npz files, any number of input channels, classifiers, and the input-scale check."""

import json

import numpy as np
import pytest

from itnet_neuro.cli import main
from itnet_neuro.data import load_dataset
from itnet_neuro.data.inputs import model_inputs
from itnet_neuro.errors import DataError


def test_npz_splits_classes_and_channels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (6, 8, 10, 2), dtype=np.uint8), y=np.arange(6) % 3,
             x_test=rng.uniform(0, 1, (4, 8, 10)), y_test=rng.integers(0, 4, (4, 8, 10)))
    x, y, classes, void = load_dataset(f"npz:{tmp_path / 'd.npz'}", "train", height=8, width=10)
    assert x.dtype == np.uint8 and x.shape == (6, 8, 10, 2) and y.shape == (6,) and classes == ("0", "1", "2")
    x, y, classes, void = load_dataset(f"npz:{tmp_path / 'd.npz'}", "test", n=3)
    assert x.dtype == np.float32 and x.shape == (3, 8, 10, 1) and y.shape == (3, 8, 10) and void is None
    with pytest.raises(DataError, match="not resized"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}", "train", height=16, width=10)


def test_input_scale_is_checked_never_applied_twice():
    raw = np.full((1, 2, 2, 3), 233, np.uint8)
    np.testing.assert_allclose(model_inputs(raw, 1 / 255, 0.0), 233 / 255, rtol=1e-6)  # uint8: scaled once
    already = raw.astype(np.float32) / 255  # 0.914: model inputs, used as they are (issue 16's 0.0036)
    np.testing.assert_allclose(model_inputs(already, 1 / 255, 0.0), already)
    with pytest.raises(DataError, match=r"\[233, 233\].*\[0, 1\].*uint8"):
        model_inputs(raw.astype(np.float32), 1 / 255, 0.0)  # float pixels in [0, 255]: refused, with the fix
    with pytest.raises(DataError, match=r"\[-4"):
        model_inputs(np.full((1, 2, 2, 3), -4.0), 1 / 127.5, -1.0, recorded_range=(-1, 1))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A 2-channel Keras classifier and an npz of uint8 images with class labels."""
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    kl = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    d = tmp_path_factory.mktemp("clf")
    x = kl.Input((12, 12, 2))
    h = kl.ReLU(6.0)(kl.Conv2D(6, 3, strides=2, padding="same")(x))
    h = kl.Conv2D(8, 3, padding="same", activation="relu")(kl.ZeroPadding2D(0)(h))
    out = kl.Dense(3, activation="softmax")(kl.GlobalAveragePooling2D()(h))
    model = tf.keras.Model(x, out)
    model.save(d / "clf.h5", save_format="h5")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (10, 12, 12, 2), dtype=np.uint8)
    probs = model.predict(images.astype(np.float32) / 255, verbose=0)
    np.savez(d / "data.npz", x=images, y=probs.argmax(1))
    return d


def test_two_channel_classifier_from_npz_end_to_end(classifier, tmp_path, capsys):
    d = classifier
    npz = f"npz:{d / 'data.npz'}"
    assert main(["convert", str(d / "clf.h5"), "-o", str(tmp_path / "clf.snn.h5"), "--calibration", npz,
                 "--verify"]) == 0
    assert main(["allocate", str(d / "clf.h5"), "--chip", "loihi", "--calibration", npz, "-o",
                 str(tmp_path / "a.json"), "--plot", "none"]) == 0
    out = tmp_path / "r.json"
    assert main(["simulate", str(tmp_path / "clf.snn.h5"), "--data", npz, "--images", "10", "--ticks", "128",
                 "-o", str(out)]) == 0
    res = json.loads(out.read_text())
    o = res["outputs"][0]
    assert o["metric"] == "accuracy" and o["ann_miou"] == 1.0  # labels are the ANN's own classes
    assert o["snn_miou"] >= 0.8
    assert "SNN acc" in capsys.readouterr().out


def test_float_pixels_are_refused_by_simulate(classifier, tmp_path, capsys):
    d = classifier
    with np.load(d / "data.npz") as z:
        np.savez(tmp_path / "float.npz", x=z["x"].astype(np.float32), y=z["y"])
    code = main(["simulate", str(d / "clf.h5"), "--calibration", f"npz:{d / 'data.npz'}", "--data",
                 f"npz:{tmp_path / 'float.npz'}", "--images", "2", "--ticks", "8", "-o", str(tmp_path / "r.json")])
    assert code == 1 and "never rescaled silently" in capsys.readouterr().err


def test_run_experiment_scores_an_image_array(classifier):
    from itnet_neuro.convert import convert_model
    from itnet_neuro.sim.experiment import run_experiment

    d = classifier
    with np.load(d / "data.npz") as z:
        x, y = z["x"], z["y"]
    conv = convert_model(d / "clf.h5", calibration=x)
    res = run_experiment(network=conv.network, ann_model=conv.model, data=(x, y), images=10, ticks=96)
    o = res["outputs"][0]
    assert res["data"] == "array" and o["metric"] == "accuracy" and o["ann_miou"] == 1.0 and o["snn_miou"] >= 0.8
