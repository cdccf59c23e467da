"""The package's shape, measured (issue 19): imports go one way, down the layers below, with no cycle and no writer
importing another; no function is more branchy than cyclomatic complexity 30 (radon) and no module longer than 700
lines. Each known exception is listed by name with the reason it is there, and an entry that no longer applies
fails too, so the lists only shrink."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cloudtrail_pack"
BACKENDS = ROOT / "backends"

#: Top to bottom (docs: README "Layout"; the lead's architecture of issue 19). A module imports only modules of its
#: own layer or of a layer below; within `artifacts`, a writer imports only `artifacts.common`.
LAYERS: list[tuple[str, ...]] = [
    ("cloudtrail_pack.cli",),
    ("cloudtrail_pack.registry",),
    ("cloudtrail_pack.artifacts",),
    ("cloudtrail_pack.release",),
    ("cloudtrail_pack.scan", "cloudtrail_pack.scan_pool", "cloudtrail_pack.scan_worker"),
    ("cloudtrail_pack.engine",),
    ("cloudtrail_pack.records", "cloudtrail_pack.records_seams"),
    ("cloudtrail_pack.compilation",),
    ("cloudtrail_pack.targets", "cloudtrail_pack.pack", "cloudtrail_pack.filters", "cloudtrail_pack.local_values",
     "cloudtrail_pack.lock",
     "cloudtrail_pack.validation", "cloudtrail_pack.attack"),
    ("cloudtrail_pack.project",),
    ("cloudtrail_pack.errors", "cloudtrail_pack"),
]

#: Imports against the layers that exist today, each with its reason. Remove an entry when its import goes.
UPWARD_ALLOWED: set[tuple[str, str]] = set()

#: Functions allowed over cyclomatic complexity 30, by "file:name", each with its reason (none: split a function instead).
COMPLEXITY_ALLOWED: set[str] = set()
MAX_COMPLEXITY = 30

#: Modules allowed over 700 lines, each with its reason (none: split a module by what it holds instead).
LENGTH_ALLOWED: set[str] = set()
MAX_LINES = 700


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(folder: Path, root: Path) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(folder.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The known modules `path` (module `name`) imports anywhere in it, a function's body included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]  # the submodule x.y if there is one, else x
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph(folder: Path, root: Path) -> dict[str, set[str]]:
    modules = _modules(folder, root)
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


PACK_GRAPH = _graph(PACKAGE, ROOT)


def _layer(module: str) -> int:
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py: add it to LAYERS"
    return best[0]


def _writer(module: str) -> str | None:
    """The writer a module belongs to (`cloudtrail_pack.artifacts.<writer>...`), None for artifacts.common."""
    parts = module.split(".")
    if parts[:2] != ["cloudtrail_pack", "artifacts"] or len(parts) < 3 or parts[2] == "common":
        return None
    return parts[2]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_walk_sees_the_known_imports():
    """The walk resolves relative, nested and function-level imports (else the checks below would pass on nothing)."""
    assert "cloudtrail_pack.release.context" in PACK_GRAPH["cloudtrail_pack.artifacts.cloudwatch"]
    assert "cloudtrail_pack.artifacts.common" in PACK_GRAPH["cloudtrail_pack.artifacts.athena"]
    assert "cloudtrail_pack.artifacts.splunk" in PACK_GRAPH["cloudtrail_pack.registry"]
    assert "cloudtrail_pack.registry" in PACK_GRAPH["cloudtrail_pack.cli.build"]  # imported inside the command
    assert "cloudtrail_pack.errors" in PACK_GRAPH["cloudtrail_pack.project"]


def test_no_import_cycle_in_the_package():
    """No cycle, the allowed upward imports aside (each is imported inside a function, not when its module loads)."""
    graph = {m: {i for i in imports if (m, i) not in UPWARD_ALLOWED} for m, imports in PACK_GRAPH.items()}
    assert _cycles(graph) == []


def test_imports_go_down_the_layers():
    upward = sorted(
        (module, imported)
        for module, imports in PACK_GRAPH.items()
        for imported in imports
        if _layer(imported) < _layer(module) and (module, imported) not in UPWARD_ALLOWED
    )
    assert upward == [], "a lower layer imports a higher one (tests/test_architecture.py LAYERS): " + ", ".join(
        f"{a} -> {b}" for a, b in upward
    )


def test_the_allowed_upward_imports_still_exist():
    stale = sorted(edge for edge in UPWARD_ALLOWED if edge[1] not in PACK_GRAPH.get(edge[0], set()))
    assert stale == [], f"remove from UPWARD_ALLOWED, the import is gone: {stale}"


def test_no_writer_imports_another_writer():
    crossing = sorted(
        (module, imported)
        for module, imports in PACK_GRAPH.items()
        for imported in imports
        if _writer(module) and _writer(imported) and _writer(module) != _writer(imported)
    )
    assert crossing == [], "share it through cloudtrail_pack/artifacts/common.py instead"


def test_release_knows_no_writer_and_no_registry():
    """The release is handed its targets and writers (release.build(..., targets=, writers=))."""
    for module, imports in PACK_GRAPH.items():
        if module.startswith("cloudtrail_pack.release"):
            assert not {i for i in imports if i.startswith(("cloudtrail_pack.artifacts", "cloudtrail_pack.registry"))}, module


def test_the_plugin_never_imports_the_pack():
    """backends/ is the pySigma plugin sigma-cli loads alone: it depends on nothing of cloudtrail_pack, and has no
    import cycle of its own."""
    modules = _modules(BACKENDS, BACKENDS)
    graph = {name: _imports(path, name, set(modules) | {"cloudtrail_pack"}) for name, path in modules.items()}
    assert sorted(m for m, imports in graph.items() if any(i.startswith("cloudtrail_pack") for i in imports)) == []
    assert _cycles({m: {i for i in imports if i in modules} for m, imports in graph.items()}) == []


# --- size and branching ---------------------------------------------------------------------------------------


def _sources() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(BACKENDS / "sigma").rglob("*.py")])


def _complexities() -> dict[str, int]:
    """{"file:Class.function": cyclomatic complexity} of every function and method (radon cc's numbers)."""
    out: dict[str, int] = {}
    for path in _sources():
        for block in cc_visit(path.read_text(encoding="utf-8")):
            if not isinstance(block, Function):
                continue
            name = f"{path.relative_to(ROOT).as_posix()}:" + (f"{block.classname}.{block.name}" if block.classname else block.name)
            out[name] = max(block.complexity, out.get(name, 0))
    return out


@pytest.fixture(scope="module")
def complexities() -> dict[str, int]:
    return _complexities()


def test_no_function_is_over_the_complexity_limit(complexities):
    over = {name: c for name, c in complexities.items() if c > MAX_COMPLEXITY and name not in COMPLEXITY_ALLOWED}
    assert over == {}, f"cyclomatic complexity over {MAX_COMPLEXITY} (radon cc): split these functions"


def test_the_complexity_allowlist_only_names_functions_still_over_it(complexities):
    stale = sorted(name for name in COMPLEXITY_ALLOWED if complexities.get(name, 0) <= MAX_COMPLEXITY)
    assert stale == [], f"remove from COMPLEXITY_ALLOWED, no longer over {MAX_COMPLEXITY}: {stale}"


def test_no_module_is_over_the_length_limit():
    lengths = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in _sources()}
    over = {name: n for name, n in lengths.items() if n > MAX_LINES and name not in LENGTH_ALLOWED}
    assert over == {}, f"modules over {MAX_LINES} lines: split them by what they hold"
    stale = sorted(name for name in LENGTH_ALLOWED if lengths.get(name, 0) <= MAX_LINES)
    assert stale == [], f"remove from LENGTH_ALLOWED, no longer over {MAX_LINES} lines: {stale}"
