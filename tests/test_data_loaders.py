"""CamVid (SegNet layout) and Cityscapes loaders on small fixture folders made here, and load_dataset."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from itnet_neuro.data import camvid, cityscapes, load_dataset, parse_spec
from itnet_neuro.errors import DataError, ValidationError

H, W = 12, 16


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def make_camvid(root, counts=(3, 2, 1), size=(H, W)):
    rng = np.random.default_rng(0)
    for split, n in zip(camvid.SPLITS, counts):
        for i in range(n):
            img = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            lbl = rng.integers(0, 12, size, dtype=np.uint8)
            _png(root / split / f"{split}_{i}.png", img)
            _png(root / f"{split}annot" / f"{split}_{i}.png", lbl)
    return root


def make_cityscapes(root, counts=(2, 1, 1), size=(H, W)):
    rng = np.random.default_rng(1)
    for split, n in zip(cityscapes.SPLITS, counts):
        for i in range(n):
            city = "aachen" if i % 2 == 0 else "bremen"
            stem = f"{city}_{i:06d}_000019"
            _png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
                 rng.integers(0, 256, size + (3,), dtype=np.uint8))
            _png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
                 rng.integers(0, 34, size, dtype=np.uint8))
    return root


# -- CamVid ----------------------------------------------------------------------------------------

def test_camvid_load_matches_files(tmp_path):
    root = make_camvid(tmp_path / "CamVid")
    assert camvid.check_layout(root) == {"train": 3, "val": 2, "test": 1}
    images, labels = camvid.load_split(root, "train")
    assert images.shape == (3, H, W, 3) and images.dtype == np.float32
    assert labels.shape == (3, H, W) and labels.dtype == np.uint8
    raw = np.asarray(Image.open(root / "train" / "train_1.png"))
    np.testing.assert_allclose(images[1], raw / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels[1], np.asarray(Image.open(root / "trainannot" / "train_1.png")))
    assert labels.max() <= camvid.VOID


def test_camvid_resize_and_n(tmp_path):
    root = make_camvid(tmp_path / "c")
    images, labels = camvid.load_split(root, "train", n=2, height=6, width=8)
    assert images.shape == (2, 6, 8, 3) and labels.shape == (2, 6, 8)
    # nearest-neighbour resizing keeps label ids valid
    assert set(np.unique(labels)) <= set(range(12))
    images, _ = camvid.load_split(root, "val", height=24)   # width follows the aspect ratio
    assert images.shape == (2, 24, 32, 3)


def test_camvid_ids_above_void_become_void(tmp_path):
    root = make_camvid(tmp_path / "c", counts=(1, 1, 1))
    _png(root / "trainannot" / "train_0.png", np.full((H, W), 200, np.uint8))
    _, labels = camvid.load_split(root, "train")
    assert (labels == camvid.VOID).all()


def test_camvid_missing_folders_named(tmp_path):
    root = make_camvid(tmp_path / "c")
    (root / "valannot" / "val_0.png").unlink()
    (root / "valannot" / "val_1.png").unlink()
    (root / "valannot").rmdir()
    with pytest.raises(DataError, match=r"lacks valannot/.*SegNet CamVid layout"):
        camvid.check_layout(root)
    # other splits still load
    assert camvid.load_split(root, "train")[0].shape[0] == 3
    with pytest.raises(DataError, match="does not exist"):
        camvid.check_layout(tmp_path / "nowhere")


def test_camvid_unpaired_files_named(tmp_path):
    root = make_camvid(tmp_path / "c")
    (root / "trainannot" / "train_2.png").unlink()
    with pytest.raises(DataError, match=r"train_2\.png"):
        camvid.load_split(root, "train")


def test_camvid_colour_annotation_refused(tmp_path):
    root = make_camvid(tmp_path / "c", counts=(1, 1, 1))
    _png(root / "trainannot" / "train_0.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataError, match="single-channel"):
        camvid.load_split(root, "train")


# -- Cityscapes -------------------------------------------------------------------------------------

def test_cityscapes_train_id_table():
    table = cityscapes.ID_TO_TRAIN_ID
    assert sorted(table) == list(range(34))
    train_ids = sorted(v for v in table.values() if v != 255)
    assert train_ids == list(range(19))
    assert table[7] == 0 and table[26] == 13 and table[33] == 18 and table[0] == 255 and table[9] == 255
    assert len(cityscapes.CLASSES) == cityscapes.NUM_CLASSES == 19
    np.testing.assert_array_equal(cityscapes.to_train_ids(np.array([7, 8, 24, 1, 200])), [0, 1, 11, 255, 255])


def test_cityscapes_load(tmp_path):
    root = make_cityscapes(tmp_path / "cs")
    assert cityscapes.check_layout(root) == {"train": 2, "val": 1, "test": 1}
    images, labels = cityscapes.load_split(root, "train", height=H, width=W)
    assert images.shape == (2, H, W, 3) and images.dtype == np.float32
    assert -1.0 <= images.min() and images.max() <= 1.0
    pairs = cityscapes.pairs(root, "train")
    raw_img = np.asarray(Image.open(pairs[0][0]))
    np.testing.assert_allclose(images[0], raw_img / 127.5 - 1.0, atol=1e-5)
    raw_ids = np.asarray(Image.open(pairs[0][1]))
    np.testing.assert_array_equal(labels[0], cityscapes.to_train_ids(raw_ids))
    assert set(np.unique(labels)) <= set(range(19)) | {255}


def test_cityscapes_default_size_is_paper_size(tmp_path):
    root = make_cityscapes(tmp_path / "cs", counts=(1, 1, 1))
    images, labels = cityscapes.load_split(root, "val")
    assert images.shape == (1, 512, 1024, 3) and labels.shape == (1, 512, 1024)


def test_cityscapes_errors_name_what_is_missing(tmp_path):
    root = make_cityscapes(tmp_path / "cs")
    shutil.rmtree(root / "gtFine" / "train")
    with pytest.raises(DataError, match=r"gtFine/train/.*_gtFine_labelIds\.png"):
        cityscapes.check_layout(root)
    root2 = make_cityscapes(tmp_path / "cs2")
    victim = cityscapes.pairs(root2, "val")[0][1]
    victim.unlink()
    with pytest.raises(DataError, match=victim.name):
        cityscapes.load_split(root2, "val")


# -- load_dataset ---------------------------------------------------------------------------------

def test_load_dataset_specs(tmp_path):
    images, labels, names, void = load_dataset("synthetic", "train", n=2, height=16, width=24)
    assert images.shape == (2, 16, 24, 3) and void == 11 and len(names) == 11
    root = make_camvid(tmp_path / "cv")
    images, labels, names, void = load_dataset(f"camvid:{root}", "val")
    assert images.shape == (2, H, W, 3) and void == 11 and names[0] == "sky"
    root = make_cityscapes(tmp_path / "cs")
    images, labels, names, void = load_dataset(f"cityscapes:{root}", "train", height=8, width=16)
    assert images.shape == (2, 8, 16, 3) and void == 255 and len(names) == 19


def test_parse_spec_errors():
    assert parse_spec("camvid:/a:b") == ("camvid", "/a:b")
    with pytest.raises(ValidationError, match="synthetic"):
        parse_spec("kitti:/data")
    with pytest.raises(ValidationError, match="camvid:DIR"):
        parse_spec("camvid")
    with pytest.raises(DataError):
        load_dataset("camvid:/no/such/dir", "train")


def test_importing_data_does_not_import_tensorflow():
    code = ("import sys, itnet_neuro.data, itnet_neuro.data.camvid, itnet_neuro.data.cityscapes, "
            "itnet_neuro.data.pipeline, itnet_neuro.data.preview; print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
