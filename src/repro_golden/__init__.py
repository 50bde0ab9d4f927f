"""repro-golden: prove that an inference pipeline still produces the embeddings it did before.

Importing this package is cheap on purpose: nothing heavy (torch, Lightning,
anndata) is imported until a function that needs it runs.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("repro-golden")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
