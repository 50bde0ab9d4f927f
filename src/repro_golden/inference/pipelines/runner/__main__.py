"""``python .../pipelines/runner/__main__.py SPEC.json``: the runner, run by path.

How the package's modules find each other in the lab's interpreter, where
repro-golden need not be installed (and may be another version): this file
mounts the folders it lives in under a private root name, ``_repro_golden_runner``
for ``inference/`` and ``_repro_golden_runner.pipelines`` for ``pipelines/``, as
bare packages whose ``__init__`` never runs (ours import more than the
standard library). ``_repro_golden_runner.pipelines.runner`` is then this
folder, and every module of it imports its siblings and
:mod:`repro_golden.inference.probes` by relative imports (``from .events``,
``from ...probes``), which resolve the same way under the mount as under
``repro_golden.inference`` in our interpreter. Nothing is added to
``sys.path`` (this folder is taken off it), so no module of ours shadows one
of the lab's, nor the reverse.

Run by path, ``__main__.__spec__`` is None, so Lightning's DDP launcher
relaunches every other rank as ``python <this file> SPEC.json`` too. With
``python -m repro_golden.inference.pipelines.runner`` (where repro-golden is
importable) the package is imported as itself.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

#: The private name ``inference/`` is mounted under when this file runs by path.
MOUNT = "_repro_golden_runner"


def _mount() -> ModuleType:
    """This folder as ``MOUNT.pipelines.runner``; returns its :mod:`.main` module."""
    here = os.path.dirname(os.path.abspath(__file__))
    # Run by path, this folder leads sys.path: its modules (events, stop, predict...)
    # would shadow the lab's top-level modules of the same names.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    pipelines = os.path.dirname(here)
    for name, folder in ((MOUNT, os.path.dirname(pipelines)), (f"{MOUNT}.pipelines", pipelines)):
        if name not in sys.modules:
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [folder]
            sys.modules[name] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{MOUNT}.pipelines.runner.main")


if __package__:  # python -m repro_golden.inference.pipelines.runner
    from .main import main
else:  # run by path (also re-run as __mp_main__ by a spawned worker)
    main = _mount().main

if __name__ == "__main__":
    sys.exit(main())
