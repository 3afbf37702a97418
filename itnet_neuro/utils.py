"""Small shared helpers: logging, progress bars, atomic file output, lazy TensorFlow import."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

logger = logging.getLogger("itnet_neuro")


def setup_logging(verbosity: int = 0) -> None:
    """Configure the ``itnet_neuro`` logger for the CLI (0: warnings+info lines, 1: debug)."""
    level = logging.DEBUG if verbosity > 0 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("itnet_neuro")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it", disable: bool | None = None, leave: bool = False):
    """A tqdm progress bar on stderr; silent when stderr is not a terminal unless forced.

    Set ``ITNET_NEURO_PROGRESS=1`` to force bars (e.g. in logs), ``=0`` to silence them.
    """
    import warnings

    from tqdm import TqdmExperimentalWarning

    with warnings.catch_warnings():  # what tqdm.auto does, without its asyncio support (importing asyncio)
        warnings.simplefilter("ignore", TqdmExperimentalWarning)
        from tqdm.autonotebook import tqdm

    if disable is None:
        env = os.environ.get("ITNET_NEURO_PROGRESS")
        disable = (env == "0") if env is not None else not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave,
                file=sys.stderr, dynamic_ncols=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    A crash or an error leaves any existing ``path`` untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; the finished file gets the permissions a plain open() would give it.
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask)
        _test_write_delay()
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _test_write_delay() -> None:
    """Sleep ``ITNET_NEURO_TEST_WRITE_DELAY`` seconds between writing a temporary file and renaming it.

    Only for tests: it holds a process in the window where an interruption could leave a partial file,
    so that ``tests/test_interrupt.py`` can signal it there (issue 14 §3). Unset, it costs nothing.
    """
    delay = os.environ.get("ITNET_NEURO_TEST_WRITE_DELAY")
    if delay:
        import time

        time.sleep(float(delay))


def write_json(path: str | os.PathLike, obj, *, indent: int = 2) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent, default=json_default)
            f.write("\n")
    return Path(path)


def json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def import_tf():
    """Import TensorFlow quietly (its C++ banner is noise for CLI users) and return the module.

    TensorFlow 2.12 requires jax, and ``tf.lite`` imports it at start-up only to offer converting jax
    functions, which we never do: 1.0–1.4 s of a 4–7 s import on 2 cores (``python -X importtime``,
    issue 14). Unless something already imported jax, it is hidden during the import (``tf.lite``
    catches the ImportError) and importable as usual afterwards.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    hide = "tensorflow" not in sys.modules and "jax" not in sys.modules
    if hide:
        sys.modules["jax"] = None  # makes `import jax` raise ImportError
    try:
        import tensorflow as tf
    finally:
        if hide and "jax" in sys.modules and sys.modules["jax"] is None:
            del sys.modules["jax"]

    tf.get_logger().setLevel("ERROR")
    return tf


def process_age() -> float | None:
    """Wall seconds since the kernel started this process (interpreter start-up and imports included), or
    None where that is unknown (not Linux).

    Linux: ``/proc/self/stat``'s start time (clock ticks after boot, 10 ms resolution, taken when the
    process was forked: for a command started from a shell or ``subprocess`` that is its ``exec``)
    against ``CLOCK_BOOTTIME``, the clock it counts on. Simulators record it as
    ``info["first_tick_after_s"]`` when their first tick starts (issue 17).
    """
    import time

    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 on
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        return max(time.clock_gettime(time.CLOCK_BOOTTIME) - start, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):  # no procfs, no CLOCK_BOOTTIME
        return None


def use_agg_backend() -> None:
    """Select matplotlib's non-interactive backend (no display here or in CI)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
