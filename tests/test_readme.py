"""Every README table comes from a results file a script wrote (issue 14 §4)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def readme_tables():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_tables
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return readme_tables


def test_readme_tables_agree_with_their_results_files(readme_tables):
    text = (ROOT / "README.md").read_text()
    new, changed = readme_tables.render(text)
    assert not changed, f"README.md disagrees with its results files in {changed}: run python scripts/readme_tables.py"
    names = {m.group("name") for m in readme_tables._BLOCK.finditer(text)}
    assert set(readme_tables.BLOCKS) <= names, f"README.md lacks the blocks {set(readme_tables.BLOCKS) - names}"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")) + sorted((ROOT / "docs" / "examples").glob("*.json")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_results_file_names_the_command_that_wrote_it(path):
    data = json.loads(path.read_text())
    command = str(data.get("command", ""))
    assert command.strip(), f"{path.name}: no 'command'"
    script = next((w for w in command.split() if w.endswith(".py")), None)
    assert script is not None and (ROOT / script).is_file(), f"{path.name}: {command!r} names no script in the repo"


def test_the_check_fails_when_a_block_differs_from_its_results_file(readme_tables):
    """An edited figure inside a generated block is reported as a disagreement (the check can fail)."""
    text = (ROOT / "README.md").read_text()
    m = next(readme_tables._BLOCK.finditer(text))
    body = m.group("body")
    edited = text[:m.start("body")] + body.replace("0", "9", 1) + "| an extra row |\n" + text[m.end("body"):]
    _, changed = readme_tables.render(edited)
    assert m.group("name") in changed


def test_a_results_file_without_a_command_is_refused(readme_tables, tmp_path, monkeypatch):
    (tmp_path / "nameless.json").write_text(json.dumps({"runs": []}))
    monkeypatch.setattr(readme_tables, "RESULTS", tmp_path)
    with pytest.raises(SystemExit, match="no 'command'"):
        readme_tables.load("nameless.json")
