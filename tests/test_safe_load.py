"""Safe loading: a model file is inspected with h5py before Keras can run anything stored in it."""

import numpy as np
import pytest

from itnet_neuro.convert import check_model_file, convert_model
from itnet_neuro.convert.safe_load import read_model_config, safe_load_model
from itnet_neuro.errors import ModelFileError, UnsupportedLayerError
from itnet_neuro.utils import import_tf

tf = import_tf()


def _malicious_model(marker):
    """A model whose Lambda, when Keras deserializes and calls it, writes ``marker``."""
    src = f"def evil(x):\n    import pathlib\n    pathlib.Path({str(marker)!r}).write_text('pwned')\n    return x\n"
    scope: dict = {}
    exec(src, scope)  # noqa: S102 - builds the attack payload for the test
    inp = tf.keras.Input((8, 8, 3))
    h = tf.keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    h = tf.keras.layers.Lambda(scope["evil"], name="evil_lambda")(h)
    h = tf.keras.layers.LeakyReLU(name="leaky")(h)
    return tf.keras.Model(inp, h)


@pytest.fixture
def malicious_file(tmp_path):
    marker = tmp_path / "marker.txt"
    model = _malicious_model(marker)
    marker.unlink(missing_ok=True)  # building the model called the Lambda once
    path = tmp_path / "evil.h5"
    model.save(str(path), save_format="h5")
    assert not marker.exists()
    return path, marker


def test_lambda_is_refused_and_never_runs(malicious_file):
    path, marker = malicious_file
    with pytest.raises(UnsupportedLayerError) as err:
        convert_model(path)
    msg = str(err.value)
    # every unsupported layer is listed at once, with name, type and what to do instead
    assert "'evil_lambda' (Lambda)" in msg and "bytecode" in msg
    assert "'leaky' (LeakyReLU)" in msg and "ReLU" in msg
    assert "\n" not in msg
    assert not marker.exists()
    with pytest.raises(UnsupportedLayerError):
        safe_load_model(path)
    assert not marker.exists()


def test_the_payload_is_real(malicious_file):
    """Plain Keras loading of the same file does execute the Lambda: the refusal above matters."""
    path, marker = malicious_file
    tf.keras.models.load_model(str(path), compile=False)
    assert marker.exists()


def test_unknown_custom_class_is_refused(tmp_path):
    import h5py

    path = tmp_path / "custom.h5"
    inp = tf.keras.Input((4, 4, 1))
    tf.keras.Model(inp, tf.keras.layers.ReLU(name="r")(inp)).save(str(path), save_format="h5")
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"class_name": "ReLU"',
                                                                  '"class_name": "my_pkg>Backdoor"')
    with pytest.raises(UnsupportedLayerError, match=r"'r' \(my_pkg>Backdoor\)"):
        check_model_file(path)


def test_missing_and_non_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        read_model_config(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ModelFileError, match="not an HDF5"):
        read_model_config(bad)


def test_supported_model_loads(tmp_path):
    inp = tf.keras.Input((8, 8, 3))
    out = tf.keras.layers.Conv2D(2, 1, activation="relu")(inp)
    path = tmp_path / "ok.h5"
    tf.keras.Model(inp, out).save(str(path), save_format="h5")
    model = safe_load_model(path)
    assert model.output_shape == (None, 8, 8, 2)
    np.testing.assert_equal(len(check_model_file(path)["config"]["layers"]), 2)
