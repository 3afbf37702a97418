"""`itnet-neuro convert` and `itnet-neuro export` end to end on a tiny ItNet file."""

import pytest

from itnet_neuro.cli import main

itnet = pytest.importorskip("itnet_neuro.model")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "tiny.h5"
    cfg = itnet.get_preset("tiny")
    itnet.save_itnet(itnet.build_itnet(cfg), cfg, path)
    return path


def test_convert_verify_and_export(tiny_file, tmp_path, capsys):
    out = tmp_path / "tiny.snn.h5"
    rc = main(["convert", str(tiny_file), "-o", str(out), "--n-calibration", "2", "--verify"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "iterative block" in text and "signed pairs" in text and "verification PASSED" in text
    assert out.is_file()
    nir_path = tmp_path / "tiny.nir"
    assert main(["export", str(out), "--format", "nir", "-o", str(nir_path)]) == 0
    assert nir_path.is_file()
    pytest.importorskip("nengo")
    assert main(["export", str(out), "--format", "nengo"]) == 0
    assert "ensembles" in capsys.readouterr().out


def test_convert_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope.h5")]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and len(err.strip().splitlines()) == 1
