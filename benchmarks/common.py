"""What every results file of the benchmarks starts with: the command, when, on what, under what load."""

from __future__ import annotations

import os
import platform
import subprocess
import time
import venv as venv_module
from pathlib import Path


def header(command: str) -> dict:
    """``{"command", "started", "machine", "load_average_before"}`` for a results file."""
    return {"command": command, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "load_average_before": list(os.getloadavg())}


def finish(doc: dict, path) -> None:
    """Stamp the load average after the run and write ``doc`` to ``path`` (atomically)."""
    from itnet_neuro.utils import write_json

    doc["load_average_after"] = list(os.getloadavg())
    write_json(path, doc)


def ensure_peer_venv(venv: Path, packages, what: str, *, probe: str, uninstall=()) -> Path:
    """The python of a peer toolchain's own venv at ``venv``, made when missing or broken.

    A peer (sinabs, nengo-loihi, snntoolbox) never goes into the project's venv: it pins its own
    TensorFlow, torch or numpy. The venv counts as present when its python runs ``probe`` (e.g.
    ``"import snntoolbox"``); otherwise it is (re)made with pip from the package index: ``packages``
    installed, then ``uninstall`` removed (sinabs' PyPI ``samna`` shim). Exits with one line naming the
    venv and the fix when pip or the probe fails.
    """
    venv = Path(venv)
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
        return python
    print(f"making the {what} venv in {venv} ({', '.join(packages)}): a few minutes …", flush=True)
    venv_module.EnvBuilder(with_pip=True, clear=True).create(venv)
    steps = [["install", "-q", *packages]] + ([["uninstall", "-q", "-y", *uninstall]] if uninstall else [])
    for step in steps:
        if subprocess.run([str(python), "-m", "pip", *step]).returncode != 0:
            raise SystemExit(f"{venv}: 'pip {' '.join(step)}' failed (its output is above); fix the cause "
                             f"or delete {venv} and run again")
    check = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"{venv}: the new {what} venv fails {probe!r} ({last}); delete it and run again")
    return python
