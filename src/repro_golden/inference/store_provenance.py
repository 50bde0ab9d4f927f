"""Add repro-golden's provenance to an embeddings store another writer produced.

Torch-free (anndata and zarr only), so that the ``lightning`` pipeline's parent
process, which only streams events and publishes, never imports torch or
Lightning: the pipeline under test runs in its own interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: anndata's notice when it writes zarr v2 (the layout VisCy's readers expect).
ZARR_V2_NOTICE = r"Writing zarr v2 data will no longer be the default.*"


def attach_provenance(path: Path, provenance: Mapping[str, Any]) -> None:
    """Store ``provenance`` as ``uns["repro_golden"]`` in an existing store, in place.

    Used on a store another pipeline's writer produced (still at its private
    path, before publishing): only that one element is added or replaced, and
    consolidated metadata, where the store has it, is refreshed so readers see it.
    With anndata installed it writes the element; without it (a torch-free install
    calling the lab's interpreter) zarr writes the same encoding anndata uses for a
    string scalar, so anndata and :class:`~repro_golden.core.embeddings.EmbeddingsStore`
    read it back alike.
    """
    import zarr

    text = json.dumps(dict(provenance), sort_keys=True)
    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    uns = root.require_group("uns")
    if "repro_golden" in uns:
        del uns["repro_golden"]
    if importlib.util.find_spec("anndata") is not None:
        import anndata as ad

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=ZARR_V2_NOTICE, category=UserWarning)
            ad.io.write_elem(uns, "repro_golden", text)
    else:
        write_string_scalar(uns, "repro_golden", text)
    if (path / ".zmetadata").exists() or "consolidated_metadata" in _root_metadata(path):
        zarr.consolidate_metadata(str(path))


def write_string_scalar(group: Any, name: str, text: str) -> None:
    """``text`` as anndata's ``string`` element (encoding 0.2.0): a 0-d string array."""
    array = group.create_array(name, shape=(), dtype=str)
    array[()] = text
    array.attrs.update({"encoding-type": "string", "encoding-version": "0.2.0"})


def _root_metadata(path: Path) -> str:
    meta = path / "zarr.json"
    return meta.read_text(encoding="utf-8") if meta.is_file() else ""
