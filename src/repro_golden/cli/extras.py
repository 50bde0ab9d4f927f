"""Which optional extra a command needs, checked before any file is read.

A torch-free install (``pip install repro-golden``) has the golden-file commands;
``predict``, ``calibrate`` and ``triangulate`` need ``repro-golden[predict]``.
Checking with :func:`importlib.util.find_spec` (nothing is imported) before the
config is read means the user learns the one thing that no fixed path would cure
first, and in well under a second.
"""

from __future__ import annotations

import importlib.util

#: Top-level modules installed by ``repro-golden[predict]``; a command that needs
#: one where it is missing says which extra to install (exit 2), not a traceback.
PREDICT_EXTRA_MODULES = frozenset(
    {"torch", "lightning", "timm", "anndata", "pandas", "tqdm", "jsonargparse", "torchvision"}
)


def require_predict_extra(*modules: str) -> None:
    """Raise :class:`ModuleNotFoundError` (``name`` set) for the first of ``modules`` missing.

    The CLI's ``main`` turns it into exit 2 with ``pip install 'repro-golden[predict]'``.
    """
    for module in modules:
        if module not in PREDICT_EXTRA_MODULES:
            raise ValueError(f"{module!r} is not a module of the predict extra")
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
