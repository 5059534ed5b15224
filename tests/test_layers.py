"""tapegrad's modules import only downward: no cycles, no upward imports, few imports in functions.

The package is read as text (with :mod:`ast`), so the test sees every import,
including those inside functions that a run might never execute.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tapegrad

PACKAGE = Path(tapegrad.__file__).parent

# The layers, lowest first. A module may import modules of its own layer or
# below; within a layer the absence of cycles fixes the order.
LAYERS: dict[str, int] = {
    "tapegrad.core.primitive": 1,
    "tapegrad.core.batch": 1,
    "tapegrad.core.gaps": 1,
    "tapegrad.core.float_math": 1,
    "tapegrad.core.numpy_math": 1,
    "tapegrad.core.rule_table": 1,
    "tapegrad.core.records": 1,
    "tapegrad.core.tape": 1,
    "tapegrad.core.names": 1,
    "tapegrad.core.traced": 2,
    "tapegrad.core.functions": 2,
    "tapegrad.core.tree": 2,
    "tapegrad.core.tree_utils": 2,
}
SUBPACKAGE_LAYERS = {"tapegrad.core": 1, "tapegrad.interpret": 3, "tapegrad.compiler": 3, "tapegrad.transforms": 4, "tapegrad.explore": 5}
TOP_LAYER = 5  # tapegrad/__init__.py, the views (tables, dot, explore) and the library (nn, datasets, testing, ...)

# Imports inside functions, each for a stated reason. Adding one must be a decision.
FUNCTION_LEVEL_IMPORTS = {
    # Only the back-end dispatch knows the version-specific assemblers, and
    # each Python version loads only its own.
    ("tapegrad.compiler.backends", "tapegrad.compiler.bytecode310"),
    ("tapegrad.compiler.backends", "tapegrad.compiler.bytecode311"),
    ("tapegrad.compiler.backends", "tapegrad.compiler.bytecode312"),
    ("tapegrad.compiler.backends", "tapegrad.compiler.bytecode313"),
    # Optional third-party packages, imported only when asked for (NumPy
    # when the first numpy batch is made, so that importing tapegrad stays
    # quick and works without it).
    ("tapegrad.dot", "graphviz"),
    ("tapegrad.core.batch", "numpy"),
    # SciPy only for SparseMatrix.to_scipy and Sparsity.to_scipy (the `sparse` extra).
    ("tapegrad.transforms.sparse", "scipy.sparse"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    """The layer of a tapegrad module (a subpackage's ``__init__`` is in its subpackage's layer)."""
    if name in LAYERS:
        return LAYERS[name]
    for package, level in SUBPACKAGE_LAYERS.items():
        if name == package or name.startswith(package + "."):
            return level
    return TOP_LAYER


def _absolute(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The module an ImportFrom names, with a relative import (``from ..x import y``) resolved."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                source = _absolute(name, path, child)
                for alias in child.names:
                    # ``from tapegrad.core import tape`` imports a module;
                    # ``from tapegrad.core.tape import Tape`` a name in one.
                    full = f"{source}.{alias.name}"
                    found.append((full if full in modules else source, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    in_functions: list[tuple[str, str]] = []
    for name, path in modules.items():
        for target, inside in _imports(name, path, modules):
            if inside:
                in_functions.append((name, target))
            if target == "tapegrad" or target.startswith("tapegrad."):
                graph[name].add(target)
    return graph, in_functions


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as a list of modules, or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            found = dfs(start)
            if found:
                return found
    return []


def test_the_package_has_no_import_cycle() -> None:
    graph, _ = _graph()
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_every_import_points_down() -> None:
    graph, _ = _graph()
    upward = [
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in graph.items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert upward == []


def test_imports_inside_functions_are_counted_and_each_has_a_reason() -> None:
    _, in_functions = _graph()
    assert set(in_functions) == FUNCTION_LEVEL_IMPORTS, sorted(in_functions)
    assert len(in_functions) == len(FUNCTION_LEVEL_IMPORTS)


def test_every_module_of_the_package_is_in_a_known_layer() -> None:
    for name in _modules():
        if name.startswith(("tapegrad.core.", "tapegrad.interpret.", "tapegrad.compiler.", "tapegrad.transforms.")):
            assert layer(name) < TOP_LAYER
    # the core's order, spelled out: the tape knows nothing of traced values
    assert layer("tapegrad.core.tape") < layer("tapegrad.core.traced") < layer("tapegrad.interpret.sweep")
    assert layer("tapegrad.interpret.sweep") < layer("tapegrad.transforms.grad") < layer("tapegrad.nn")
    assert layer("tapegrad.explore.page") == layer("tapegrad.tables") == TOP_LAYER
    # Sparse derivatives: patterns and colorings read tapes and integers only; the transform sweeps.
    for below in ("tapegrad.interpret.sparsity", "tapegrad.interpret.coloring"):
        assert layer("tapegrad.core.tape") < layer(below) < layer("tapegrad.transforms.sparse")
    assert layer("tapegrad.transforms.jit") == layer("tapegrad.transforms.sparse")
    # jit's compiler sits beside the interpreters, below the transform that drives it.
    assert layer("tapegrad.core.tape") < layer("tapegrad.compiler.program") == layer("tapegrad.interpret.sweep")
    assert layer("tapegrad.compiler.backends") < layer("tapegrad.transforms.jit")


def test_the_compiler_and_the_interpreters_do_not_import_each_other() -> None:
    # Two rooms on one floor: jit's compiler reads the core only, and the
    # sweeps know nothing of the compiler.
    graph, _ = _graph()
    crossing = [
        f"{source} imports {target}"
        for source, targets in graph.items()
        for target in targets
        for a, b in (("tapegrad.compiler", "tapegrad.interpret"), ("tapegrad.interpret", "tapegrad.compiler"))
        if source.startswith(a) and (target == b or target.startswith(b + "."))
    ]
    assert crossing == []


def test_only_the_back_end_dispatch_knows_the_bytecode_assemblers() -> None:
    graph, _ = _graph()
    assemblers = {m for m in _modules() if m.startswith("tapegrad.compiler.bytecode3")}
    assert len(assemblers) == 4  # 3.10 to 3.13
    for source, targets in graph.items():
        for target in targets & (assemblers | {"tapegrad.compiler.assembler"}):
            # The dispatch loads a version's module; a version's module uses the shared assembler.
            allowed = source == "tapegrad.compiler.backends" if target in assemblers else source in assemblers
            assert allowed, f"{source} imports {target}: only backends.make_replay may know the assemblers"


def test_relative_and_subpackage_imports_are_seen(tmp_path: Path) -> None:
    # The checks above must not be blind to ``from ..transforms import grad``
    # or to ``import tapegrad.transforms`` in the core.
    core = tmp_path / "tapegrad" / "core"
    core.mkdir(parents=True)
    (tmp_path / "tapegrad" / "__init__.py").write_text("")
    (core / "__init__.py").write_text("")
    fake = core / "tape.py"
    fake.write_text("from ..transforms import grad\nimport tapegrad.transforms\nfrom . import records\n")
    modules = {"tapegrad.transforms.grad": fake, "tapegrad.core.records": fake}
    found = {target for target, _ in _imports("tapegrad.core.tape", fake, modules)}
    assert found == {"tapegrad.transforms.grad", "tapegrad.transforms", "tapegrad.core.records"}
    assert layer("tapegrad.transforms") > layer("tapegrad.core.tape")


def test_the_gradient_checkers_sit_above_the_transforms_they_check() -> None:
    # linearize and checkpoint are transforms; the checkers (dot-product test,
    # Taylor test, per-example gradients) are library code built on them.
    for name in ("tapegrad.transforms.linearize", "tapegrad.transforms.checkpoint"):
        assert layer(name) == SUBPACKAGE_LAYERS["tapegrad.transforms"]
    for name in ("tapegrad.testing.checks", "tapegrad.testing.taylor", "tapegrad.testing.per_example"):
        assert name in _modules() and layer(name) == TOP_LAYER
