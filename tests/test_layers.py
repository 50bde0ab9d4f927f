"""The folders are the layers: imports run one way only, read from the import graph.

Every module under ``src/repro_golden`` is parsed (not imported) and each of its
``import`` statements, at module level or inside functions, is an edge. A layer
may import only from layers below it: ``core`` from nothing of ours but
``errors``; ``config`` from ``core``; ``inference`` from ``config`` and ``core``.
Inside a layer the same holds for its parts (:data:`SUBLAYERS`): a part imports
only parts on a lower rank, never a peer or one above. No modules import each
other in a circle (beyond the known circles listed, which may only shrink). The
lightning runner, run by path in the lab's interpreter, imports nothing of ours
but its own modules and ``inference/probes.py``, and those import only the
standard library at import time.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "repro_golden"

#: layer -> the layers (first package component under repro_golden) it may import.
ALLOWED = {
    "core": {"core", "errors", "interrupts"},
    "config": {"config", "core", "errors", "interrupts"},
    "inference": {"inference", "config", "core", "errors", "interrupts"},
}

#: Folder (dotted, under repro_golden) -> its parts (modules and sub-folders) from the
#: ground up. A part may import a part of a lower rank only; the folder's own
#: ``__init__`` (its face) may hand on any of its parts. Every part must be placed.
SUBLAYERS: dict[str, Sequence[frozenset[str]]] = {
    "inference": (
        frozenset({"probes"}),  # stdlib only: what both pipelines measure the same way
        frozenset({"data", "model", "store_provenance"}),
        frozenset({"fingerprint", "writer", "oracle"}),
        frozenset({"pipelines"}),
        frozenset({"predict"}),  # the public entry: dispatches by PipelineKind
    ),
    "inference.pipelines": (
        frozenset({"runner"}),  # stdlib only, run by path in the lab's interpreter
        frozenset({"base"}),
        frozenset({"builtin", "lightning"}),
    ),
    "inference.pipelines.runner": (
        frozenset({"protocol", "classes", "infer01", "offline"}),
        frozenset({"events", "provenance"}),
        frozenset({"stages", "stop"}),
        frozenset({"predict"}),
        frozenset({"main"}),
        frozenset({"__main__"}),
    ),
}

#: Circles that existed before this check, each a set of modules (dotted, under
#: repro_golden). A circle not listed here, or larger than the one listed, fails.
KNOWN_CIRCLES: tuple[frozenset[str], ...] = ()
"""Import circles tolerated for now (none: the config circle went with config/case_file.py,
the plugin's with plugin/session_state.py). A new circle fails the test."""

#: The runner's import-time closure: these modules import the standard library only.
RUNNER = "inference.pipelines.runner"
STDLIB_ONLY = (RUNNER, "inference.probes")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_ours(module: str) -> bool:
    """Whether ``module`` (dotted, from ``repro_golden``) is a module or package in src."""
    parts = module.split(".")
    if parts[0] != "repro_golden":
        return False
    base = SRC.parent.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(
    path: Path, package: str | None = None, *, runtime_only: bool = False
) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, relative ones resolved.

    ``from package import name`` also yields ``package.name`` when that is a
    module of ours. ``runtime_only``: only the imports that run when the module
    is imported (not those inside functions).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in _walk(tree, skip_functions=runtime_only):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            for alias in node.names:
                child = f"{module}.{alias.name}"
                if module == "repro_golden" or _is_ours(child):
                    found.append((node.lineno, child))
    return found


def _walk(tree: ast.AST, *, skip_functions: bool) -> Iterable[ast.AST]:
    """``ast.walk``, leaving out function bodies when ``skip_functions``."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if skip_functions and isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            ):
                continue
            pending.append(child)


def _graph() -> dict[str, set[str]]:
    """Module (dotted, under repro_golden) -> the modules of ours it imports.

    ``from package import module`` is an edge to the module, not to the
    package's ``__init__`` (which Python runs first for any of its modules).
    """
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path).removeprefix("repro_golden.")
        found = [(line, m) for line, m in _imports(path) if m.startswith("repro_golden.")]
        parents = {(line, m.rpartition(".")[0]) for line, m in found if _is_ours(m)}
        graph[name] = {
            module.removeprefix("repro_golden.")
            for line, module in found
            if _is_ours(module) and (line, module) not in parents
        }
    return graph


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "repro_golden" else None


def sublayer_offences(
    importer: str, imported: str, sublayers: Mapping[str, Sequence[frozenset[str]]]
) -> list[str]:
    """Why ``importer`` may not import ``imported`` (dotted, under repro_golden), if it may not.

    For every folder of ``sublayers`` holding both, the part holding the imported
    module must rank below the part holding the importer (the folder's
    ``__init__`` may import its own parts).
    """
    problems = []
    for folder, ranks in sublayers.items():
        prefix = folder + "."
        if not (importer.startswith(prefix) and imported.startswith(prefix)):
            continue
        mine = importer.removeprefix(prefix).split(".")[0]
        theirs = imported.removeprefix(prefix).split(".")[0]
        if mine == theirs:
            continue
        rank = {part: i for i, parts in enumerate(ranks) for part in parts}
        if mine not in rank or theirs not in rank:
            missing = mine if mine not in rank else theirs
            problems.append(f"{folder}/{missing} has no rank in SUBLAYERS[{folder!r}]")
        elif rank[theirs] >= rank[mine]:
            where = "a peer" if rank[theirs] == rank[mine] else "a part above it"
            problems.append(f"{folder}/{mine} imports {where}: {folder}/{theirs}")
    return problems


def circles(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected components of ``graph`` with more than one module, or a
    module that imports itself (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop()
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(frozenset(component))
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_from_layers_below(layer: str) -> None:
    offences = []
    files = sorted((SRC / layer).rglob("*.py"))
    assert files, f"no modules under {SRC / layer}"
    for path in files:
        for line, module in _imports(path):
            target = _layer(module)
            if target is not None and target not in ALLOWED[layer]:
                offences.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert not offences, f"{layer}/ reaches up or sideways:\n" + "\n".join(offences)


def test_every_part_of_a_sublayered_folder_has_a_rank() -> None:
    for folder, ranks in SUBLAYERS.items():
        directory = SRC.joinpath(*folder.split("."))
        parts = {
            p.stem if p.is_file() else p.name
            for p in directory.iterdir()
            if (p.suffix == ".py" and p.name != "__init__.py")
            or (p.is_dir() and (p / "__init__.py").is_file())
        }
        ranked = set().union(*ranks)
        assert parts == ranked, (
            f"{folder}: unranked {sorted(parts - ranked)}, gone {sorted(ranked - parts)}"
        )


def test_no_module_imports_a_part_above_it_inside_its_layer() -> None:
    offences = [
        f"{importer} imports {imported}: {problem}"
        for importer, imported_modules in sorted(_graph().items())
        for imported in sorted(imported_modules)
        for problem in sublayer_offences(importer, imported, SUBLAYERS)
    ]
    assert not offences, "\n".join(offences)


def test_no_import_circle() -> None:
    new = [
        sorted(circle)
        for circle in circles(_graph())
        if not any(circle <= known for known in KNOWN_CIRCLES)
    ]
    assert not new, f"modules that import each other in a circle: {new}"


def test_the_runner_imports_only_the_standard_library_and_its_stdlib_only_modules() -> None:
    allowed = tuple(f"repro_golden.{m}" for m in STDLIB_ONLY)
    stdlib = sys.stdlib_module_names
    offences = []
    paths = [
        *sorted((SRC / "inference/pipelines/runner").glob("*.py")),
        SRC / "inference/probes.py",
    ]
    for path in paths:
        for line, module in _imports(path):
            if module.startswith("repro_golden") and not module.startswith(allowed):
                offences.append(f"{path.relative_to(SRC)}:{line} imports {module}")
        for line, module in _imports(path, runtime_only=True):
            top = module.split(".")[0]
            if top not in stdlib and top != "__future__" and not module.startswith(allowed):
                offences.append(f"{path.relative_to(SRC)}:{line} imports {module} at import time")
    assert len(paths) > 5
    assert not offences, "\n".join(offences)


def test_core_imports_no_heavy_library_anywhere_in_its_source() -> None:
    heavy = {"torch", "lightning", "pytorch_lightning", "timm", "anndata"}
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {module}"
        for path in sorted((SRC / "core").rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] in heavy
    ]
    assert not offences, "\n".join(offences)


def test_the_graph_reader_sees_a_planted_violation(tmp_path: Path) -> None:
    planted = SRC / "core" / "__init__.py"
    source = planted.read_text() + "\nfrom repro_golden.inference import predict\n"
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    modules = [m for _, m in _imports(probe, package="repro_golden.core")]
    assert "repro_golden.inference" in modules
    assert "repro_golden.inference.predict" in modules


def test_the_checks_see_a_planted_upward_import_a_circle_and_a_heavy_runner_import(
    tmp_path: Path,
) -> None:
    # probes (the ground) importing writer, a pipeline importing its peer, the runner
    # importing the base module above it: each an offence.
    assert sublayer_offences("inference.probes", "inference.writer", SUBLAYERS)
    assert sublayer_offences(
        "inference.pipelines.builtin", "inference.pipelines.lightning", SUBLAYERS
    )
    assert sublayer_offences(
        "inference.pipelines.runner.stages", "inference.pipelines.base", SUBLAYERS
    )
    assert not sublayer_offences("inference.predict", "inference.pipelines.builtin", SUBLAYERS)
    assert not sublayer_offences("inference.pipelines.runner.stages", "inference.probes", SUBLAYERS)
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert circles({"a": {"a"}}) == [frozenset("a")]
    assert circles({"a": {"b"}, "b": set()}) == []
    heavy = tmp_path / "stages.py"
    heavy.write_text("import torch\n\ndef f():\n    import lightning\n")
    assert [m for _, m in _imports(heavy, package="x", runtime_only=True)] == ["torch"]
