"""The folders are the layers: imports run one way only, read from the import graph.

Every module under ``src/repro_golden`` is parsed (not imported) and each of its
``import`` statements, at module level or inside functions, is an edge. A layer
may import only from layers below it: ``core`` from nothing of ours but
``errors``; ``config`` from ``core``; ``inference`` from ``config`` and ``core``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "repro_golden"

#: layer -> the layers (first package component under repro_golden) it may import.
ALLOWED = {
    "core": {"core", "errors", "interrupts"},
    "config": {"config", "core", "errors", "interrupts"},
    "inference": {"inference", "config", "core", "errors", "interrupts"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if package is None:
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if module == "repro_golden":
                found += [(node.lineno, f"repro_golden.{alias.name}") for alias in node.names]
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "repro_golden" else None


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
