"""The layout's rules, checked: imports point one way, no module is a room nobody can find their way in,
and the README's layout table names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

# package → the top-level packages of this project it may import (besides itself)
MAY_IMPORT = {
    "rollout_common": set(),
    "diversity": {"rollout_common"},
    "trainers": {"rollout_common", "diversity"},
    "rollout_cli": {"rollout_common", "diversity", "trainers"},
}
MAX_LINES = 400


def modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> set[str]:
    """Top-level names this module imports, wherever the import statement sits (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(MAY_IMPORT)


@pytest.mark.parametrize("package", list(MAY_IMPORT))
def test_imports_point_one_way(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    wrong = {str(p.relative_to(REPO)): sorted(imported_packages(p) - allowed) for p in modules(package)}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_no_module_is_over_the_line_limit() -> None:
    long = {str(p.relative_to(REPO)): n for package in MAY_IMPORT for p in modules(package)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_readme_layout_table_names_every_module() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n## ", 4)]
    named = set(re.findall(r"`([\w/]+\.py)`", layout))
    missing = []
    for package in MAY_IMPORT:
        for path in modules(package):
            relative = path.relative_to(REPO)
            if path.name == "__init__.py":
                continue
            # A module is named by its path under its package, e.g. `load/formats/trl.py`, or by its file name
            # within a row that names its folder.
            if not ({str(relative), str(relative.relative_to(package)), path.name} & named):
                missing.append(str(relative))
    assert missing == []
