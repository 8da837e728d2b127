"""The direction of the house: which layer may import which, and no import cycles.

`graph/` is what `langgraph.json` serves, so it and `chains/` must run without the HTTP
side; the frontend talks to the server over HTTP only; `api/errors.py` is a leaf every
other module of `api/` may import. Imports inside functions count: a lazy import that
hides a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.utils.processes import REPO

PACKAGES = ("chains", "graph", "api", "frontend", "bench")
TOP_LEVEL_MODULES = ("server", "settings", "cli", "ingest_cli", "stack", "stack_plan")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    found = {name: REPO / f"{name}.py" for name in TOP_LEVEL_MODULES}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imported_names(path: Path) -> Iterator[str]:
    """Every module an import statement in `path` names, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import submodule` imports the submodule, else the module itself.
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
            yield node.module


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module `name` refers to (the longest known prefix), None for others."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


@cache
def import_graph() -> dict[str, frozenset[str]]:
    known = project_modules()
    graph: dict[str, frozenset[str]] = {}
    for name, path in known.items():
        targets = {resolve(imported, known) for imported in imported_names(path)}
        # A package's own __init__ is not an edge of its submodules (Python runs it first).
        graph[name] = frozenset(t for t in targets if t and t != name)
    return graph


def external_imports(module: str) -> set[str]:
    return {name.split(".")[0] for name in imported_names(project_modules()[module])}


def find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle as a path, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            # A package importing its own submodules (re-exports) is not a cycle.
            if target.startswith(f"{node}.") or node.startswith(f"{target}."):
                continue
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer(module: str) -> str:
    return module.split(".")[0]


def test_the_project_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("inner", ["chains", "graph"])
def test_chains_and_graph_never_import_the_http_side(inner: str) -> None:
    offenders = {
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if layer(module) == inner
        for target in targets
        if layer(target) in ("api", "server", "frontend", "cli", "ingest_cli", "bench")
    }
    offenders |= {
        f"{module} -> langserve"
        for module in project_modules()
        if layer(module) == inner and "langserve" in external_imports(module)
    }
    assert not offenders, sorted(offenders)


def test_chains_never_import_graph() -> None:
    offenders = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if layer(module) == "chains"
        for target in targets
        if layer(target) == "graph"
    ]
    assert not offenders, offenders


def test_the_frontend_talks_to_the_server_over_http_only() -> None:
    offenders = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if layer(module) == "frontend"
        for target in targets
        if layer(target) != "frontend"
    ]
    assert not offenders, offenders


def test_error_mapping_is_a_leaf_of_the_api() -> None:
    assert not [t for t in import_graph()["api.errors"] if layer(t) == "api"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None


def test_settings_import_nothing_from_the_project() -> None:
    # settings.py is the ground floor: it holds values, and `chains.models` works out
    # what they come to. An arrow from it back up would make every module depend on all.
    assert import_graph()["settings"] == frozenset()


# The steps the graph calls sit loose in chains/; everything else lives in a package that
# says in its __init__ what it is for.
RAG_STEPS = {"chains.retrieval", "chains.passages", "chains.prompt_lines", "chains.prompts"}


def test_chains_hold_no_loose_module_but_the_rag_steps() -> None:
    loose = {
        module_name(path) for path in (REPO / "chains").glob("*.py") if path.name != "__init__.py"
    }
    assert loose == RAG_STEPS


def test_every_chains_package_says_what_it_is_for() -> None:
    for init in (REPO / "chains").glob("*/__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 40, f"{init.parent.name}/__init__.py"


def test_no_module_of_chains_graph_or_api_reaches_350_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for package in ("chains", "graph", "api")
        for path in (REPO / package).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) >= 350
    }
    assert not long, long
