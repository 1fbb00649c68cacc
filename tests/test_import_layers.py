"""The import graph keeps its shape (read from the source with ``ast``, nothing is imported).

* layers: ``scoring`` imports neither ``vidaio`` nor ``services``; ``services`` does not import
  ``vidaio``; nothing below ``neurons`` imports it;
* an interface module (``base``, ``port``, ``config``, ``settings``, ``errors``, ``types``,
  ``paths``) never imports an implementation of its own package (a sibling that imports the
  interface): factories do that;
* no import circle between the modules of one package, lazy (function-level) imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neurons", "vidaio", "services", "scoring")
FORBIDDEN = {
    "scoring": ("vidaio", "services", "neurons"),
    "services": ("vidaio", "neurons"),
    "vidaio": ("neurons",),
}
INTERFACE_NAMES = frozenset({"base", "port", "config", "settings", "errors", "types", "paths"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Every module this file imports (absolute names), anywhere in the file, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from pkg import sub` imports the submodule pkg.sub when it is one
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _graph() -> dict[str, list[tuple[str, int]]]:
    files = {
        _module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts
    }
    assert len(files) > 100, "the source tree was not found"
    graph: dict[str, list[tuple[str, int]]] = {}
    for mod, path in files.items():
        graph[mod] = [(t, line) for t, line in _imports(path, mod) if t in files]
    return graph


GRAPH = _graph()
FILES = {m: ROOT / (m.replace(".", "/") + ".py") for m in GRAPH}


def _is_package(mod: str) -> bool:
    return (ROOT / mod.replace(".", "/") / "__init__.py").exists()


def test_layers_point_one_way() -> None:
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, edges in GRAPH.items()
        for target, line in edges
        if target.split(".")[0] in FORBIDDEN.get(mod.split(".")[0], ())
    ]
    assert not bad, "imports against the layering (neurons -> vidaio -> services -> scoring):\n" + "\n".join(bad)


def _depends_on(start: str, goal: str) -> bool:
    """Does `start` import `goal`, directly or through other modules (lazy imports included)?"""
    seen, todo = {start}, [start]
    while todo:
        for target, _ in GRAPH[todo.pop()]:
            if target == goal:
                return True
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return False


def test_interface_modules_do_not_import_their_implementations() -> None:
    """An implementation of an interface module is a sibling that imports it (an adapter, an
    engine); the interface importing one back, even lazily inside a function, is a circle."""
    bad = []
    for mod, edges in GRAPH.items():
        package, _, name = mod.rpartition(".")
        if name not in INTERFACE_NAMES or _is_package(mod):
            continue
        for target, line in edges:
            if target.rpartition(".")[0] == package and not _is_package(target) and _depends_on(target, mod):
                bad.append(f"{mod}:{line} imports {target}, which implements/uses it")
    assert not bad, "an interface module imports its own package's implementation:\n" + "\n".join(bad)


def _cycles_within_packages() -> list[list[str]]:
    """Strongly connected components (size > 1) of the module graph restricted to each package;
    edges to a package's ``__init__`` are left out (importing a sibling runs it by design)."""
    nodes = [m for m in GRAPH if not _is_package(m)]
    edges = {
        m: sorted({t for t, _ in GRAPH[m] if t in GRAPH and not _is_package(t) and t != m
                   and t.rpartition(".")[0] == m.rpartition(".")[0]})
        for m in nodes
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan, recursion depth is bounded by the package size
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_inside_a_package() -> None:
    cycles = _cycles_within_packages()
    assert not cycles, "import circles (lazy imports included):\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from vidaio.chain.localnet import X\n", "vidaio.chain.localnet"),
        ("def f():\n    from . import localnet\n", "vidaio.chain.localnet"),
        ("import vidaio.chain.localnet as l\n", "vidaio.chain.localnet"),
    ],
)
def test_the_reader_sees_lazy_and_relative_imports(tmp_path: Path, source: str, expected: str) -> None:
    f = tmp_path / "config.py"
    f.write_text(source)
    assert expected in [t for t, _ in _imports(f, "vidaio.chain.config")]
