"""The CLI as a user runs it: help, version, exit codes."""

import subprocess
import sys

import pytest

from itnet_neuro import __version__
from itnet_neuro.cli import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    assert main([name, "--help"]) == 0
    assert "usage: itnet-neuro " + name in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    assert main(["no-such-command"]) == 2
    assert main([]) == 2


def test_console_script_in_subprocess():
    proc = subprocess.run([sys.executable, "-m", "itnet_neuro", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "allocate" in proc.stdout


def test_bad_chip_spec_is_one_line_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = not [valid toml\n")
    assert main(["chips", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.toml" in err[0]


def test_broken_pipe_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m itnet_neuro chips | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stderr
