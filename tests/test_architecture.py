"""The shape of the code, checked from its source text (nothing is imported).

These checks read every `.py` file under `api/` and `indexer/` with `ast`:

- no import cycles among those modules;
- `indexer/` (the library) never imports a web or CLI framework;
- `indexer/` keeps a handful of top-level modules, the rest live in packages;
- nobody reaches into another module's `_private` names, and a package's
  `_private` modules are used only from inside that package;
- there is one `Filters` type;
- `api/` (the doors) never writes SQL: it imports neither `sqlmodel` nor
  `indexer.db`, and calls `indexer.usecases` instead.

How an import becomes an edge of the import graph
-------------------------------------------------
Every import statement counts, wherever it is: at module level, inside a
function, under `if TYPE_CHECKING:` or in a `try:`. A cycle that only closes
through a function-local import still couples the two modules, and one in
`TYPE_CHECKING` breaks as soon as it is evaluated (by mypy's plugins, by
`typing.get_type_hints`, by the next person who moves it out of the `if`).

What an import statement runs, and so which modules it depends on:

- `import a.b.c` runs `a/__init__`, `a/b/__init__` and `a/b/c`; so does
  `from a.b.c import name`, where `name` is an attribute of `a.b.c`.
- `from a.b import name` runs `a.b.name` too when that is a module (a file
  or a package in the tree); when it is not, `name` must already be defined
  by `a/b/__init__`, which is exactly the dependency that breaks in a cycle.
- Relative imports are resolved against the importing module's package.

The ancestor packages of the *importing* module are not edges: Python runs a
package's `__init__` before any module inside it, so by the time
`indexer/search/_fulltext.py` says `from indexer.search import _query`, the
`indexer.search` package is already in `sys.modules` and only `_query` is
run. Counting that implicit step would report every package whose
`__init__` re-exports its submodules as a cycle. Naming a *value* of an
ancestor package (`from indexer.search import Searcher` inside
`indexer/search/_hybrid.py`) is an edge, because it needs that `__init__`
to have got that far.

So: an import makes an edge from the importing module to the module it
names (`a.b.c`, or `a.b.name` when that is a module, else `a.b`), and to each
package above that module which does not contain the importing module.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "indexer")
FRAMEWORKS = ("fastapi", "starlette", "click", "uvicorn", "jinja2")
DATABASE = ("sqlmodel", "indexer.db")  # what the doors leave to indexer.usecases
MAX_TOP_LEVEL = 12


# Reading the tree


@dataclass(frozen=True)
class Module:
    name: str  # dotted: indexer.search._query; a package's __init__ is the package name
    path: Path
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        """The package that relative imports in this module start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    importer: Module
    line: int
    module: str  # the module named after `import` / `from` (resolved when relative)
    names: tuple[str, ...]  # the names after `from ... import`; () for `import a.b.c`

    def where(self, root: Path) -> str:
        return f"{self.importer.path.relative_to(root).as_posix()}:{self.line}"


def modules(root: Path) -> dict[str, Module]:
    """Every module of the checked packages under `root`, by dotted name."""
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            found[name] = Module(name, path, is_package)
    return found


def imports(root: Path) -> Iterator[Import]:
    """Every import statement in the checked packages, at any depth."""
    for module in modules(root).values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, node.lineno, alias.name, ())
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node.module, node.level)
                names = tuple(alias.name for alias in node.names)
                yield Import(module, node.lineno, target, names)


