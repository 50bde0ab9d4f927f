"""``gpu`` and ``hpc`` markers skip with the exact reason; options pick cases and paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HPC_ENV_VARS = (
    "REPRO_GOLDEN_HPC_ROOT",
    "REPRO_GOLDEN_HPC_CKPT",
    "REPRO_GOLDEN_HPC_DATA",
    "REPRO_GOLDEN_HPC_TRACKS",
    "REPRO_GOLDEN_HPC_REFERENCE",
)


@pytest.fixture(autouse=True)
def _no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests here decide the cluster paths themselves, whatever the caller's shell has set."""
    for name in HPC_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_hpc_marker_names_every_missing_path(pytester: pytest.Pytester) -> None:
    root = pytester.path / "cluster"
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hpc
        def test_needs_cluster():
            pass
        """
    )
    result = pytester.runpytest("-rs", f"--golden-data-root={root}")
    result.assert_outcomes(skipped=1)
    for name in ("model.ckpt", "plate.zarr", "tracks.zarr", "reference.zarr"):
        result.stdout.fnmatch_lines([f"*{root / name} does not exist (from --golden-data-root*"])
    result.stdout.fnmatch_lines(["*set REPRO_GOLDEN_HPC_CKPT or --golden-data-root*"])


def test_hpc_marker_roles_and_env_vars(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = pytester.path / "elsewhere" / "weights.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not read by the marker")
    monkeypatch.setenv("REPRO_GOLDEN_HPC_CKPT", str(ckpt))
    tracks = pytester.path / "missing-tracks.zarr"
    monkeypatch.setenv("REPRO_GOLDEN_HPC_TRACKS", str(tracks))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hpc("ckpt")
        def test_only_checkpoint():
            pass

        @pytest.mark.hpc("ckpt", "tracks")
        def test_checkpoint_and_tracks():
            pass
        """
    )
    result = pytester.runpytest("-rs", f"--golden-data-root={pytester.path}")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [f"*hpc: tracks {tracks} does not exist (from $REPRO_GOLDEN_HPC_TRACKS*"]
    )
    result.stdout.no_fnmatch_line("*checkpoint*does not exist*")


def test_hpc_marker_unknown_role_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hpc("weights")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*unknown cluster path roles [[]'weights'[]]*"])
    assert result.ret != 0


def test_gpu_marker_skips_without_cuda(pytester: pytest.Pytester) -> None:
    import torch

    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpu
        def test_on_gpu():
            import torch
            assert torch.cuda.is_available()

        def test_on_cpu():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    if torch.cuda.is_available():
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        reason = "gpu: no CUDA device: torch.cuda.is_available() is False"
        result.stdout.fnmatch_lines([f"*{reason} (torch {torch.__version__}*"])


def test_cuda_is_probed_only_for_gpu_tests(pytester: pytest.Pytester) -> None:
    """A session without ``gpu`` tests never imports torch (start-up stays cheap)."""
    pytester.makepyfile(
        """
        import sys

        def test_torch_not_imported():
            assert "torch" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_golden_case_parametrizes_session_scoped(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        CALLS = []

        @pytest.fixture(scope="session")
        def prepared(golden_case_name):
            CALLS.append(golden_case_name)
            return golden_case_name

        def test_one(prepared, golden_case_name):
            assert prepared == golden_case_name

        def test_two(prepared):
            assert CALLS.count(prepared) == 1
        """
    )
    result = pytester.runpytest("-v", "--golden-case", "alpha,beta", "--golden-case=gamma")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_one[[]alpha[]]*", "*test_two[[]gamma[]]*"])


def test_default_cases_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        golden_cases = only
        golden_dir = refs
        """
    )
    pytester.makepyfile(
        """
        def test_case(golden_case_name, golden_settings):
            assert golden_case_name == "only"
            assert golden_settings.golden_dir("only") == golden_settings.rootpath / "refs" / "only"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_bad_case_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--golden-case", "../etc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--golden-case*expected a case name*got '../etc'*"])


def test_plugin_import_is_light() -> None:
    """Importing the plugin pulls in none of the heavy libraries (measured in a fresh process)."""
    heavy = ("torch", "lightning", "timm", "anndata", "numpy", "zarr", "pandas")
    code = (
        "import sys, repro_golden.plugin.hooks\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "", f"heavy modules imported by the plugin: {out.stdout}"


def test_plugin_registered_through_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("repro_golden") == "repro_golden.plugin.hooks"


def test_report_header_names_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--golden-case=example", f"--golden-data-root={Path('/nowhere')}")
    result.stdout.fnmatch_lines(
        ["repro-golden: cases example; golden files in *; cluster root /nowhere"]
    )


def test_relative_paths_resolve_like_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Option paths are relative to where pytest runs; ini paths to the ini file."""
    pytester.makeini("[pytest]\ngolden_dir = refs\n")
    sub = pytester.mkdir("sub")
    pytester.makepyfile(
        test_paths="""
        import os
        from pathlib import Path

        def test_paths(golden_settings):
            root = Path(os.environ["EXPECT_ROOT"])
            assert golden_settings.golden_root == Path(os.environ["EXPECT_GOLDEN"])
            assert golden_settings.cluster.root == root
            assert golden_settings.cluster.paths["ckpt"].path == root / "model.ckpt"
        """
    )
    monkeypatch.setenv("EXPECT_GOLDEN", str(pytester.path / "refs"))
    monkeypatch.setenv("EXPECT_ROOT", str(sub / "data"))
    monkeypatch.chdir(sub)
    result = pytester.runpytest(str(pytester.path / "test_paths.py"), "--golden-data-root=data")
    result.assert_outcomes(passed=1)
