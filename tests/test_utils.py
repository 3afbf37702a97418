"""Atomic output: a failure leaves the old file and no temporary behind; permissions as a plain open()."""

import os
import stat

import pytest

from itnet_neuro.utils import atomic_path, write_json


def test_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", [1])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
