"""The README's Python section runs as written: in a folder holding `runs/demo/raw/` (the
dvs-fixtures Gesture set, as scripts/demo.sh writes it), with a stand-in `torch` module when
torch is not installed (the test suite does not need it)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from conftest import REPO, binary, run


def readme_python_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the README's Python section should hold one python block"
    return blocks[0]


def test_the_readme_python_section_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = readme_python_block()
    assert len(code.strip().splitlines()) == 5
    run(binary("dvs-fixtures"), "--layout", "gesture", "--size", "tiny", "--out", tmp_path / "runs/demo/raw",
        "--quiet")
    monkeypatch.chdir(tmp_path)
    try:
        import torch  # noqa: F401
    except ImportError:
        monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(from_numpy=lambda a: a))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert len(scope["events"]) > 0
    assert tuple(scope["x"].shape[1:]) == (10, 2, 32, 32) and scope["y"].shape[0] == scope["x"].shape[0]
    assert (tmp_path / "runs/demo/py-data/dataset.json").is_file()