def _resolve(module: Module, name: str | None, level: int) -> str:
    if not level:
        return name or ""
    base = module.package.split(".")
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def _ancestors(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


# The checks: each returns its offences as readable lines, empty when all is well.


def _named_modules(statement: Import, known: dict[str, Module]) -> list[str]:
    """The modules an import statement names: submodules it imports, or the module itself."""
    if not statement.names:
        return [statement.module]
    named = [f"{statement.module}.{name}" for name in statement.names]
    submodules = [name for name in named if name in known]
    if len(submodules) < len(named):  # some names are values (or `*`) of the module itself
        submodules.append(statement.module)
    return submodules


def import_edges(root: Path) -> dict[str, dict[str, str]]:
    """importer -> imported module -> where (file:line), following the module docstring."""
    known = modules(root)
    edges: dict[str, dict[str, str]] = {name: {} for name in known}
    for statement in imports(root):
        importer = statement.importer.name
        for target in _named_modules(statement, known):
            implicit = [a for a in _ancestors(target) if not importer.startswith(a + ".")]
            for dependency in [*implicit, target]:
                if dependency in known and dependency != importer:
                    edges[importer].setdefault(dependency, statement.where(root))
    return edges


def _strongly_connected(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (the graph is small but recursion limits are not)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _shortest_cycle(edges: dict[str, dict[str, str]], start: str, within: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node]):
                if child not in within:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return []


def import_cycles(root: Path) -> list[str]:
    """Each cycle as a path `a -> b (a.py:3) -> a (b.py:7)`; one shortest per module in it."""
    edges = import_edges(root)
    seen: set[tuple[str, ...]] = set()
    found = []
    for component in _strongly_connected(edges):
        if len(component) < 2:
            continue
        for start in component:
            cycle = _shortest_cycle(edges, start, set(component))
            turn = cycle.index(min(cycle[:-1]))
            key = tuple(cycle[turn:-1] + cycle[:turn])
            if key in seen:
                continue
            seen.add(key)
            steps = [cycle[0]] + [
                f"{after} ({edges[before][after]})" for before, after in itertools.pairwise(cycle)
            ]
            found.append(" -> ".join(steps))
    return found


def framework_imports(root: Path) -> list[str]:
    return [
        f"{s.where(root)} imports {s.module}"
        for s in imports(root)
        if s.importer.name.split(".")[0] == "indexer" and s.module.split(".")[0] in FRAMEWORKS
    ]


def database_imports(root: Path) -> list[str]:
    """Imports of `DATABASE` (a module, or a name taken from its package) under `api/`."""
    found = []
    for s in imports(root):
        if s.importer.name.split(".")[0] != "api":
            continue
        named = [s.module, *(f"{s.module}.{name}" for name in s.names)]
        hit = next((t for t in named for d in DATABASE if t == d or t.startswith(d + ".")), None)
        if hit is not None:
            found.append(f"{s.where(root)} imports {hit}")
    return found


def top_level_modules(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "indexer").glob("*.py"))


def private_imports(root: Path) -> list[str]:
    """`_private` names taken from other modules, and `_private` modules used from outside."""
    known = modules(root)
    problems = []
    for s in imports(root):
        importer = s.importer.name
        named = [f"{s.module}.{n}" if n != "*" else s.module for n in s.names] or [s.module]
        for target in named:
            if (
                target != s.module
                and target not in known
                and _is_private(target.rpartition(".")[2])
            ):
                if s.module != importer:
                    problems.append(f"{s.where(root)} imports the private name {target}")
                continue
            parts = target.split(".")
            if parts[0] not in PACKAGES:
                continue
            private = next((i for i, part in enumerate(parts) if _is_private(part)), None)
            if private is None:
                continue
            owner = ".".join(parts[:private])
            if not _inside(importer, owner):
                problems.append(
                    f"{s.where(root)} imports {'.'.join(parts[: private + 1])}, private to {owner}"
                )
    return problems


def filters_classes(root: Path) -> list[str]:
    found = []
    for module in modules(root).values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        found += [
            f"{module.path.relative_to(root).as_posix()}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name == "Filters"
        ]
    return found


# The project


def test_no_import_cycles() -> None:
    cycles = import_cycles(ROOT)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_library_never_imports_a_web_or_cli_framework() -> None:
    offenders = framework_imports(ROOT)
    assert not offenders, "indexer/ imports a framework:\n" + "\n".join(offenders)


def test_the_doors_never_touch_the_database() -> None:
    offenders = database_imports(ROOT)
    assert not offenders, "api/ reaches the database (use indexer.usecases):\n" + "\n".join(
        offenders
    )


def test_the_library_keeps_few_top_level_modules() -> None:
    found = top_level_modules(ROOT)
    assert len(found) <= MAX_TOP_LEVEL, (
        f"{len(found)} modules directly under indexer/ (at most {MAX_TOP_LEVEL}): "
        + ", ".join(found)
    )


def test_no_module_reaches_into_private_names_or_modules() -> None:
    offenders = private_imports(ROOT)
    assert not offenders, "private imports:\n" + "\n".join(offenders)


def test_there_is_one_filters_type() -> None:
    found = filters_classes(ROOT)
    assert len(found) == 1, f"{len(found)} classes named Filters: {', '.join(found) or 'none'}"


# Each check can fail: run it on a small tree written for the purpose.


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_cycles_are_found_through_local_and_type_checking_imports(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "indexer/a.py": "def f():\n    from indexer import b\n",
            "indexer/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from indexer.a import f\n"
            ),
            "indexer/c.py": "from . import a\n",  # depends on the cycle, is not in it
        },
    )
    assert import_cycles(root) == [
        "indexer.a -> indexer.b (indexer/a.py:2) -> indexer.a (indexer/b.py:3)"
    ]


def test_importing_a_submodule_runs_the_packages_above_it(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "indexer/search/__init__.py": "from api.views import page\n",
            "indexer/search/engine.py": "",
            "api/views.py": "import indexer.search.engine\n",
        },
    )
    assert import_cycles(root) == [
        "api.views -> indexer.search (api/views.py:1) -> api.views (indexer/search/__init__.py:1)"
    ]


