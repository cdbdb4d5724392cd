"""Failing stages, signals and refusals: the run stops, says why, keeps what was done."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import Lines, copy_case, isolate, pid_alive, read, run_dirs

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_RUN_FAILED, EXIT_USAGE, RunFailedError, UsageError
from unip_kfp.local.result import StageFailedError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    return copy_case("steps", tmp_path)


def test_a_stage_exiting_3_stops_the_run_and_keeps_earlier_outputs(
    steps: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIP_TEST_MODE_s2", "exit3")
    echo = Lines()
    with pytest.raises(StageFailedError) as caught:
        unip_kfp.load(str(steps / "manifests")).run_local(inherit_env=True, echo=echo)
    error = caught.value
    assert isinstance(error, RunFailedError) and error.exit_code == EXIT_RUN_FAILED
    result = error.result
    assert result is not None
    log = Path(result.run_dir) / "logs" / "s2.log"
    assert str(error) == f"stage 's2' failed with exit code 3; log: {log}"
    assert [(s.name, s.status, s.exit_code) for s in result.stages] == [
        ("s1", "succeeded", 0),
        ("s2", "failed", 3),
        ("s3", "not run", None),
    ]
    assert "s2: failing on purpose" in read(log)
    assert "[s2] s2: failing on purpose" in echo.lines
    artifacts = Path(result.run_dir) / "artifacts"
    assert read(artifacts / "s1" / "a" / "chain") == "s1\n"  # the finished stage's output is kept
    assert not (artifacts / "s3").exists()  # the later stage never started
    assert not (Path(result.run_dir) / "logs" / "s3.log").exists()


def test_the_cli_exits_1_naming_stage_exit_code_and_log(
    steps: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIP_TEST_MODE_s2", "exit3")
    monkeypatch.chdir(steps)
    result = CliRunner().invoke(main, ["run", "manifests", "--inherit-env"])
    assert result.exit_code == EXIT_RUN_FAILED
    [run] = run_dirs(steps)
    assert f"unip-kfp: stage 's2' failed with exit code 3; log: {run}/logs/s2.log" in result.stderr
    assert re.search(r"^  s3 +not run", result.stderr, re.MULTILINE)


def test_a_stage_killed_by_sigterm_fails_the_run(
    steps: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIP_TEST_MODE_s1", "term")
    killed = r"stage 's1' was killed by SIGTERM \(exit code -15\)"
    with pytest.raises(StageFailedError, match=killed):
        unip_kfp.load(str(steps / "manifests")).run_local(inherit_env=True, echo=Lines())
    [run] = run_dirs(steps)
    assert not (run / "artifacts" / "s2").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_runner_kills_the_stage_process_group(
    steps: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    pids = tmp_path / "pids"
    env = dict(os.environ, UNIP_TEST_MODE_s2="sleep", UNIP_TEST_PIDS=str(pids))
    runner = subprocess.Popen(
        [sys.executable, "-m", "unip_kfp", "run", "manifests", "--inherit-env"],
        cwd=steps,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: SIGINT at its default. A pytest-xdist worker ignores SIGINT,
        # and an ignored signal stays ignored across exec (POSIX), which Python honours.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and pids.read_text().strip()):
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the sleeping stage never started"
            time.sleep(0.05)
        stage_pid, child_pid = map(int, pids.read_text().split())
        assert pid_alive(stage_pid) and pid_alive(child_pid)
        runner.send_signal(signum)
        _, stderr = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 128 + signum
    assert f"{signum.name} received: stopping s2" in stderr
    assert re.search(r"^  s2 +canceled", stderr, re.MULTILINE)
    # the stage and what it started are gone: no orphans
    deadline = time.monotonic() + 5
    while (pid_alive(stage_pid) or pid_alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(stage_pid)
    assert not pid_alive(child_pid)
    [run] = run_dirs(steps)
    assert read(run / "artifacts" / "s1" / "a" / "chain") == "s1\n"
    assert not (run / "artifacts" / "s3").exists()


def test_a_non_empty_output_folder_is_refused_before_anything_runs(steps: Path) -> None:
    dest = steps / "results"
    dest.mkdir()
    (dest / "old.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(steps / "manifests"), "-o", f"c={dest}"])
    assert result.exit_code == EXIT_USAGE
    assert f"{dest} is not empty" in result.stderr and "--force" in result.stderr
    assert run_dirs(steps) == []
    assert read(dest / "old.txt") == "keep me"


def test_force_replaces_a_non_empty_output_folder(steps: Path) -> None:
    dest = steps / "results"
    dest.mkdir()
    (dest / "old.txt").write_text("stale", encoding="utf-8")
    result = unip_kfp.load(str(steps / "manifests")).run_local(
        outputs={"c": str(dest)}, force=True, echo=Lines()
    )
    assert sorted(p.name for p in dest.iterdir()) == ["chain"]
    assert read(dest / "chain") == "s1\ns2\ns3\n"
    assert not result.kept and run_dirs(steps) == []


def test_an_existing_empty_output_folder_receives_the_output(steps: Path) -> None:
    dest = steps / "empty"
    dest.mkdir()
    unip_kfp.load(str(steps / "manifests")).run_local(outputs={"c": str(dest)}, echo=Lines())
    assert read(dest / "chain") == "s1\ns2\ns3\n"


def test_an_output_folder_holding_the_module_is_refused_even_with_force(steps: Path) -> None:
    with pytest.raises(UsageError, match="holds"):
        unip_kfp.load(str(steps / "manifests")).run_local(
            outputs={"c": str(steps.parent)}, force=True, echo=Lines()
        )
    assert run_dirs(steps) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "folder=./data"], "needs input(s) table: pass -i table=PATH_OR_VALUE"),
        (["-i", "table=./missing.csv", "-i", "folder=./data"], "no such file or folder"),
        (["-i", "tabel=./t.csv"], "did you mean 'table'?"),
    ],
    ids=["missing-required", "missing-file", "unknown-name"],
)
def test_bad_inputs_are_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    module = copy_case("chain", tmp_path)
    (module / "data").mkdir()
    monkeypatch.chdir(module)
    result = CliRunner().invoke(main, ["run", "manifests", *args])
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr
    assert run_dirs(module) == []


def test_exit_codes_through_python_m_unip_kfp(steps: Path) -> None:
    env = dict(os.environ, UNIP_TEST_MODE_s3="exit3")
    failed = subprocess.run(
        [sys.executable, "-m", "unip_kfp", "run", "manifests", "--inherit-env"],
        cwd=steps,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == EXIT_RUN_FAILED, failed.stderr
    assert "stage 's3' failed with exit code 3" in failed.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "unip_kfp", "run", "manifests", "-o", "nope=./x"],
        cwd=steps,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == EXIT_USAGE
    assert "'nope' is not an output of pipeline 'steps'" in unknown.stderr
