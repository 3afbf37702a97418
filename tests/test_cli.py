"""The CLI as a user runs it: help, version, exit codes."""

import json
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


@pytest.mark.parametrize("module", ["itnet_neuro", "itnet_neuro.cli"])
def test_python_dash_m_runs_the_cli(module):
    """Both module entry points run the same CLI: exit codes and output as from ``main``."""
    ok = subprocess.run([sys.executable, "-m", module, "chips"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "truenorth" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", module, "footprint", "--preset", "nope"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "valid presets" in bad.stderr and "Traceback" not in bad.stderr


def test_footprint_defaults_to_the_shipped_model(capsys):
    assert main(["footprint"]) == 0
    out = capsys.readouterr().out
    assert "itnet_small_shared.h5" in out and "N=6" in out
    assert main(["footprint", "model.h5", "--preset", "paper-camvid-shared"]) == 1
    assert "not both" in capsys.readouterr().err


def test_every_demo_step_is_a_valid_command(tmp_path):
    """The demo's commands parse with the real parser (a renamed flag breaks this, not the demo run)."""
    from itnet_neuro.cli import build_parser
    from itnet_neuro.demo import plan

    parser = build_parser()
    for step in plan(tmp_path, images=2, ticks=32):
        args = parser.parse_args(step.argv)
        assert args.command == step.argv[0]


def test_demo_runs_to_the_end(tmp_path, capsys):
    """`make demo` on fewer images and ticks: every step runs and writes its results and plots.

    About 50 s; kept in the fast suite on purpose, since CI is what keeps `make demo` working."""
    from itnet_neuro.demo import ALLOC_RUN, SIM_CHIPS, run_demo

    assert run_demo(tmp_path / "demo", images=1, ticks=32) == 0
    out = capsys.readouterr().out
    assert "Demo finished" in out
    for chip in SIM_CHIPS:
        assert (tmp_path / "demo" / f"results_{chip}.json").exists()
        assert (tmp_path / "demo" / f"plots_{chip}" / "miou_over_time.png").exists()
    assert (tmp_path / "demo" / f"cores_{ALLOC_RUN}.png").exists()
    assert json.loads((tmp_path / "demo" / f"results_{ALLOC_RUN}.json").read_text())["schedule"] == "looped"
    assert (tmp_path / "demo" / "anytime_by_chip.png").exists()
