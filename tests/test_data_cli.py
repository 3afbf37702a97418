"""`itnet-neuro data` as a user runs it: generate, check, preview; errors are one line, exit 1."""

import subprocess
import sys

import numpy as np
from PIL import Image

from itnet_neuro.cli import main
from itnet_neuro.data import camvid, synthetic


def test_generate_then_check_then_load(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "generate", "-o", str(out), "--n", "4", "--height", "24", "--width", "32",
                 "--seed", "2"]) == 0
    assert camvid.check_layout(out) == {"train": 4, "val": 1, "test": 1}
    assert main(["data", "check", f"camvid:{out}"]) == 0
    assert "train 4, val 1, test 1" in capsys.readouterr().out
    # the folder holds exactly the synthetic split
    images, labels = camvid.load_split(out, "train")
    ref_images, ref_labels = synthetic.load_split("train", n=4, height=24, width=32, seed=2)
    np.testing.assert_allclose(images, ref_images, atol=1e-6)
    np.testing.assert_array_equal(labels, ref_labels)
    assert Image.open(out / "trainannot" / "train_00000.png").mode == "L"


def test_check_missing_folder_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "train").mkdir()
    assert main(["data", "check", f"camvid:{tmp_path}"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trainannot/" in err and "Traceback" not in err


def test_check_unknown_spec_exits_1(capsys):
    assert main(["data", "check", "kitti:/x"]) == 1
    assert "camvid:DIR" in capsys.readouterr().err


def test_usage_errors_exit_2():
    assert main(["data"]) == 2
    assert main(["data", "generate"]) == 2


def test_preview_png(tmp_path):
    png = tmp_path / "prev.png"
    assert main(["data", "preview", "-o", str(png), "--n", "2", "--height", "24", "--width", "32"]) == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 100


def test_subprocess_like_a_user(tmp_path):
    out = tmp_path / "d"
    gen = subprocess.run([sys.executable, "-m", "itnet_neuro", "data", "generate", "-o", str(out), "--n", "2",
                          "--height", "16", "--width", "16"], capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stderr
    chk = subprocess.run([sys.executable, "-m", "itnet_neuro", "data", "check", f"camvid:{out}"],
                         capture_output=True, text=True, timeout=300)
    assert chk.returncode == 0, chk.stderr
    assert "ok" in chk.stdout
    bad = subprocess.run([sys.executable, "-m", "itnet_neuro", "data", "check", f"camvid:{tmp_path / 'none'}"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "does not exist" in bad.stderr
