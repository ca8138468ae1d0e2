"""The house's rules, read from the source: dependencies point one way and no two files import each other.

detectors, retrieval <- tools <- agent <- tui <- cli; lab (benchmarks, training, data-set loaders) may import
anything, and nothing at runtime imports lab (cli reaches it only through `cli.common.lab`, at call time). Every
import statement counts, lazy ones inside functions included (they are dependencies too); only imports under
`if TYPE_CHECKING:` are left out of the cycle check (they never run), not out of the layering check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("detectors", "retrieval", "tools", "agent", "tui", "cli", "lab")
# What each package must not import (the arrows of the design, read backwards).
FORBIDDEN: dict[str, frozenset[str]] = {
    "detectors": frozenset({"retrieval", "tools", "agent", "tui", "cli", "lab"}),
    "retrieval": frozenset({"tools", "agent", "tui", "cli", "lab"}),
    "tools": frozenset({"agent", "tui", "cli", "lab"}),
    "agent": frozenset({"tui", "cli", "lab"}),
    "tui": frozenset({"cli", "lab"}),
    "cli": frozenset({"lab"}),
    "lab": frozenset(),
}


@dataclass(frozen=True)
class Import:
    """One imported module, as written in `path` at `line`."""

    path: Path
    line: int
    module: str
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports(path: Path) -> Iterator[Import]:
    """Every module `path` imports; `from pkg import name` names pkg.name when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    current, is_package = module_name(path), path.name == "__init__.py"
    type_only_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        type_only_lines.add(sub.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, node.lineno in type_only_lines)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(current, is_package, node.level, node.module)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                named = candidate if _module_file(candidate) is not None else base
                yield Import(path, node.lineno, named, node.lineno in type_only_lines)


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def wrong_way_imports() -> list[str]:
    """`file:line: pkg imports other` for every import against the arrows."""
    out: list[str] = []
    for path in source_files():
        own = module_name(path).split(".")[0]
        for imp in imports(path):
            top = imp.module.split(".")[0]
            entry = f"{path.relative_to(REPO)}:{imp.line}: {own} imports {imp.module}"
            if top in FORBIDDEN[own] and entry not in out:
                out.append(entry)
    return out


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of files (more than one) in the graph of runtime imports between our modules."""
    graph: dict[str, set[str]] = {}
    for path in source_files():
        name = module_name(path)
        graph.setdefault(name, set())
        for imp in imports(path):
            if imp.type_only or imp.module.split(".")[0] not in PACKAGES or imp.module == name:
                continue
            if _module_file(imp.module) is not None:
                graph[name].add(imp.module)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan's algorithm
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_rules_see_the_packages() -> None:
    # A test that cannot fail is no test: the walker must find the packages and their imports.
    files = source_files()
    assert {module_name(p).split(".")[0] for p in files} >= {"detectors", "retrieval", "tools", "agent", "tui", "cli"}
    assert any(i.module == "detectors.base" for i in imports(REPO / "detectors" / "pipeline.py"))


def test_dependencies_point_one_way() -> None:
    wrong = wrong_way_imports()
    assert not wrong, "imports against detectors, retrieval <- tools <- agent <- tui <- cli (lab: nobody):\n" + \
        "\n".join(wrong)


def test_no_file_level_import_cycle() -> None:
    cycles = import_cycles()
    assert not cycles, "files that import each other (directly or round a loop):\n" + \
        "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_catches_a_wrong_way_import_and_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "detectors" / "a.py").write_text("from detectors import b\n")
    (tmp_path / "detectors" / "b.py").write_text("def f():\n    from detectors.a import g\n    import agent.x\n")
    (tmp_path / "agent" / "x.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tui\n")
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert wrong_way_imports() == ["agent/x.py:3: agent imports tui", "detectors/b.py:3: detectors imports agent.x"]
    assert import_cycles() == [["detectors.a", "detectors.b"]]
