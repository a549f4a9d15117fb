#!/usr/bin/env python3
"""The import graph of LivChat's own modules: circles, and arrows that run up a floor.

    python scripts/import_graph.py            # report; exit 1 if a circle or an upward arrow exists
    python scripts/import_graph.py --local    # also list imports made inside functions

Floors, bottom to top (DESIGN.md's map): a module may import its own app and the apps below it.
Every import counts, at module level and inside functions alike (a function-local import that
dodges a circle is still a circle). Read with `ast`: nothing is imported or run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ["core", "accounts", "servers", "jobs", "automation", "web", "livchat"]
SKIP_PARTS = {"migrations", "tests", "bench", "scripts", ".venv", "static", "templates", "playbooks"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def own_modules() -> dict[str, Path]:
    found = {}
    for app in FLOORS:
        for path in (ROOT / app).rglob("*.py"):
            if not SKIP_PARTS.intersection(path.relative_to(ROOT).parts):
                found[module_name(path)] = path
    return found


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported own module, made inside a function) for each import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # annotations only: never imported at run time
            if isinstance(child, ast.Import):
                found.extend((_own(alias.name, modules), inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, package)
                for alias in child.names:
                    target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    found.append((_own(target, modules), inner))
            visit(child, inner)

    visit(tree, False)
    return [(target, local) for target, local in found if target and target != name]


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _own(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def floor(module: str) -> int:
    return FLOORS.index(module.split(".")[0])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def scan() -> tuple[list[list[str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(circles, upward arrows, function-local imports)."""
    modules = own_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    upward, local = [], []
    for name, path in modules.items():
        for target, inside in imports_of(path, name, modules):
            # A package's __init__ importing its own submodules is how a package is assembled.
            if not (path.name == "__init__.py" and target.startswith(name + ".")):
                graph[name].add(target)
            if floor(target) > floor(name):
                upward.append((name, target))
            if inside:
                local.append((name, target))
    return cycles(graph), sorted(set(upward)), sorted(set(local))


def main() -> int:
    circles, upward, local = scan()
    for circle in circles:
        print("circle:", " <-> ".join(circle))
    for low_module, high_module in upward:
        print(f"upward: {low_module} imports {high_module}")
    if "--local" in sys.argv:
        for name, target in local:
            print(f"local: {name} imports {target} inside a function")
    print(f"{len(circles)} circles, {len(upward)} upward imports, {len(local)} function-local imports")
    return 1 if circles or upward else 0


if __name__ == "__main__":
    sys.exit(main())
