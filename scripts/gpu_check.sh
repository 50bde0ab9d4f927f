#!/usr/bin/env bash
# The GPU check (issue 13): the example case on CUDA in fp32 and TF32, run-to-run digests,
# GPU-vs-CPU drift per array, model-alone and end-to-end cells/s, and a synthetic plate
# scaled to the lab's 39,170 cells (goal: under 30 s). Finishes in under 5 minutes on one
# GPU; without CUDA it runs the CPU parts and says which CUDA parts it skipped.
#
#   scripts/gpu_check.sh [--work DIR] [--cells N] [--size PX]
#
# Python: $PYTHON, else python3. Missing wheels (anndata, zarr, numcodecs, ...) are taken
# from .whl/ when it exists (see docs/performance.md); the project itself is installed
# with `pip install --no-deps --no-build-isolation -e .`, or put on PYTHONPATH if that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore

if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/repro-golden-site .whl/*.whl
    export PYTHONPATH="/tmp/repro-golden-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import repro_golden" 2>/dev/null; then
    "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>/dev/null \
        || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" - <<'PYEOF'
import importlib.util
needed = ("torch", "lightning", "timm", "anndata", "zarr", "numcodecs", "xxhash", "pandas",
          "yaml", "tqdm", "repro_golden")
print(" ".join(n for n in needed if importlib.util.find_spec(n) is None))
PYEOF
)
if [ -n "$missing" ]; then
    echo "gpu_check: missing Python packages: $missing (put their wheels in .whl/)" >&2
    exit 2
fi
exec timeout 295 "$PY" scripts/gpu_check.py "$@"
