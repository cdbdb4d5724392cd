"""`--parallel` packages run independent stages at the same time; default packages do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import Lines, copy_case, isolate, read, run_dirs

import unip_kfp
from unip_kfp.cli import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _window(folder: Path) -> tuple[float, float]:
    """(start, end) as the stage itself recorded them."""
    return float(read(folder / "start")), float(read(folder / "end"))


def test_parallel_package_overlaps_independent_stages(tmp_path: Path) -> None:
    module = copy_case("parallel", tmp_path)
    result = unip_kfp.load(str(module / "manifests")).run_local(
        parallel=True, jobs=2, keep=True, echo=Lines()
    )
    left = _window(Path(result.outputs["left"]))
    right = _window(Path(result.outputs["right"]))
    # each started before the other ended: they ran at the same time
    assert left[0] < right[1] and right[0] < left[1]
    stages = {s.name: s for s in result.stages}
    assert stages["left"].started < stages["right"].finished  # type: ignore[operator]
    assert stages["right"].started < stages["left"].finished  # type: ignore[operator]


def test_default_package_runs_them_one_after_the_other(tmp_path: Path) -> None:
    module = copy_case("parallel", tmp_path)
    result = unip_kfp.load(str(module / "manifests")).run_local(jobs=2, keep=True, echo=Lines())
    left = _window(Path(result.outputs["left"]))
    right = _window(Path(result.outputs["right"]))
    assert left[1] <= right[0]  # manifest order: right starts after left ended


def test_jobs_1_serialises_a_parallel_package(tmp_path: Path) -> None:
    module = copy_case("parallel", tmp_path)
    result = CliRunner().invoke(
        main, ["run", str(module / "manifests"), "--parallel", "--jobs", "1", "--keep"]
    )
    assert result.exit_code == 0, result.stderr
    [run] = run_dirs(module)
    windows = sorted(_window(run / "artifacts" / name / name) for name in ("left", "right"))
    assert windows[0][1] <= windows[1][0]
