"""The one exception of :mod:`hardware_models`.

``hardware_models`` imports nothing of this project (DESIGN.md §3), so it cannot derive from
``itnet_neuro.errors.SpecError``; :class:`SpecError` derives from :class:`ValueError` instead, and the
CLI translates it. Messages follow STYLE.md §3: what, where (file and dotted key), the value against
the rule, on one line::

    truenorth.toml: core.max_axons: must be > 0, got 0
"""

from __future__ import annotations

__all__ = ["SpecError"]

_NO_VALUE = object()


class SpecError(ValueError):
    """A chip specification is invalid, or a chip name is unknown.

    Parameters
    ----------
    key : str or None
        Dotted key of the offending entry (``"core.max_axons"``), or None for a file-level problem.
    problem : str
        The rule that was broken, e.g. ``"must be > 0"``.
    value : object, optional
        The offending value; appended as ``", got <value>"`` when given.
    file : str or None
        File name the spec was read from (only its base name is shown).
    hint : str or None
        What to try, appended in parentheses.

    Attributes
    ----------
    file, key, problem, value, hint
        As given, so callers never need to parse the message text (STYLE.md §4).
    """

    def __init__(self, key: str | None, problem: str, value=_NO_VALUE, *, file: str | None = None,
                 hint: str | None = None):
        self.key = key
        self.problem = problem
        self.value = None if value is _NO_VALUE else value
        self.has_value = value is not _NO_VALUE
        self.file = file
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        text = self.problem
        if self.has_value:
            text += f", got {self.value!r}"
        if self.hint:
            text += f" ({self.hint})"
        return ": ".join(parts + [text])

    def with_file(self, file: str) -> "SpecError":
        """The same error, naming ``file`` (used by the loader for errors raised on construction)."""
        value = self.value if self.has_value else _NO_VALUE
        return SpecError(self.key, self.problem, value, file=file, hint=self.hint)
