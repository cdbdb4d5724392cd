"""`run --reuse`: a stage is skipped exactly when its image, command, inputs and code are
the same as in a stored result; what changed reruns, with everything downstream of it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import Lines, isolate, manifest, read, stage, write_module

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.local.result import LocalRunResult

_SCRIPTS = {
    "left.sh": 'cat "$UNIP_PIPELINE_A" > "$UNIP_PIPELINE_MA/a"\n',
    "right.sh": 'cat "$UNIP_PIPELINE_B" > "$UNIP_PIPELINE_MB/b"\n',
    "join.sh": 'cat "$UNIP_PIPELINE_MA/a" "$UNIP_PIPELINE_MB/b" > "$UNIP_PIPELINE_OUT/out"\n',
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _module(tmp_path: Path, left_env: dict[str, str] | None = None) -> Path:
    """left(a) -> ma, right(b) -> mb, join(ma, mb) -> out; inputs a and b in data/."""
    folder = tmp_path / "module"
    pipeline = manifest("ExperimentPipeline", "fan", {
        "vars": [{"name": n} for n in ("a", "b", "ma", "mb", "out")],
        "stages": [
            stage("left", ["sh", "src/left.sh"], ["a"], ["ma"], env=left_env),
            stage("right", ["sh", "src/right.sh"], ["b"], ["mb"]),
            stage("join", ["sh", "src/join.sh"], ["ma", "mb"], ["out"]),
        ],
    })
    write_module(folder, pipeline, _SCRIPTS)
    (folder / "data").mkdir()
    (folder / "data" / "a.txt").write_text("alpha\n")
    (folder / "data" / "b.txt").write_text("beta\n")
    return folder


def _run(folder: Path, echo: Lines | None = None) -> LocalRunResult:
    data = folder / "data"
    return unip_kfp.load(str(folder / "manifests")).run_local(
        inputs={"a": str(data / "a.txt"), "b": str(data / "b.txt")}, reuse=True, keep=True,
        echo=echo or Lines())


def _statuses(result: LocalRunResult) -> dict[str, str]:
    return {s.name: s.status for s in result.stages}


def _entries(folder: Path) -> list[Path]:
    return sorted((folder / ".unip-kfp" / "cache" / "entries").iterdir())


def test_an_unchanged_run_reuses_every_stage_and_hands_on_the_same_outputs(
    tmp_path: Path,
) -> None:
    folder = _module(tmp_path)
    first = _run(folder)
    lines = Lines()
    second = _run(folder, lines)
    assert _statuses(first) == dict.fromkeys(("left", "right", "join"), "succeeded")
    assert _statuses(second) == dict.fromkeys(("left", "right", "join"), "reused")
    assert {s.reused_from for s in second.stages} == {first.run_id}
    assert second.succeeded
    assert read(Path(second.outputs["out"]) / "out") == "alpha\nbeta\n"
    assert f"left: reused the result of run {first.run_id}" in lines.text
    assert f"reused from {first.run_id}" in lines.text  # the summary table
    assert "reused the result" in read(second.stage("join").log_path or "")


def test_a_changed_input_byte_reruns_exactly_the_stages_downstream_of_it(
    tmp_path: Path,
) -> None:
    folder = _module(tmp_path)
    _run(folder)
    (folder / "data" / "b.txt").write_text("bets\n")  # same size, one byte
    result = _run(folder)
    assert _statuses(result) == {"left": "reused", "right": "succeeded", "join": "succeeded"}
    assert read(Path(result.outputs["out"]) / "out") == "alpha\nbets\n"


def test_a_changed_script_reruns_its_stage_and_everything_after_it(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    _run(folder)
    script = folder / "src" / "left.sh"
    script.write_text(script.read_text() + 'echo more >> "$UNIP_PIPELINE_MA/a"\n')
    result = _run(folder)
    assert _statuses(result) == {"left": "succeeded", "right": "reused", "join": "succeeded"}
    assert read(Path(result.outputs["out"]) / "out") == "alpha\nmore\nbeta\n"
    last = folder / "src" / "join.sh"  # the example's case: only the last stage changed
    last.write_text(last.read_text() + "true\n")
    assert _statuses(_run(folder)) == {"left": "reused", "right": "reused", "join": "succeeded"}


def test_cache_key_files_are_code_and_other_files_are_not(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    (folder / "src" / "lib").mkdir()
    (folder / "src" / "lib" / "helpers.sh").write_text("x=1\n")
    (folder / "notes.md").write_text("draft\n")
    (folder / "unip-kfp.yaml").write_text("stages:\n  right: {cacheKeyFiles: [src/lib/**]}\n")
    _run(folder)
    (folder / "notes.md").write_text("changed\n")  # named by no command, listed nowhere
    assert set(_statuses(_run(folder)).values()) == {"reused"}
    (folder / "src" / "lib" / "helpers.sh").write_text("x=2\n")
    result = _run(folder)
    # right's output is the same bytes as before, so join's inputs did not change
    assert _statuses(result) == {"left": "reused", "right": "succeeded", "join": "reused"}


def test_a_failed_stage_stores_nothing(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    join = folder / "src" / "join.sh"
    join.write_text(join.read_text() + "exit 3\n")
    with pytest.raises(unip_kfp.StageFailedError):
        _run(folder)
    assert len(_entries(folder)) == 2  # left and right; the failed join none
    join.write_text(_SCRIPTS["join.sh"])
    assert _statuses(_run(folder)) == {"left": "reused", "right": "reused", "join": "succeeded"}


def test_a_damaged_entry_is_detected_and_recomputed(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    first = _run(folder)
    stored = next(p for p in (folder / ".unip-kfp" / "cache" / "entries").glob("*/outputs/mb/b"))
    os.chmod(stored, 0o644)
    stored.write_text("evil\n")  # same size; the stored hash no longer matches
    joined = next(e for e in _entries(folder) if (e / "outputs" / "out").exists())
    (joined / "entry.json").write_text("{not json")  # and one unreadable entry
    lines = Lines()
    result = _run(folder, lines)
    assert "right: the stored result of run" in lines.text and "damaged" in lines.text
    assert result.stage("right").status == "succeeded"
    assert read(Path(result.outputs["out"]) / "out") == "alpha\nbeta\n"
    assert first.run_id and len(_entries(folder)) == 3  # both replaced by sound entries
    assert set(_statuses(_run(folder)).values()) == {"reused"}


def test_two_runs_of_one_module_at_once_share_the_store_safely(tmp_path: Path) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    folder = _module(tmp_path, left_env={"SYNC": str(sync)})
    script = folder / "src" / "left.sh"  # each left says it started, then waits for `go`
    script.write_text('touch "$SYNC/started.$$"; i=0; while [ ! -e "$SYNC/go" ] && '
                      '[ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n' + _SCRIPTS["left.sh"])
    other: list[LocalRunResult] = []
    # a second run in a thread: its own store handle, sqlite connection and flock
    # descriptors, as a second process has
    thread = threading.Thread(target=lambda: other.append(_run(folder)), daemon=True)
    thread.start()

    def release() -> None:  # once both lefts run, both store the same keys together
        deadline = time.monotonic() + 20
        while len(list(sync.glob("started.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        (sync / "go").touch()

    threading.Thread(target=release, daemon=True).start()
    mine = _run(folder)
    thread.join(timeout=30)
    assert mine.succeeded and other and other[0].succeeded
    assert len(list(sync.glob("started.*"))) == 2 and mine.run_id != other[0].run_id
    assert len(_entries(folder)) == 3  # one per key, whoever stored it first
    assert not list((folder / ".unip-kfp" / "cache" / "tmp").iterdir())
    assert set(_statuses(_run(folder)).values()) == {"reused"}


def test_cache_list_and_prune(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    first = _run(folder)
    runner = CliRunner()
    listed = runner.invoke(main, ["cache", "list", "--workdir", str(folder)])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count(first.run_id) == 3 and "join" in listed.stdout
    kept = runner.invoke(main, ["cache", "prune", "--older-than", "1d", "--workdir", str(folder)])
    assert kept.exit_code == 0 and len(_entries(folder)) == 3
    small = runner.invoke(main, ["cache", "prune", "--max-size", "12", "--workdir", str(folder)])
    assert small.exit_code == 0 and len(_entries(folder)) == 1  # 6 + 5 + 11 bytes: join's kept
    bad = runner.invoke(main, ["cache", "prune", "--older-than", "soon", "--workdir",
                               str(folder)])
    assert bad.exit_code == 2 and "7d" in bad.stderr
    everything = runner.invoke(main, ["cache", "prune", "--workdir", str(folder)])
    assert everything.exit_code == 0 and _entries(folder) == []
    assert (folder / "data" / "a.txt").read_text() == "alpha\n"  # nothing of the user's
    assert len(list((folder / ".unip-kfp" / "runs").iterdir())) == 1


def test_reuse_is_refused_for_kubeflow_runs(tmp_path: Path) -> None:
    folder = _module(tmp_path)
    result = CliRunner().invoke(main, ["run", str(folder / "manifests"), "--reuse", "--host",
                                       "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "--local" in result.stderr
