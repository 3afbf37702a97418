"""Coverage-guided fuzzing of the readers of untrusted files with atheris (optional: ``pip install atheris``).

Targets (each starts from the valid files in this repository as its seed corpus):

* ``chip``: bytes → a chip TOML file → :func:`hardware_models.spec.load_chip`, then an allocation of a
  small random network when the chip loads. Allowed outcomes: a spec, or ``SpecError`` /
  ``ItnetNeuroError`` with a one-line message.
* ``alloc``: bytes → an ``alloc.json`` → :func:`mapping.allocfile.read` and the check that it fits the
  network it was made for. Allowed: an allocation, or ``SchemaError`` / ``ValidationError`` in one line.
* ``ir``: bytes → a ``.snn.h5`` file → :func:`itnet_neuro.ir.load_network` (each read runs the HDF5
  check in a child process, so this target is slow: a few inputs per second).

Anything else raised is a finding: atheris prints it with the input that caused it and exits non-zero.

Usage::

    python scripts/fuzz_atheris.py chip -atheris_runs=5000
    python scripts/fuzz_atheris.py alloc -atheris_runs=5000
    python scripts/fuzz_atheris.py ir -atheris_runs=200 -max_len=65536

SECURITY.md says how this fits with the hypothesis fuzz tests in tests/test_untrusted.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    import numpy as np

    from hardware_models.errors import SpecError
    from hardware_models.spec import PACKAGED_CHIPS_DIR, load_chip
    from itnet_neuro.errors import ItnetNeuroError, SchemaError
    from itnet_neuro.ir import load_network, save_network
    from itnet_neuro.ir.examples import tiny_iterative_network
    from itnet_neuro.sim.experiment import check_allocation_matches
    from mapping import allocfile
    from mapping.allocate import plan
    from mapping.testing import random_network

WORK = Path(tempfile.mkdtemp(prefix="itnet-fuzz-"))
NET = random_network(np.random.default_rng(0))


def _one_line(exc: Exception) -> None:
    if "\n" in str(exc):
        raise AssertionError(f"multi-line error: {exc!r}")


def fuzz_chip(data: bytes) -> None:
    path = WORK / "chip.toml"
    path.write_bytes(data)
    try:
        spec = load_chip(path)
    except SpecError as exc:
        _one_line(exc)
        return
    for schedule in ("unrolled", "looped"):
        try:
            plan(NET, spec, schedule)
        except (SpecError, ItnetNeuroError) as exc:
            _one_line(exc)


TINY = tiny_iterative_network()


def fuzz_alloc(data: bytes) -> None:
    path = WORK / "alloc.json"
    path.write_bytes(data)
    try:
        check_allocation_matches(allocfile.read(path), TINY, path)
    except ItnetNeuroError as exc:
        _one_line(exc)


def fuzz_ir(data: bytes) -> None:
    path = WORK / "net.snn.h5"
    path.write_bytes(data)
    try:
        load_network(path)
    except SchemaError as exc:
        _one_line(exc)


def seed_corpus(target: str) -> Path:
    corpus = WORK / f"corpus_{target}"
    corpus.mkdir(exist_ok=True)
    if target == "chip":
        for toml in PACKAGED_CHIPS_DIR.glob("*.toml"):
            (corpus / toml.name).write_bytes(toml.read_bytes())
    elif target == "alloc":
        for schedule in ("looped", "unrolled"):
            allocfile.write(plan(TINY, "loihi", schedule), corpus / f"{schedule}.json")
    else:
        save_network(TINY, corpus / "tiny.snn.h5")
    return corpus


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else ""
    targets = {"chip": fuzz_chip, "alloc": fuzz_alloc, "ir": fuzz_ir}
    if target not in targets:
        sys.exit(f"usage: fuzz_atheris.py {{{','.join(targets)}}} [libFuzzer options, e.g. -atheris_runs=5000]")
    corpus = seed_corpus(target)
    argv = [sys.argv[0], *sys.argv[2:], str(corpus)]
    atheris.Setup(argv, targets[target])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    atheris.Fuzz()


if __name__ == "__main__":
    main()
