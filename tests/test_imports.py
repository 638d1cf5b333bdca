"""archc's layering: its first-level parts (the modules and packages directly under archc/)
import one another without a cycle, lazy imports included, so that any of them can be imported
first and a part can be understood without the ones above it.

Imports are read with `ast`, not by importing: an import inside a function or under
TYPE_CHECKING is a dependency too, only a later one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "archc"
ROOT = "archc"  # the package's own __init__, a node of its own


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Every archc module that module `name` imports anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # `from archc import spec` imports the submodule archc.spec.
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {m for m in found if m == ROOT or m.startswith(ROOT + ".")}


def part(module: str) -> str:
    """The first-level part a module belongs to: archc.spec.expand -> spec."""
    return module.split(".")[1] if module != ROOT else ROOT


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {part(m): set() for m in MODULES}
    for module in MODULES:
        for target in imported(module):
            if part(target) != part(module):
                graph[part(module)].add(part(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None; depth first, in sorted order for a stable answer."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_lazy_and_from_package_imports():
    graph = part_graph()
    assert "pipeline" in graph["api"]  # `from archc import pipeline`
    assert "onnx_export" in graph["api"]  # inside the function archc.api.export
    assert {"api", "diagnostics", "version"} <= graph[ROOT]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_first_level_parts_have_no_import_cycle():
    cycle = find_cycle(part_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_dims_imports_nothing_of_archc():
    assert imported("archc.dims") == set()


def test_diagnostics_imports_nothing_of_archc_but_dims_and_the_codes():
    assert imported("archc.diagnostics") <= {"archc.dims", "archc.codes"}


def test_the_codes_import_nothing_of_archc_outside_their_package():
    for module in (m for m in MODULES if m == "archc.codes" or m.startswith("archc.codes.")):
        outside = {m for m in imported(module) if not m.startswith("archc.codes")}
        assert outside == set(), module
