"""Print the shape of the ``rayop`` package: module and function sizes, import arrows, cycles.

Used to measure layout changes (before/after figures in issue notes and docs/architecture.md)::

    python scripts/architecture.py            # the package in the working tree
    python scripts/architecture.py --edges    # also every internal import arrow between packages

Sizes count physical lines. Import arrows are the static imports between ``rayop`` modules that
grimp (import-linter's graph library) finds; a cycle is a strongly connected set of two or more
modules, counted at module level and at the level of the package that holds each module.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def _quantiles(values: list[int]) -> str:
    values = sorted(values)
    if not values:
        return "none"
    def pick(q: float) -> int:
        return values[min(len(values) - 1, int(q * len(values)))]
    return (f"n={len(values)} median={statistics.median(values):.0f} p90={pick(0.9)} "
            f"max={values[-1]} over-300={sum(v > 300 for v in values)}")


def _functions(tree: ast.AST) -> list[int]:
    sizes = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            sizes.append(node.end_lineno - node.lineno + 1)
    return sizes


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def _package(module: str, modules: set[str]) -> str:
    if module in modules and any(m.startswith(module + ".") for m in modules):
        return module  # a package's __init__
    return module.rsplit(".", 1)[0]


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print package-level import arrows")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("rayop", cache_dir=None)
    modules = set(graph.modules)
    module_sizes, function_sizes = [], []
    for path in sorted((ROOT / "rayop").rglob("*.py")):
        text = path.read_text()
        module_sizes.append(len(text.splitlines()))
        function_sizes.extend(_functions(ast.parse(text)))
    edges: dict[str, set[str]] = defaultdict(set)
    for m in modules:
        edges[m] |= {t for t in graph.find_modules_directly_imported_by(m) if t in modules}
    arrows = sum(len(v) for v in edges.values())
    packages: dict[str, set[str]] = defaultdict(set)
    for src, targets in edges.items():
        for t in targets:
            a, b = _package(src, modules), _package(t, modules)
            if a != b:
                packages[a].add(b)
    print(f"modules           {len(module_sizes)}")
    print(f"module lines      {_quantiles(module_sizes)}")
    print(f"function lines    {_quantiles(function_sizes)}")
    print(f"top-level modules {sum(1 for m in modules if m.count('.') == 1)}")
    print(f"import arrows     {arrows} between modules, "
          f"{sum(len(v) for v in packages.values())} between packages")
    module_cycles = _cycles(edges)
    package_cycles = _cycles(packages)
    print(f"module cycles     {len(module_cycles)}"
          + "".join(f"\n  {' <-> '.join(c)}" for c in module_cycles))
    print(f"package cycles    {len(package_cycles)}"
          + "".join(f"\n  {' <-> '.join(c)}" for c in package_cycles))
    if args.edges:
        for src in sorted(packages):
            print(f"{src} -> {', '.join(sorted(packages[src]))}")


if __name__ == "__main__":
    main()
