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


def test_import_tf_hides_jax_only_while_importing():
    """import_tf keeps tf.lite from importing jax (issue 14: ~1 s of start-up); jax still imports after."""
    import subprocess
    import sys

    code = ("import sys; from itnet_neuro.utils import import_tf; tf = import_tf(); "
            "assert 'jax' not in sys.modules; import jax; print(int(tf.constant(2).numpy()), jax.__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["2", "jax"], r.stderr[-2000:]
