"""The sweep's results file: append-only JSON lines, one finished point per line, so a killed run
resumes from what it wrote.

Line 1 is a header (``{"explore": 1, "settings": …, "network_hash": …}``); every later line one row
(:func:`itnet_neuro.explore.point.run_point`). A row is appended with a single ``write`` of the whole
line and flushed to disk, so a kill leaves at most a partial last line, which :func:`ResultsLog.open`
drops (rewriting the file atomically) before appending again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from itnet_neuro.errors import ValidationError

VERSION = 1


class ResultsLog:
    """Rows by point key, read from and appended to ``path``."""

    def __init__(self, path: Path, header: dict, rows: dict[str, dict]):
        self.path, self.header, self.rows = path, header, rows

    @classmethod
    def open(cls, path, header: dict, *, fresh: bool = False) -> "ResultsLog":
        """Open ``path`` for appending; resume from its rows when its settings match ``header``'s."""
        path = Path(path)
        header = {"explore": VERSION, **header}
        if fresh or not path.is_file():
            _rewrite(path, [header])
            return cls(path, header, {})
        lines, rows, complete = _read(path)
        if lines and lines[0].get("explore") != VERSION:
            raise ValidationError(f"{path}: not an explore results file of version {VERSION}; move it away or give "
                                  "--fresh")
        old = lines[0] if lines else {}
        for k in ("settings", "network_hash"):
            if old.get(k) != header.get(k):
                raise ValidationError(f"{path}: written by a sweep with other {k} ({old.get(k)!r}, now "
                                      f"{header.get(k)!r}); give --fresh to start over or another --output")
        if not complete:  # a kill mid-line: keep the whole lines only
            _rewrite(path, lines)
        return cls(path, old, rows)

    def done(self, key: str) -> bool:
        """Whether ``key`` finished (ok, infeasible, allocated); errored points run again."""
        row = self.rows.get(key)
        return row is not None and row.get("status") != "error"

    def append(self, row: dict) -> None:
        from itnet_neuro.utils import json_default

        line = (json.dumps(row, default=json_default, allow_nan=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.rows[row["key"]] = row


def _read(path: Path) -> tuple[list[dict], dict[str, dict], bool]:
    """``(whole lines, rows by key (the last of each key), whether the file ended with a whole line)``."""
    text = path.read_text()
    lines, complete = [], True
    for i, raw in enumerate(text.split("\n")):
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except ValueError:
            if text.endswith("\n") or i < text.count("\n"):
                raise ValidationError(f"{path}: line {i + 1} is not JSON; the file was edited? Move it away or give "
                                      "--fresh") from None
            complete = False  # the last, partial line of a killed run
    rows = {r["key"]: r for r in lines[1:] if "key" in r}
    return lines, rows, complete


def _rewrite(path: Path, lines: list[dict]) -> None:
    from itnet_neuro.utils import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(x) + "\n" for x in lines))
