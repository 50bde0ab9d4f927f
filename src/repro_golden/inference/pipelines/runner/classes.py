"""Class import: the ``class_path`` blocks of a config, and the objects they name."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


def class_paths(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(key, class_path)`` of every block in a parsed config, depth first."""
    if isinstance(node, Mapping):
        value = node.get("class_path")
        if isinstance(value, str):
            yield where or "class_path", value
        for key, child in node.items():
            yield from class_paths(child, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from class_paths(child, f"{where}[{i}]")


def import_class(path: str) -> Any:
    """The object ``path`` names (``package.module.Name``)."""
    module_name, _, attribute = path.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def namespace_classes(namespace: Any) -> dict[str, str]:
    """``key -> class_path`` of a parsed (jsonargparse) config."""
    value = namespace.as_dict() if hasattr(namespace, "as_dict") else namespace
    return dict(class_paths(value)) if isinstance(value, Mapping) else {}


def qualified(obj: Any) -> str:
    """``module.QualifiedName`` of ``obj``'s class (of ``obj`` itself when it is a class)."""
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"
