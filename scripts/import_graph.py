"""The import graph between the project's packages, from the code's own imports (module level
and inside functions alike), with its circles; and the modules' sizes.

    .venv/bin/python scripts/import_graph.py                 # packages: consent, messaging, ...
    .venv/bin/python scripts/import_graph.py --modules       # module to module (circles only)
    .venv/bin/python scripts/import_graph.py --sizes 600     # modules over 600 lines

A package is a top-level app, or a subpackage of pandorakart_wa (pandorakart_wa.webhooks,
pandorakart_wa.whatsapp, ...) since the project package holds several layers; its top-level
modules count as `pandorakart_wa`. Migrations and tests are left out.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("pandorakart_wa", "consent", "messaging", "profile", "complaints")


def modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts or "__pycache__" in rel.parts:
                continue
            name = ".".join(rel.with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "pandorakart_wa" and len(parts) > 2:
        return ".".join(parts[:2])
    if parts[0] == "pandorakart_wa" and len(parts) == 2 and (ROOT / "pandorakart_wa" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return parts[0]


def imports(path: Path, module: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for each import of ours in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and _type_checking(child):
                continue  # typing-only imports are not runtime arrows
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = module.split(".") if is_package else module.split(".")[:-1]
                    parent = parent[: len(parent) - child.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.append((candidate if candidate in known else base, inner))
            visit(child, inner)

    visit(tree, False)
    return [(name, nested) for name, nested in found if name.split(".")[0] in APPS]


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", action="store_true", help="module-level graph: print its circles")
    parser.add_argument("--sizes", type=int, metavar="LINES", help="list modules longer than LINES")
    args = parser.parse_args()
    found = modules()
    known = set(found)
    if args.sizes:
        sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in found.items()), reverse=True)
        for lines, module in sizes:
            if lines > args.sizes:
                print(f"{lines:6d}  {module}")
        return
    arrows: Counter[tuple[str, str]] = Counter()
    nested_arrows: Counter[tuple[str, str]] = Counter()
    module_edges: dict[str, set[str]] = defaultdict(set)
    nested_total = 0
    for module, path in found.items():
        for target, nested in imports(path, module, known):
            target_module = target if target in known else target.rsplit(".", 1)[0]
            if target_module == module:
                continue
            module_edges[module].add(target_module)
            nested_total += nested
            a, b = package_of(module), package_of(target_module)
            if a != b:
                arrows[(a, b)] += 1
                nested_arrows[(a, b)] += nested
    if args.modules:
        found_circles = circles(module_edges)
        print(f"{len(found_circles)} module circles (function-level imports of ours: {nested_total})")
        for component in found_circles:
            print("  " + " <-> ".join(component))
        return
    print(f"imports between packages ({sum(arrows.values())}; inside functions: {sum(nested_arrows.values())})")
    for (a, b), count in sorted(arrows.items()):
        print(f"  {a:28s} -> {b:28s} {count:4d}" + (f"  ({nested_arrows[(a, b)]} in functions)"
                                                       if nested_arrows[(a, b)] else ""))
    package_edges: dict[str, set[str]] = defaultdict(set)
    for a, b in arrows:
        package_edges[a].add(b)
    found_circles = circles(package_edges)
    print(f"{len(found_circles)} package circles")
    for component in found_circles:
        print("  " + " <-> ".join(component))
    modules_circles = circles(module_edges)
    print(f"{len(modules_circles)} module circles; function-level imports of ours: {nested_total}")


if __name__ == "__main__":
    main()
