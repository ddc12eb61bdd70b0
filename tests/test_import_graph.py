"""The project's modules import each other without a circle, and the product imports neither the
development package (yourmoment_dev/) nor the imitations.

What counts as an import of module B by module A (read with `ast`, nothing is executed):
- every `import B` and `from B import x` anywhere in A: at module level, inside a function (a lazy
  import) and under `if TYPE_CHECKING:`. Python tolerates a circle through a lazy import at run time,
  but the two modules still cannot be read, tested or moved one without the other, which is what a
  circle costs; so they count.
- a string constant in A that is exactly B's dotted name (`package.module`, or `package.module:function`):
  a module loaded by name through importlib, as the CLI loads its command modules.
- `from package import name` counts `package.name` when that is a module, else `package`. The parent
  packages Python imports on the way (`workflows` for `workflows.article`) do not count: they are not
  a choice of A's.

The product is the three packages that the image ships (yourmoment, workflows, activities) and
worker.py. starter.py, the checkout's launcher, is not: it adds the development commands by name when
yourmoment_dev is installed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", ".git", "build", "dist", "__pycache__", ".demo", ".run"}
PRODUCT = ("yourmoment", "workflows", "activities", "worker")
NOT_FOR_THE_PRODUCT = ("yourmoment_dev", "imitation")

Graph = dict[str, set[str]]


def project_modules() -> dict[str, Path]:
    """Every .py file of the project by its dotted module name (tests and benchmarks too)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if SKIPPED_DIRS.intersection(parts) or any(part.endswith(".egg-info") for part in parts):
            continue
        names = list(path.relative_to(ROOT).with_suffix("").parts)
        if names[-1] == "__init__":
            names.pop()
        modules[".".join(names)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> Graph:
    return {name: set(imported_by(name, path, modules)) - {name} for name, path in modules.items()}


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield from [submodule] if submodule in modules else _known(base, modules)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = node.value.partition(":")[0]
            if "." in named and named in modules:  # not a plain word that happens to name a package
                yield named


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _known(module: str, modules: dict[str, Path]) -> list[str]:
    """The project module that `import module` names: itself, or its nearest enclosing package."""
    while module and module not in modules:
        module = module.rpartition(".")[0]
    return [module] if module else []


def circles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
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
                    found.append(sorted(component))
    return found


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return module.split(".")[0] in packages


def test_no_import_circle_among_the_project_modules() -> None:
    graph = import_graph(project_modules())
    found = circles(graph)
    described = ["; ".join(f"{a} -> {b}" for a in c for b in sorted(graph[a] & set(c))) for c in found]
    assert not found, "import circles:\n" + "\n".join(described)


def test_the_product_imports_neither_the_development_package_nor_the_imitations() -> None:
    graph = import_graph(project_modules())
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _in(module, PRODUCT)
        for target in targets
        if _in(target, NOT_FOR_THE_PRODUCT)
    )
    assert not wrong, "\n".join(wrong)


def test_the_graph_sees_lazy_and_type_checking_imports_and_modules_named_by_string() -> None:
    """The reader itself: it finds the kinds of import the rules above depend on."""
    graph = import_graph(project_modules())
    assert "yourmoment.cli.run_cmds" in graph["yourmoment.cli.main"]  # COMMAND_MODULES, by name
    assert "yourmoment.temporal_client" in graph["yourmoment.cli.common"]  # inside try_connect
    assert "imitation.mymoment.state" in graph["imitation.mymoment.templates"]  # under TYPE_CHECKING
    assert "yourmoment_dev.demo_cmds" in graph["starter"]  # the development commands, by name
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
