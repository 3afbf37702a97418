"""`itnet-neuro chips`: the table, one chip in full with sources, and errors as one line."""

from __future__ import annotations

import json

from hardware_models import PACKAGED_CHIPS_DIR, list_chips
from itnet_neuro.cli import main


def test_chips_table_lists_every_packaged_chip(capsys):
    assert main(["chips"]) == 0
    out = capsys.readouterr().out
    for name in list_chips():
        assert name in out
    for header in ("cores/chip", "neurons/core", "axons/core", "weights", "tick", "looped"):
        assert header in out
    truenorth = next(line for line in out.splitlines() if line.startswith("truenorth"))
    assert "4096" in truenorth and "256" in truenorth and "9b 4 types" in truenorth
    assert truenorth.split()[-1] == "no"  # looped schedule not allowed


def test_chips_detail_shows_sources_and_uncertain_marks(capsys):
    assert main(["chips", "loihi"]) == 0
    out = capsys.readouterr().out
    assert "max_neurons = 1024 neurons" in out
    assert "nengo-loihi" in out
    assert "[UNCERTAIN]" in out  # e.g. timing.tick_seconds


def test_chips_user_toml_and_json(tmp_path, capsys):
    p = tmp_path / "mine.toml"
    p.write_text((PACKAGED_CHIPS_DIR / "truenorth.toml").read_text())
    assert main(["chips", str(p), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["core"]["max_neurons"] == 256
    assert data["sources"]["core.max_neurons"]["source"].startswith("Merolla")


def test_chips_errors_are_one_line_exit_1(tmp_path, capsys):
    assert main(["chips", "no-such-chip"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown chip 'no-such-chip'" in err and "truenorth" in err
    bad = tmp_path / "bad.toml"
    bad.write_text((PACKAGED_CHIPS_DIR / "truenorth.toml").read_text().replace("max_axons = 256", "max_axons = 0", 1))
    assert main(["chips", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "itnet-neuro chips: error: bad.toml: core.max_axons: must be > 0, got 0"
