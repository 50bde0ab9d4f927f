"""tests/pipelines: the tiny case helper lives in tests/inference."""

from __future__ import annotations

import sys
from pathlib import Path

_INFERENCE = str(Path(__file__).resolve().parents[1] / "inference")
if _INFERENCE not in sys.path:
    sys.path.insert(0, _INFERENCE)