def test_a_package_reexporting_its_submodules_is_not_a_cycle(tmp_path: Path) -> None:
    files = {
        "indexer/search/__init__.py": "from indexer.search._hybrid import Searcher\n",
        "indexer/search/_query.py": "",
        "indexer/search/_hybrid.py": "from indexer.search import _query\nfrom . import _query\n",
    }
    assert import_cycles(_tree(tmp_path / "fine", files)) == []
    # But needing a value of the half-run package __init__ is one.
    files["indexer/search/_hybrid.py"] = "from indexer.search import Searcher, _query\n"
    assert import_cycles(_tree(tmp_path / "cycle", files)) == [
        "indexer.search -> indexer.search._hybrid (indexer/search/__init__.py:1)"
        " -> indexer.search (indexer/search/_hybrid.py:1)"
    ]


def test_framework_imports_in_the_library_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "indexer/web.py": "def page():\n    from starlette.responses import HTMLResponse\n",
            "indexer/cli.py": "import click\nimport clickhouse\n",
            "api/app.py": "import fastapi\n",  # the doors may
        },
    )
    assert sorted(framework_imports(root)) == [
        "indexer/cli.py:1 imports click",
        "indexer/web.py:2 imports starlette.responses",
    ]


def test_database_imports_in_the_doors_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "api/routes.py": "from sqlmodel import select\nfrom indexer import db\n",
            "api/cli.py": "def f():\n    from indexer.db.models import Row\n",
            "api/ok.py": "import sqlmodelish\nfrom indexer import usecases\n",
            "indexer/db/__init__.py": "",
            "indexer/usecases.py": "from sqlmodel import select\n",  # the library may
        },
    )
    assert sorted(database_imports(root)) == [
        "api/cli.py:2 imports indexer.db.models",
        "api/routes.py:1 imports sqlmodel",
        "api/routes.py:2 imports indexer.db",
    ]


def test_too_many_top_level_modules_are_counted(tmp_path: Path) -> None:
    root = _tree(tmp_path, {f"indexer/m{n:02}.py": "" for n in range(MAX_TOP_LEVEL)})
    (root / "indexer/sub").mkdir()
    (root / "indexer/sub/deep.py").touch()  # inside a package: not counted
    assert len(top_level_modules(root)) == MAX_TOP_LEVEL + 1  # __init__.py counts


def test_private_imports_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "indexer/search/__init__.py": "from indexer.search._query import parse\n",
            "indexer/search/_query.py": "def _clean(): ...\ndef parse(): ...\n",
            "indexer/search/_hybrid.py": (
                "from indexer.search import _query\n"
                "from ._query import parse\n"
                "from indexer.search._query import _clean\n"
            ),
            "indexer/search/sub/__init__.py": "import indexer.search._query\n",
            "indexer/reports.py": "from indexer.search import _query\n",
            "api/routes.py": (
                "def f():\n"
                "    from indexer.search._query import parse\n"
                "import indexer.search._hybrid\n"
                "from indexer.search import parse, __all__\n"
                "from indexer.search._hybrid import *\n"
                "from os import _exit\n"
            ),
        },
    )
    assert sorted(private_imports(root)) == [
        "api/routes.py:2 imports indexer.search._query, private to indexer.search",
        "api/routes.py:3 imports indexer.search._hybrid, private to indexer.search",
        "api/routes.py:5 imports indexer.search._hybrid, private to indexer.search",
        "api/routes.py:6 imports the private name os._exit",
        "indexer/reports.py:1 imports indexer.search._query, private to indexer.search",
        "indexer/search/_hybrid.py:3 imports the private name indexer.search._query._clean",
    ]


def test_every_filters_class_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "indexer/filters.py": "class Filters: ...\n",
            "api/deps.py": "def f():\n    class Filters: ...\n",
        },
    )
    assert sorted(filters_classes(root)) == ["api/deps.py:2", "indexer/filters.py:1"]
    assert filters_classes(_tree(tmp_path / "none", {})) == []


@pytest.mark.parametrize(
    ("module", "level", "name", "resolved"),
    [
        ("indexer/search/_hybrid.py", 1, "_query", "indexer.search._query"),
        ("indexer/search/_hybrid.py", 2, "filters", "indexer.filters"),
        ("indexer/search/__init__.py", 1, None, "indexer.search"),
        ("indexer/search/__init__.py", 2, "db", "indexer.db"),
    ],
)
def test_relative_imports_resolve_against_the_package(
    module: str, level: int, name: str | None, resolved: str
) -> None:
    path = Path(module)
    is_package = path.name == "__init__.py"
    parts = path.with_suffix("").parts
    dotted = ".".join(parts[:-1] if is_package else parts)
    assert _resolve(Module(dotted, path, is_package), name, level) == resolved
