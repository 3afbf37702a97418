"""What a sweep is: the grid of points (chip × schedule × phase length) and the settings they share.

A sweep comes from the command line (``--chips``, ``--schedules``, ``--phase-ticks``) or from a sweep
file (TOML or JSON) with the same keys, for sweeps too large to type::

    model = "model.h5"            # optional; default: the shipped ItNet
    chips = ["ideal", "loihi", "my_chip.toml"]
    schedules = ["looped", "unrolled"]
    phase_ticks = [16, 32, "auto"]
    images = 4
    [allocate_only]               # chips (or "chip|schedule") allocated but not simulated, with the reason
    truenorth = "per-core axon-type fitting takes ~20 min on this model"
    "spinnaker|unrolled" = "too slow for this sweep"

A point's phase length ``T`` is the looped schedule's ticks per phase (N phases run, output n after n
phases). An unrolled point runs the same budget, ``N × T`` ticks, so the two schedules compare at equal
time; ``auto`` measures ``T`` (:mod:`itnet_neuro.sim.phase`) for looped points, and makes an unrolled
point run ``unrolled_ticks`` ticks (default 256).

Every point has a key (``chip|schedule|phase``) that the results file is indexed by (resume).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from itnet_neuro.errors import ValidationError

SCHEDULES = ("looped", "unrolled")
#: Ticks an unrolled point with ``phase_ticks = "auto"`` runs (no phase to measure there).
DEFAULT_UNROLLED_TICKS = 256


@dataclass(frozen=True)
class Point:
    """One point of the sweep: a chip (packaged name or TOML path), a schedule, a phase length."""

    chip: str
    schedule: str
    phase_ticks: int | str  # ticks per phase, or "auto"

    @property
    def key(self) -> str:
        return f"{self.chip}|{self.schedule}|{self.phase_ticks}"


@dataclass(frozen=True)
class Sweep:
    """The settings every point shares, and the grid."""

    chips: tuple
    schedules: tuple = SCHEDULES
    phase_ticks: tuple = (32,)
    model: str | None = None  # Keras .h5 / .snn.h5; None: the shipped ItNet
    images: int = 4
    data: str = "synthetic"
    calibration: str = "synthetic"
    state_buffer: str = "regenerate"
    decoder: str | None = None
    seed: int = 0
    chip_seed: int = 0
    unrolled_ticks: int = DEFAULT_UNROLLED_TICKS
    allocate_only: dict = field(default_factory=dict)  # chip -> reason

    def points(self) -> list[Point]:
        """The grid, chips outermost, in the order given."""
        return [Point(c, s, p) for c in self.chips for s in self.schedules for p in self.phase_ticks]

    def settings(self) -> dict:
        """What the results depend on besides the point (stamped on the results file; resume checks it)."""
        d = asdict(self)
        for k in ("chips", "schedules", "phase_ticks", "allocate_only"):
            d.pop(k)
        return d


def parse_phase(value, where: str) -> int | str:
    """A phase length: an integer >= 1 or ``"auto"``."""
    if value == "auto":
        return "auto"
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValidationError(f"{where}: a phase length is an integer >= 1 or 'auto', got {value!r}")
    return int(text)


def check_chip(chip: str, where: str) -> str:
    """A packaged chip name or an existing TOML path; else a one-line error naming the valid names."""
    from hardware_models import list_chips

    if chip in list_chips() or Path(chip).is_file():
        return chip
    raise ValidationError(f"{where}: unknown chip {chip!r}; valid names: {', '.join(list_chips())}, or a .toml path")


def make_sweep(chips, schedules, phase_ticks, where: str = "command line", **settings) -> Sweep:
    """A validated :class:`Sweep` (bad values raise :class:`ValidationError` saying where)."""
    chips = tuple(check_chip(str(c).strip(), where) for c in chips)
    if not chips:
        raise ValidationError(f"{where}: no chips to sweep; give at least one (see `itnet-neuro chips`)")
    bad = [s for s in schedules if s not in SCHEDULES]
    if bad or not schedules:
        raise ValidationError(f"{where}: schedules must be among {', '.join(SCHEDULES)}, got {list(schedules)}")
    phases = tuple(parse_phase(p, where) for p in phase_ticks)
    if not phases:
        raise ValidationError(f"{where}: no phase lengths; give e.g. 16,32 or auto")
    only = dict(settings.pop("allocate_only", None) or {})
    for c in only:  # a chip, or chip|schedule
        chip, _, schedule = c.partition("|")
        if chip not in chips or schedule not in ("", *SCHEDULES):
            raise ValidationError(f"{where}: allocate_only names {c!r}; give a swept chip ({', '.join(chips)}) or "
                                  f"CHIP|SCHEDULE")
    for k in ("images", "unrolled_ticks"):
        if k in settings and (not isinstance(settings[k], int) or settings[k] < 1):
            raise ValidationError(f"{where}: {k} must be an integer >= 1, got {settings[k]!r}")
    try:
        return Sweep(chips=chips, schedules=tuple(schedules), phase_ticks=phases, allocate_only=only, **settings)
    except TypeError as exc:
        raise ValidationError(f"{where}: {exc}") from None


_FILE_KEYS = {"chips", "schedules", "phase_ticks", "model", "images", "data", "calibration", "state_buffer",
              "decoder", "seed", "chip_seed", "unrolled_ticks", "allocate_only"}


def read_sweep_file(path) -> dict:
    """The keys of a TOML or JSON sweep file (module docstring), checked for unknown ones."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read the sweep file ({exc.strerror})") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import tomllib

            data = tomllib.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{path}: not a valid {'JSON' if path.suffix == '.json' else 'TOML'} sweep file "
                              f"({exc})") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: a sweep file holds a table of keys ({', '.join(sorted(_FILE_KEYS))})")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ValidationError(f"{path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_FILE_KEYS))}")
    return data


def file_hash(path, extra: str = "") -> str:
    """SHA-256 (hex, 16 digits) of a file's bytes and ``extra``: the cache keys of networks and chips."""
    h = hashlib.sha256(Path(path).read_bytes())
    h.update(extra.encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def code_hash(*dirs: str) -> str:
    """SHA-256 (hex, 16 digits) of every ``.py`` file under ``dirs`` (paths and bytes, sorted): part of the
    cache keys, so that a new version of the converter or the allocator never reuses an old result."""
    h = hashlib.sha256()
    for d in dirs:
        for f in sorted(Path(d).rglob("*.py")):
            h.update(str(f.relative_to(d)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def package_dirs(*packages: str) -> tuple[str, ...]:
    """The source folders of importable ``packages`` (e.g. ``"mapping"``), for :func:`code_hash`."""
    import importlib.util

    return tuple(str(Path(importlib.util.find_spec(p).origin).parent) for p in packages)


def chip_file(chip: str) -> Path:
    """The TOML file of a packaged chip name or a path."""
    from hardware_models import PACKAGED_CHIPS_DIR, list_chips

    return PACKAGED_CHIPS_DIR / f"{chip}.toml" if chip in list_chips() else Path(chip)


__all__ = ["DEFAULT_UNROLLED_TICKS", "Point", "SCHEDULES", "Sweep", "chip_file", "code_hash", "file_hash", "package_dirs", "make_sweep",
           "parse_phase", "read_sweep_file"]
