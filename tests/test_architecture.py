"""The shape of the code: no import cycles between SyncHub's modules (imports inside functions and under
TYPE_CHECKING count too), and no module using another module's underscored names.

A cycle hidden in a function-level import still couples both modules (either one's change can break the
other at run time); an underscored name is private to its module, so using it elsewhere makes it a
public API nobody declared. Both are read from the source with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("mdm", "connectors", "dags", "sandbox")


def modules(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _target(current: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _own(name: str, known: dict[str, Path]) -> str | None:
    """The project module ``name`` is, or is in (``mdm.config.Mapping`` -> ``mdm.config``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def import_graph(
    root: Path = REPO, packages: tuple[str, ...] = PACKAGES
) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the project modules it imports; and every use of another module's underscored name."""
    known = modules(root, packages)
    edges: dict[str, set[str]] = defaultdict(set)
    private: list[str] = []
    for current, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases: dict[str, str] = {}  # a local name bound to a project module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _own(alias.name, known)
                    if target and target != current:
                        edges[current].add(target)
                        if alias.asname and alias.name in known:
                            aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                base = _target(current, path, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = _own(full if full in known else base, known)
                    if not target or target == current:
                        continue
                    edges[current].add(target)
                    if full in known:
                        aliases[alias.asname or alias.name] = full
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append(f"{current} imports {alias.name} from {target}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != current
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                private.append(f"{current} uses {aliases[node.value.id]}.{node.attr}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_function_level_imports_and_private_names(tmp_path: Path) -> None:
    """The checker itself, on a small package: a cycle through a function-level import, a private name
    imported and one used through a module alias."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n\ndef f():\n    return b._hidden()\n")
    (package / "b.py").write_text("def g():\n    from pkg.a import _secret\n    return _secret\n")
    (package / "c.py").write_text("from pkg.a import f\n")

    edges, private = import_graph(tmp_path, ("pkg",))

    assert cycles(edges) == [["pkg.a", "pkg.b"]]
    assert sorted(private) == ["pkg.a uses pkg.b._hidden", "pkg.b imports _secret from pkg.a"]


def test_no_import_cycles_even_counting_imports_inside_functions() -> None:
    edges, _ = import_graph()
    assert edges["mdm.pipeline"], "the graph is empty: the checker reads nothing"
    assert cycles(edges) == []


def test_no_module_uses_another_modules_underscored_names() -> None:
    _, private = import_graph()
    assert private == []


def test_configuration_imports_no_domain_module() -> None:
    """mdm.config parses the mappings; match, merge, prices, orders and quality import it, never the reverse
    (mdm.canonical and mdm.transform, the field rules a mapping compiles, are its only project imports)."""
    edges, _ = import_graph()
    allowed = {"mdm.canonical", "mdm.transform", "connectors.base"}
    for module, targets in edges.items():
        if module == "mdm.config" or module.startswith("mdm.config."):
            outside = {t for t in targets if not (t == "mdm.config" or t.startswith("mdm.config."))}
            assert outside <= allowed, (module, outside - allowed)
