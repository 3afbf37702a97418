"""Importing our packages must not import the heavy stacks (DESIGN.md §3): allocate and chips start fast."""

import subprocess
import sys

HEAVY = ("tensorflow", "nengo", "nengo_dl", "brian2", "keras")

CODE = """
import sys, importlib
for m in {mods!r}:
    importlib.import_module(m)
heavy = [m for m in {heavy!r} if m in sys.modules]
print(",".join(heavy))
"""


def _heavy_loaded(mods):
    proc = subprocess.run([sys.executable, "-c", CODE.format(mods=mods, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_packages_import_light():
    mods = ["itnet_neuro", "itnet_neuro.cli", "itnet_neuro.errors", "itnet_neuro.utils", "mapping",
            "hardware_models"]
    for optional in ("itnet_neuro.ir", "mapping.allocate", "hardware_models.spec"):
        try:
            __import__(optional)
            mods.append(optional)
        except ImportError:
            pass
    assert _heavy_loaded(mods) == ""


def test_mapping_and_hardware_models_never_import_heavy_stacks():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    pattern = re.compile(r"^\s*(import|from)\s+(tensorflow|keras|nengo|nengo_dl|brian2)\b", re.M)
    offenders = [str(p) for pkg in ("mapping", "hardware_models") for p in (root / pkg).rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
