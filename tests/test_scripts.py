"""Every script under bench/, experiments/ and demos/ imports only vcsep names that exist (issue 25:
bench/memory.py broke unnoticed when the encoder moved to vcsep.media). The scripts are read, not
run: each ``import vcsep...`` and ``from vcsep... import name`` of the file, nested ones included,
is resolved with importlib."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for folder in ("bench", "experiments", "demos") for p in (ROOT / folder).rglob("*.py"))


def vcsep_imports(source: str) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for each vcsep import in ``source`` (``name`` None for ``import
    vcsep.x``), wherever it stands (top level, inside a function...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "vcsep"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "vcsep":
            found += [(node.lineno, node.module, a.name) for a in node.names]
    return found


def unresolved(module: str, name: str | None) -> str | None:
    """Why ``from module import name`` (or ``import module``) fails, or None when it works."""
    try:
        owner = importlib.import_module(module)
    except ImportError as err:
        return f"cannot import {module} ({err})"
    if name is None or name == "*" or hasattr(owner, name):
        return None
    try:  # a submodule not imported by its package
        importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError:
        return f"cannot import name {name!r} from {module}"
    return None


def test_the_script_folders_are_found():
    folders = {p.relative_to(ROOT).parts[0] for p in SCRIPTS}
    assert folders == {"bench", "experiments", "demos"} and ROOT / "bench" / "memory.py" in SCRIPTS


def test_a_moved_name_is_caught():
    source = "def make():\n    from vcsep.vision.video import write_video\n"
    assert vcsep_imports(source) == [(2, "vcsep.vision.video", "write_video")]
    assert unresolved("vcsep.vision.video", "write_video") == (
        "cannot import name 'write_video' from vcsep.vision.video"
    )
    assert unresolved("vcsep.media", "write_video") is None
    assert unresolved("vcsep.fusion", "labels") is None  # a submodule
    assert "cannot import vcsep.nowhere" in unresolved("vcsep.nowhere", None)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_vcsep_name_a_script_imports_exists(script):
    source = script.read_text(encoding="utf-8")
    compile(source, str(script), "exec")  # the whole file is valid Python
    problems = [
        f"{script.relative_to(ROOT)}:{line}: {why}"
        for line, module, name in vcsep_imports(source)
        if (why := unresolved(module, name))
    ]
    assert not problems, "\n".join(problems)
