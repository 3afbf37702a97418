"""What every results file of the benchmarks starts with: the command, when, on what, under what load."""

from __future__ import annotations

import os
import platform
import time


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
