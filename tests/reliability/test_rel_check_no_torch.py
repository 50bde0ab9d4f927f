"""``repro-golden check`` never imports torch (verdicts v3): a CI job that only checks
golden files stays fast, also for a store that records no environment (VisCy's own),
which used to make the check fingerprint its own process with torch (about 1.5 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rel_stores import write_store

from repro_golden.api import write_golden


def test_check_of_a_store_without_environment_imports_no_torch(tmp_path: Path) -> None:
    store = write_store(tmp_path / "viscy_like.zarr")  # no uns: no environment recorded
    write_golden(store, tmp_path / "g")
    code = (
        "import sys\n"
        "from repro_golden.cli import main\n"
        f"status = main(['check', {str(store)!r}, '--golden', {str(tmp_path / 'g')!r}])\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'anndata') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
    assert "records no environment" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "torch" not in imported
