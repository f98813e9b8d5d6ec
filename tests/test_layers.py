"""The package's layers (DESIGN.md): imports only go down, and no module imports itself back
through others. Read from the source with ``ast``, so a lazy import inside a function counts
too; this fails the moment a module reaches up a layer."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "smtpx"

# Lower number = lower layer. A module may import its own layer and the ones below it.
LAYERS: list[tuple[str, int]] = [
    ("smtpx._version", 0), ("smtpx.errors", 0), ("smtpx.enums", 0), ("smtpx.events", 0),
    ("smtpx.types", 0), ("smtpx.kernels", 0), ("smtpx._pure", 0), ("smtpx._core", 0),
    ("smtpx.validators", 0), ("smtpx.compiled", 0),
    ("smtpx.tls", 1), ("smtpx.transport", 1), ("smtpx.sasl", 1),
    ("smtpx.engine", 2),
    ("smtpx.message", 3), ("smtpx.queue", 3), ("smtpx.dkim", 3),
    ("smtpx.session", 4), ("smtpx.aio.stream", 1), ("smtpx.aio.handshake", 1),
    ("smtpx.aio.interrupt", 4), ("smtpx.aio.queue_run", 4),
    ("smtpx.facade", 5), ("smtpx.aio", 5), ("smtpx.pool", 5),
    ("smtpx.cli", 6), ("smtpx.__main__", 6),
    ("smtpx.django", 6),  # the integrations: the public API only
    ("smtpx.smtplib", 6),  # the smtplib drop-in: the facade, and the message and address parsers
    ("smtpx.celery", 6),  # Celery tasks on the pool, the message parser and the queue files
]
ROOT_NAMES = {"smtpx"}  # "from smtpx import tls" names a module; "from smtpx import SMTP" the package


def layer_of(module: str) -> int:
    if module == "smtpx":  # the package: its lazy public names reach the facade
        return 6
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), layer)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported smtpx module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, bool]] = []
    top_level = {id(node) for node in tree.body}
    type_checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue  # for the type checker only: never run
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module in ROOT_NAMES:  # from smtpx import tls -> smtpx.tls when it is a module
                names = [f"smtpx.{alias.name}" for alias in node.names
                         if (SRC / alias.name).is_dir() or (SRC / f"{alias.name}.py").exists()] or ["smtpx"]
        else:
            continue
        for name in names:
            if name == "smtpx" or name.startswith("smtpx."):
                found.append((name, id(node) in top_level))
    return found


MODULES = sorted(SRC.rglob("*.py"))


def test_every_module_is_in_a_layer():
    assert MODULES, f"no source found under {SRC}"
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_down(path):
    here = module_name(path)
    mine = layer_of(here)
    upward = [name for name, _top in imports_of(path) if name != "smtpx" and layer_of(name) > mine]
    assert not upward, f"{here} (layer {mine}) imports from a higher layer: {upward}"


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    known = {module_name(p) for p in MODULES}
    for path in MODULES:
        edges = set()
        for name, top in imports_of(path):
            if not top:
                continue
            while name not in known and "." in name:  # "smtpx.engine.X" where X is a name
                name = name.rsplit(".", 1)[0]
            if name in known and name != module_name(path):
                edges.add(name)
        graph[module_name(path)] = edges
    # A package importing its own submodules (re-exports) is not a cycle by itself.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(cycle, cycle[1:])):
                    cycles.append(" -> ".join(cycle))
            elif state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
