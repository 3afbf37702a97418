"""The one exception hierarchy of itnet-neuro (STYLE.md §3).

Every error a user can cause derives from :class:`ItnetNeuroError` *and* from the matching builtin,
so ``except ValueError`` keeps working for callers who do not know our types. Messages say what,
where, the value against its limit and what to try, on one line.
"""

from __future__ import annotations


class ItnetNeuroError(Exception):
    """Base class of every error raised on purpose by itnet-neuro."""


class ValidationError(ItnetNeuroError, ValueError):
    """A value (config field, spec key, array shape) is invalid."""


class ConfigError(ValidationError):
    """A model or run configuration is invalid."""


class SpecError(ValidationError):
    """A chip specification file is invalid (names the file and the key)."""


class DataError(ItnetNeuroError, ValueError):
    """A dataset folder or file is missing or malformed."""


class ModelFileError(ItnetNeuroError, ValueError):
    """A model file cannot be read, or is refused (e.g. it contains executable Lambda layers)."""


class UnsupportedLayerError(ModelFileError):
    """A Keras layer (or several) has no spiking conversion."""


class SchemaError(ItnetNeuroError, ValueError):
    """An IR or allocation (``alloc.json``) file has an unknown schema version or a malformed structure."""


class ConversionError(ItnetNeuroError, ValueError):
    """The network cannot be converted as asked."""


class AllocationError(ItnetNeuroError, RuntimeError):
    """An allocation is infeasible; ``violations`` lists every reason."""

    def __init__(self, violations, message: str | None = None):
        self.violations = list(violations)
        if message is None:
            first = self.violations[0] if self.violations else None
            message = f"allocation infeasible: {len(self.violations)} violation(s)" + (
                f"; first: {first}" if first is not None else ""
            )
        super().__init__(message)


class SimulationError(ItnetNeuroError, RuntimeError):
    """A simulation cannot run as asked (e.g. it would not fit in memory)."""


class MissingDependencyError(ItnetNeuroError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` that fixes it."""


class NotBuiltError(ItnetNeuroError, NotImplementedError):
    """A feature that is planned but not built yet. Said plainly, never faked."""


def require(module: str, extra: str):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the fix.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"nengo_dl"``.
    extra : str
        The ``itnet-neuro`` extra that installs it, e.g. ``"nengo"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is not installed: run `pip install 'itnet-neuro[{extra}]'` ({exc})"
        ) from exc
