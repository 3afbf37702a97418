"""Reading HDF5 files from strangers: walk the whole file in a child process before we touch it.

Models (``.h5``) and spiking networks (``.snn.h5``) come from other people. h5py parses them with
libhdf5, a C library that is not hardened against malformed files: a flipped byte can make it read
out of bounds and kill the process (SIGSEGV), and a few bytes can declare a dataset of terabytes that
``ds[()]`` would try to allocate. So before a file is read in-process, :func:`check_hdf5` walks it
in a fresh Python process (numpy and h5py only) under an address-space limit. The child:

* follows only hard links: soft and external links, external storage and virtual datasets are
  refused (they would make us read other files);
* reads every attribute after checking its declared size (at most :data:`MAX_ATTR_BYTES`);
* checks every dataset's dtype (numbers only), its filters (gzip, lzf, shuffle, fletcher32: no
  plugins), its declared size against what the file stores (at most :data:`MAX_RATIO` times, deflate's
  best case is 1032:1) and the file's total against ``max_bytes``, then reads it and refuses NaN or
  infinite values;
* exits 0, or 1 with one line saying what is wrong.

If libhdf5 crashes on the file, the child dies, not us, and the caller gets one line naming the
signal. libhdf5 is deterministic, so the in-process read that follows repeats reads that the child
survived. The file must not change in between (we do not defend against someone who can rewrite the
user's files while they run). See ``SECURITY.md``.

A file that passed is remembered by the SHA-256 of its bytes, the limit, this checker's source and the
h5py/libhdf5 versions (an empty file named by that digest in ``$ITNET_NEURO_CACHE/checked-hdf5``, else
``~/.cache/itnet-neuro/checked-hdf5``): the same bytes are walked once, not by every command (the
child cost 0.3 s of CPU, a third of a short ``simulate``'s time to its first tick; issue 17). A file
that failed is never remembered.

This file is also the child's script: it imports only the standard library at the top.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

#: Default limit on the total declared size of a file's datasets, bytes (``ITNET_NEURO_MAX_FILE_BYTES``).
DEFAULT_MAX_BYTES = 512 << 20
#: Largest attribute read, bytes (a Keras ``model_config`` of a paper-size ItNet is ~0.3 MB).
MAX_ATTR_BYTES = 64 << 20
#: Largest ratio of a dataset's declared to stored bytes (deflate cannot exceed 1032:1).
MAX_RATIO = 1100
#: Slack for tiny datasets whose storage is rounded (bytes).
RATIO_SLACK = 1 << 16
#: Most objects (groups, datasets) one file may hold.
MAX_OBJECTS = 1_000_000
#: Filters a dataset may use (anything else would load a plugin).
ALLOWED_FILTERS = frozenset({"gzip", "lzf", "shuffle", "fletcher32"})
#: Seconds the child may take: a base plus the time to read the file at a slow 10 MB/s. Crafted files
#: can send libhdf5 into an endless loop (found by fuzzing), so there must be a bound.
TIMEOUT_BASE_S = 30
READ_BYTES_PER_S = 10e6

_CHECKED: dict[tuple, None] = {}


def max_bytes_limit() -> int:
    """The dataset-size limit in force: ``ITNET_NEURO_MAX_FILE_BYTES`` or :data:`DEFAULT_MAX_BYTES`."""
    raw = os.environ.get("ITNET_NEURO_MAX_FILE_BYTES")
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        from itnet_neuro.errors import ValidationError

        raise ValidationError(f"ITNET_NEURO_MAX_FILE_BYTES={raw!r}: must be a positive number of bytes")
    return value


def check_hdf5(path: str | os.PathLike, error: type[Exception], *, max_bytes: int | None = None) -> None:
    """Walk the HDF5 file ``path`` in a child process; raise ``error`` with one line if it is unsafe.

    Parameters
    ----------
    path : path
        An existing file.
    error : exception class
        Raised as ``error("<path>: <problem>")`` (e.g. :class:`~itnet_neuro.errors.SchemaError`).
    max_bytes : int, optional
        Limit on the total declared size of the datasets; default :func:`max_bytes_limit`.
    """
    path = Path(path)
    limit = max_bytes_limit() if max_bytes is None else int(max_bytes)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, limit)
    if key in _CHECKED:
        return
    passed = _passed_marker(path, limit)
    if passed is not None and passed.exists():
        _CHECKED[key] = None
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HDF5_PLUGIN", "PYTHON"))}
    timeout = TIMEOUT_BASE_S + st.st_size / READ_BYTES_PER_S
    try:
        r = subprocess.run([sys.executable, "-I", __file__, str(path), str(limit)], capture_output=True,
                           text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise error(f"{path}: reading it took longer than {timeout:.0f} s (the HDF5 library looped?); "
                    "the file is corrupt or crafted") from None
    if r.returncode == 0:
        _CHECKED[key] = None
        _remember(passed)
        return
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    if r.returncode == 1 and lines:
        raise error(f"{path}: {lines[-1]}")
    if r.returncode < 0:
        name = signal.Signals(-r.returncode).name
        raise error(f"{path}: the HDF5 library crashed reading it ({name}); the file is corrupt or crafted")
    raise error(f"{path}: could not be checked (exit {r.returncode}: {r.stderr.strip()[-300:]})")


def _passed_marker(path: Path, limit: int) -> Path | None:
    """Where a pass of these bytes under ``limit`` by this checker is remembered (module docstring); None
    where the file cannot be read here (the child then says why)."""
    import hashlib

    import h5py

    h = hashlib.sha256()
    h.update(f"{limit}\0{h5py.version.version}\0{h5py.version.hdf5_version}\0".encode())
    h.update(Path(__file__).read_bytes())
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    root = os.environ.get("ITNET_NEURO_CACHE") or Path.home() / ".cache" / "itnet-neuro"
    return Path(root) / "checked-hdf5" / h.hexdigest()


def _remember(marker: Path | None) -> None:
    """Create ``marker``; a cache that cannot be written only means the next command checks again."""
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------------
# the child


def _attr_problem(obj, name: str) -> str | None:
    aid = obj.attrs.get_id(name)
    n = 1
    for d in aid.shape or ():
        n *= int(d)
    size = n * max(aid.dtype.itemsize, 1)
    if size > MAX_ATTR_BYTES:
        return f"attribute {name!r} of {obj.name} declares {size} bytes (limit {MAX_ATTR_BYTES})"
    value = obj.attrs[name]
    if getattr(value, "dtype", None) is not None and value.dtype.kind == "O":
        total = sum(len(v) for v in value.ravel() if isinstance(v, (str, bytes)))
        if total > MAX_ATTR_BYTES:
            return f"attribute {name!r} of {obj.name} holds {total} bytes (limit {MAX_ATTR_BYTES})"
    return None


def _dataset_problem(ds, budget: list[int]) -> str | None:
    import numpy as np

    if ds.is_virtual or ds.external:
        return f"dataset {ds.name} reads other files (virtual or external storage); refused"
    if ds.dtype.kind not in "fiub" or ds.dtype.names is not None:
        return f"dataset {ds.name} has dtype {ds.dtype}; only numbers are read"
    filters = set(ds._filters)
    if not filters <= ALLOWED_FILTERS:
        return f"dataset {ds.name} uses filters {sorted(filters - ALLOWED_FILTERS)}; only {sorted(ALLOWED_FILTERS)}"
    declared = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize if ds.shape is not None else 0
    budget[0] -= declared
    if budget[0] < 0:
        return (f"dataset {ds.name} {ds.shape} brings the file's declared data past the limit of {budget[1]} "
                "bytes (set ITNET_NEURO_MAX_FILE_BYTES to raise it for a file you trust)")
    stored = ds.id.get_storage_size()
    if declared > MAX_RATIO * stored + RATIO_SLACK:
        return (f"dataset {ds.name} declares {declared} bytes but stores {stored}: more than {MAX_RATIO}× "
                "(a compression bomb, or no data written)")
    data = ds[()]
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        return f"dataset {ds.name} contains NaN or infinite values"
    return None


def walk(path: str, max_bytes: int) -> str | None:
    """Read every object of ``path``; the first problem as one line, or None."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        return f"not an HDF5 file ({exc})"
    budget = [max_bytes, max_bytes]
    seen: set = set()
    with f:
        stack = [f]
        while stack:
            g = stack.pop()
            for name in g.attrs:
                problem = _attr_problem(g, name)
                if problem:
                    return problem
            if isinstance(g, h5py.Dataset):
                problem = _dataset_problem(g, budget)
                if problem:
                    return problem
                continue
            for name in g:
                link = g.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    return f"{g.name.rstrip('/')}/{name} is a {type(link).__name__}; only hard links are read"
                obj = g[name]
                key = h5py.h5o.get_info(obj.id).addr  # hard links to one object are walked once
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) > MAX_OBJECTS:
                    return f"more than {MAX_OBJECTS} objects"
                stack.append(obj)
    return None


def _child(argv: list[str]) -> int:
    import resource

    path, max_bytes = argv[0], int(argv[1])
    cap = 2 * max_bytes + (2 << 30)  # the data twice (read + isfinite) and the interpreter
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        problem = walk(path, max_bytes)
    except MemoryError:
        problem = f"reading it needs more than {cap} bytes of memory"
    except Exception as exc:  # noqa: BLE001 - in this throw-away process anything raised means "malformed"
        problem = f"malformed HDF5 ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
    if problem:
        print(" ".join(problem.split()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
