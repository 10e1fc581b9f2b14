"""The layers contract: imports inside src/tunebook point down only, and no module cycle.

An AST scan rather than import-linter: the contract also forbids cycles between sibling modules
of one package (``rounds.fidelity`` <-> ``rounds.lifecycle``), which import-linter's layers
contract does not see, and it counts imports inside functions, where lazy imports used to hide
cycles. Imports under ``if TYPE_CHECKING:`` are annotations only: they must still point down,
but they never run, so they do not count as cycles.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tunebook"

# Bottom to top. Packages in one tuple share a layer: they may not import each other unless the
# layer is marked shared (project.py and the demo: the demo is a session with a Project).
LAYERS: list[tuple[str, ...]] = [
    ("core", "errors"),
    ("store",),
    ("search",),
    ("rounds",),
    ("workers",),
    ("analysis",),
    ("experiments",),
    ("plots",),
    ("data", "pytorch"),
    ("integrations",),
    ("runbook", "interop"),
    ("project", "demo", "scaffold"),
    ("tools", "serve"),
    ("cli", "__main__"),
]
SHARED_LAYERS = {("core", "errors"), ("project", "demo", "scaffold"), ("cli", "__main__")}
# The package root re-exports names from every layer lazily; the examples are user code.
EXEMPT = {"tunebook", "tunebook.examples"}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported tunebook module, dotted
    line: int
    typing_only: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []

    def resolve(node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = name.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tunebook."):
                    edges.append(Edge(name, _existing(alias.name), node.lineno, typing_only))
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node)
            if base == "tunebook" or base.startswith("tunebook."):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in modules else base
                    edges.append(Edge(name, _existing(target), node.lineno, typing_only))
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    def _existing(target: str) -> str:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    visit(tree, False)
    return edges


def _layer(module: str) -> tuple[int, str] | None:
    parts = module.split(".")
    if len(parts) < 2 or module in EXEMPT or ".".join(parts[:2]) in EXEMPT:
        return None
    top = parts[1]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index, top
    raise AssertionError(f"{module}: package {top!r} is in no layer; add it to LAYERS")


@functools.cache
def _edges() -> list[Edge]:
    modules = _all_modules()
    return [edge for name, path in sorted(modules.items())
            for edge in _imports(name, path, modules)]


def layer_violations(edges: list[Edge]) -> list[str]:
    found = []
    for edge in edges:
        src, dst = _layer(edge.source), _layer(edge.target)
        if src is None or dst is None or src[1] == dst[1]:
            continue
        upward = dst[0] > src[0]
        sideways = dst[0] == src[0] and LAYERS[src[0]] not in SHARED_LAYERS
        if upward or sideways:
            how = "upward" if upward else "sideways"
            found.append(f"{edge.source}:{edge.line} imports {edge.target} ({how})")
    return found


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), runtime imports only."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if not edge.typing_only and edge.source != edge.target:
            graph.setdefault(edge.source, set()).add(edge.target)
            graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_imports_point_down_the_layers() -> None:
    violations = layer_violations(_edges())
    assert not violations, "upward or sideways imports:\n" + "\n".join(violations)


def test_no_import_cycle() -> None:
    found = cycles(_edges())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("source", "code", "expected"),
    [
        ("tunebook.analysis.x", "from tunebook.experiments import baseline", "upward"),
        ("tunebook.tools.agent", "def f():\n    from tunebook.cli import output", "upward"),
        ("tunebook.data.x", "import tunebook.pytorch.grad", "sideways"),
        ("tunebook.cli.x", "from tunebook.store import open_store", None),
        ("tunebook.rounds.x", "if TYPE_CHECKING:\n    from tunebook.runbook import x", "upward"),
    ],
)
def test_the_contract_catches_what_it_should(
    tmp_path: Path, source: str, code: str, expected: str | None
) -> None:
    """The scanner itself can fail: a planted import is reported (or not) as it should be."""
    path = tmp_path / "m.py"
    path.write_text(code + "\n")
    modules = _all_modules()
    found = layer_violations(_imports(source, path, modules))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and f"({expected})" in found[0]


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    path_a, path_b = tmp_path / "a.py", tmp_path / "b.py"
    path_a.write_text("def f():\n    from tunebook.rounds import b\n")
    path_b.write_text("from tunebook.rounds import a\n")
    modules = {**_all_modules(), "tunebook.rounds.a": path_a, "tunebook.rounds.b": path_b}
    edges = _imports("tunebook.rounds.a", path_a, modules) + _imports(
        "tunebook.rounds.b", path_b, modules
    )
    assert cycles(edges) == [["tunebook.rounds.a", "tunebook.rounds.b"]]


# What only the library may do: record in the store, create or run rounds, write decisions.
STORE_WRITES = ("add_decision", "add_trials", "create_round", "run_round", "worker_loop",
                "record_note", "record_report", "set_fidelity", "finish", "requeue")


# Modules whose import from cli/ means the CLI opens the store or runs work itself.
ORCHESTRATION = ("tunebook.store", "tunebook.rounds.lifecycle", "tunebook.rounds.fidelity",
                 "tunebook.workers.execute", "tunebook.experiments")


def orchestrates(module: str) -> bool:
    return module in ORCHESTRATION[:1] or any(
        module == m or module.startswith(m + ".") for m in ORCHESTRATION[1:])


def cli_store_writes(path: Path) -> list[str]:
    """Calls in a CLI module that write to the store (they belong in tunebook.project)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in STORE_WRITES:
                found.append(f"{path.name}:{node.lineno} calls {name}()")
        elif isinstance(node, ast.ImportFrom) and node.module:
            # Argument checks (check_args, check_within) run before anything opens: allowed.
            checks_only = all(a.name.startswith("check") for a in node.names)
            if orchestrates(node.module) and not checks_only:
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
    return found


def test_the_cli_holds_no_store_writes_and_no_orchestration() -> None:
    found = [hit for path in sorted((SRC / "cli").glob("*.py")) for hit in cli_store_writes(path)
             if "tunebook.store.files" not in hit]  # atomic_write of a file the user named
    assert not found, "the CLI should call tunebook.project instead:\n" + "\n".join(found)


def test_the_cli_check_catches_a_store_write(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from tunebook.workers.execute import run_round\n"
                    "def f(st):\n    st.add_decision('x', 'y', {})\n")
    assert len(cli_store_writes(path)) == 2
