"""repro-golden: prove that an inference pipeline still produces the embeddings it did before.

Importing this package is cheap on purpose: nothing heavy (torch, Lightning,
anndata) is imported until a function that needs it runs, and even the
package's version is looked up only when asked for (``importlib.metadata``
costs tens of milliseconds, which every pytest start-up would pay through the
plugin).
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("repro-golden")
        except PackageNotFoundError:  # a source tree without install
            return "0+unknown"
    raise AttributeError(f"module 'repro_golden' has no attribute {name!r}")
