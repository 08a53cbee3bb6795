"""Figures of the import structure: lines per package, arrows that run back up, import cycles.

    .venv/bin/python .ci/import_figures.py [PACKAGE ...]   (default: every top-level package)

Read from the code's own imports with grimp (import-linter's graph). A component is a top-level
package, or, for ``shopstream``, one of its subpackages or modules (its layers). Figures:

* lines: lines of Python per component (as ``wc -l``);
* arrows: distinct component pairs A -> B where a module of A imports one of B;
* arrows that run back up: the fewest arrows that must point upward in ANY stacking of the
  components into floors (a minimum feedback arc set, found exactly): 0 means the components
  form layers without back-edges;
* cycles: groups of modules that import each other in a loop (strongly connected components).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
SPLIT = {"shopstream"}  # packages shown per layer (subpackage or module)


def top_level_packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in {"tests"})


def component(module: str) -> str:
    parts = module.split(".")
    if parts[0] in SPLIT and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def python_lines(packages: list[str]) -> dict[str, int]:
    lines: dict[str, int] = defaultdict(int)
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            lines[component(module.removesuffix(".__init__"))] += len(path.read_bytes().splitlines())
    return dict(lines)


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one node only."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def fewest_upward(nodes: list[str], edges: dict[str, set[str]]) -> tuple[int, list[str]]:
    """(minimum number of arrows pointing up, floors from the ground up) over every stacking."""
    n = len(nodes)
    position = {name: i for i, name in enumerate(nodes)}
    importers_of = [0] * n  # bit mask of the nodes importing node i
    for a, targets in edges.items():
        for b in targets:
            importers_of[position[b]] |= 1 << position[a]
    best = [0] + [n * n] * ((1 << n) - 1)
    choice = [-1] * (1 << n)
    for placed in range(1 << n):
        for v in range(n):
            if placed >> v & 1:
                continue
            # v goes on top of `placed`: arrows from below into v run up
            cost = best[placed] + (importers_of[v] & placed).bit_count()
            if cost < best[placed | 1 << v]:
                best[placed | 1 << v], choice[placed | 1 << v] = cost, v
    order, mask = [], (1 << n) - 1
    while mask:
        order.append(nodes[choice[mask]])
        mask &= ~(1 << choice[mask])
    return best[-1], order[::-1]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    packages = argv or top_level_packages()
    graph = grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)
    modules = sorted(graph.modules)
    module_edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    arrows: dict[str, set[str]] = defaultdict(set)
    for importer, imported in module_edges.items():
        for target in imported:
            a, b = component(importer), component(target)
            if a != b:
                arrows[a].add(b)
    lines = python_lines(packages)
    components = sorted(set(lines) | set(arrows) | {b for t in arrows.values() for b in t})
    upward, floors = fewest_upward(components, arrows)
    below = {name: i for i, name in enumerate(floors)}
    cycles = strongly_connected(modules, module_edges)
    component_cycles = strongly_connected(components, arrows)

    print(f"packages: {', '.join(packages)}")
    print(f"{'component':<28} {'lines':>6}  imports")
    for name in reversed(floors):
        targets = ", ".join(sorted(arrows.get(name, ())))
        print(f"{name:<28} {lines.get(name, 0):>6}  {targets}")
    print(f"{'total':<28} {sum(lines.values()):>6}")
    print(f"arrows between components: {sum(len(t) for t in arrows.values())}")
    print(f"arrows that run back up (fewest over any stacking): {upward}")
    for a in floors:
        for b in sorted(arrows.get(a, ())):
            if below[b] > below[a]:
                print(f"  up: {a} -> {b}")
    print(
        f"component cycles: {len(component_cycles)}"
        + "".join(f"\n  {' <-> '.join(c)}" for c in component_cycles)
    )
    print(f"module cycles: {len(cycles)}" + "".join(f"\n  {' <-> '.join(c)}" for c in cycles))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
