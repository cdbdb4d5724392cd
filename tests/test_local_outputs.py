"""Outputs are never lost or half-written; links in them behave as the launcher's upload
(issue 9, points 3 to 6)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import (
    Lines,
    copy_case,
    isolate,
    manifest,
    read,
    run_dirs,
    stage,
    write_module,
)
from support.s3_server import S3Endpoint, create_bucket

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_RUN_FAILED, EXIT_USAGE, UsageError
from unip_kfp.local import destinations as destinations_module
from unip_kfp.local.result import StageFailedError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): (p.read_text() if p.is_file() else "/")
            for p in sorted(folder.rglob("*"))}


def _two_outputs(tmp_path: Path) -> Path:
    """A module whose one stage reads `data` and writes `summary` and `report`."""
    pipeline = manifest("ExperimentPipeline", "two", {
        "vars": [{"name": "data"}, {"name": "summary"}, {"name": "report"}],
        "stages": [stage("s", ["sh", "src/s.sh"], ["data"], ["summary", "report"])],
    })
    script = 'echo sum > "$UNIP_PIPELINE_SUMMARY/summary.txt"\n' \
        'echo rep > "$UNIP_PIPELINE_REPORT/report.txt"\n' \
        '[ "${FAIL_NOW-}" = 1 ] && exit 4; true\n'
    manifests = write_module(tmp_path / "module", pipeline, {"s.sh": script})
    (manifests.parent / "data").mkdir()
    (manifests.parent / "data" / "in.txt").write_text("input\n", encoding="utf-8")
    return manifests


def _cli(manifests: Path, *args: str) -> object:
    old = os.getcwd()
    os.chdir(manifests.parent)
    try:
        return CliRunner().invoke(main, ["run", "manifests", "-i", "data=./data", *args])
    finally:
        os.chdir(old)


# --- 3 and 4: destinations checked before anything runs, even with --force ---------------------


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (["summary=./n4/inner", "report=./n4"], "one folder holds the other"),
        (["summary=./same", "report=./same"], "one folder holds the other"),
        (["summary=./manifests"], "overlaps the manifests"),
        (["summary=./data"], "overlaps input 'data'"),
        (["summary=./data/in.txt"], "exists and is not a folder"),
        (["summary=./data/sub"], "overlaps input 'data'"),
        (["summary=."], "holds the module folder"),
        (["summary=.."], "holds the module folder"),
        (["summary=./.unip-kfp"], "where local runs and boxes live"),
        (["summary=./.unip-kfp/runs/x"], "where local runs and boxes live"),
    ],
    ids=["nested", "equal", "manifests", "input", "input-file", "inside-input", "workdir",
         "above-workdir", "state", "inside-state"],
)
def test_destinations_that_would_lose_data_are_refused_even_with_force(
    tmp_path: Path, outputs: list[str], message: str
) -> None:
    manifests = _two_outputs(tmp_path)
    module = manifests.parent
    (module / ".unip-kfp" / "boxes").mkdir(parents=True)
    before = _snapshot(module)
    args = [a for o in outputs for a in ("-o", o)]
    outcome = _cli(manifests, *args, "--force")
    assert outcome.exit_code == EXIT_USAGE, outcome.stderr  # type: ignore[attr-defined]
    assert message in outcome.stderr  # type: ignore[attr-defined]
    assert _snapshot(module) == before and run_dirs(module) == []


def test_a_folder_inside_the_module_folder_is_fine(tmp_path: Path) -> None:
    manifests = _two_outputs(tmp_path)
    outcome = _cli(manifests, "-o", "summary=./results/summary", "-o", "report=./results/report")
    assert outcome.exit_code == 0, outcome.stderr  # type: ignore[attr-defined]
    assert read(manifests.parent / "results" / "summary" / "summary.txt") == "sum\n"
    assert read(manifests.parent / "results" / "report" / "report.txt") == "rep\n"


def test_force_replaces_only_after_success_and_a_failure_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = _two_outputs(tmp_path)
    dest = manifests.parent / "results"
    dest.mkdir()
    (dest / "old.txt").write_text("old\n", encoding="utf-8")
    monkeypatch.setenv("FAIL_NOW", "1")
    failed = _cli(manifests, "-o", "summary=./results", "--force", "--inherit-env")
    assert failed.exit_code == EXIT_RUN_FAILED  # type: ignore[attr-defined]
    assert _snapshot(dest) == {"old.txt": "old\n"}
    monkeypatch.delenv("FAIL_NOW")
    # a failure while the new copy is written (the disk fills up) leaves the old content too
    real_copytree = shutil.copytree

    def full_disk(src: str, dst: str, **kwargs: object) -> object:
        os.makedirs(dst)
        Path(dst, "half.txt").write_text("half", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", full_disk)
    broken = _cli(manifests, "-o", "summary=./results", "--force")
    assert broken.exit_code == EXIT_RUN_FAILED, broken.stderr  # type: ignore[attr-defined]
    assert "No space left on device" in broken.stderr  # type: ignore[attr-defined]
    assert "what was there is unchanged" in broken.stderr  # type: ignore[attr-defined]
    assert _snapshot(dest) == {"old.txt": "old\n"}
    assert [p.name for p in dest.parent.iterdir() if "unip-kfp" in p.name] == [".unip-kfp"]
    monkeypatch.setattr(shutil, "copytree", real_copytree)
    done = _cli(manifests, "-o", "summary=./results", "--force")
    assert done.exit_code == 0, done.stderr  # type: ignore[attr-defined]
    assert _snapshot(dest) == {"summary.txt": "sum\n"}


def test_a_link_to_a_folder_as_destination_keeps_the_link_and_replaces_the_content(
    tmp_path: Path,
) -> None:
    manifests = _two_outputs(tmp_path)
    real = tmp_path / "big-disk" / "results"
    real.mkdir(parents=True)
    (real / "old.txt").write_text("old", encoding="utf-8")
    (manifests.parent / "results").symlink_to(real)
    outcome = _cli(manifests, "-o", "summary=./results", "--force")
    assert outcome.exit_code == 0, outcome.stderr  # type: ignore[attr-defined]
    assert (manifests.parent / "results").is_symlink()
    assert _snapshot(real) == {"summary.txt": "sum\n"}


def test_python_outputs_are_named_as_python_names_them(tmp_path: Path) -> None:
    manifests = _two_outputs(tmp_path)
    with pytest.raises(UsageError, match=r"outputs\['summary'\].*one folder holds the other"):
        unip_kfp.load(str(manifests)).run_local(
            inputs={"data": manifests.parent / "data"},
            outputs={"report": tmp_path / "r", "summary": tmp_path / "r" / "s"},
            echo=Lines(),
        )


# --- 5: -o to S3 and to boxes ------------------------------------------------------------------


def _use_s3(monkeypatch: pytest.MonkeyPatch, server: S3Endpoint) -> None:
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_REGION", server.region)


def _objects(client: object, bucket: str, prefix: str) -> dict[str, bytes]:
    found = {}
    for item in client.list_objects(bucket, prefix, recursive=True):  # type: ignore[attr-defined]
        response = client.get_object(bucket, item.object_name)  # type: ignore[attr-defined]
        found[item.object_name] = response.read()
        response.close()
    return found


def test_an_s3_destination_is_uploaded_and_force_removes_stale_objects_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    client = create_bucket(s3_server, "results")
    _use_s3(monkeypatch, s3_server)
    manifests = _two_outputs(tmp_path)
    outcome = _cli(manifests, "-o", "summary=s3://results/out", "-o", "report=minio://results/r")
    assert outcome.exit_code == 0, outcome.stderr  # type: ignore[attr-defined]
    assert _objects(client, "results", "") == {"out/summary.txt": b"sum\n",
                                               "r/report.txt": b"rep\n"}
    assert not list(manifests.parent.glob("s3*")) and not list(manifests.parent.glob("minio*"))
    client.put_object("results", "out/stale.txt", io.BytesIO(b"x"), 1)
    refused = _cli(manifests, "-o", "summary=s3://results/out")
    assert refused.exit_code == EXIT_USAGE  # type: ignore[attr-defined]
    assert "already holds 2 object(s)" in refused.stderr  # type: ignore[attr-defined]
    forced = _cli(manifests, "-o", "summary=s3://results/out", "--force")
    assert forced.exit_code == 0, forced.stderr  # type: ignore[attr-defined]
    assert _objects(client, "results", "out/") == {"out/summary.txt": b"sum\n"}


def test_an_s3_destination_without_an_endpoint_is_refused_before_the_run(tmp_path: Path) -> None:
    manifests = _two_outputs(tmp_path)
    outcome = _cli(manifests, "-o", "summary=s3://bucket/out")
    assert outcome.exit_code == EXIT_USAGE  # type: ignore[attr-defined]
    assert "is in S3" in outcome.stderr  # type: ignore[attr-defined]
    assert run_dirs(manifests.parent) == [] and not (manifests.parent / "s3:").exists()


def test_a_box_path_destination_writes_into_the_local_box(tmp_path: Path) -> None:
    module = copy_case("chain", tmp_path)
    data = module / "data"
    (data / "folder").mkdir(parents=True)
    (data / "table.csv").write_text("h\n1\n", encoding="utf-8")
    (data / "folder" / "a.txt").write_text("a\n", encoding="utf-8")
    box = module / ".unip-kfp" / "boxes" / "chain-box"
    box.mkdir(parents=True)
    unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": str(data / "table.csv"), "folder": str(data / "folder")},
        outputs={"result": "results/run1"}, echo=Lines())
    written = box / "users" / "tester" / "file_groups" / "results" / "run1"
    assert read(written / "model.txt") == "rows=2\n"


# --- 6: links in outputs, as the KFP 2.17 launcher uploads them -------------------------------


def _linking(tmp_path: Path, script: str) -> Path:
    """`make` does `script` in two output folders: `out` (fetched with -o), `mid` (for `use`)."""
    pipeline = manifest("ExperimentPipeline", "links", {
        "vars": [{"name": "out"}, {"name": "mid"}, {"name": "next"}],
        "stages": [stage("make", ["sh", "src/make.sh"], [], ["out", "mid"]),
                   stage("use", ["sh", "src/use.sh"], ["mid"], ["next"])],
    })
    make = 'for o in "$UNIP_PIPELINE_OUT" "$UNIP_PIPELINE_MID"; do (cd "$o"; ' + script + \
        "); done\n"
    use = 'cd "$UNIP_PIPELINE_MID" && find . | sort > "$UNIP_PIPELINE_NEXT/files"\n'
    return write_module(tmp_path / "module", pipeline, {"make.sh": make, "use.sh": use})


def test_a_link_to_a_file_inside_is_copied_and_a_dangling_link_stops_the_upload(
    tmp_path: Path,
) -> None:
    script = "echo a > a.txt; ln -s a.txt b.link; mkdir empty; ln -s nowhere c.dangling; " \
        "echo d > d.txt; mkdir e; echo e > e/f"
    manifests = _linking(tmp_path, script)
    echo = Lines()
    out = tmp_path / "copied"
    result = unip_kfp.load(str(manifests)).run_local(outputs={"out": str(out)}, keep=True,
                                                     echo=echo)
    # the launcher walks in name order, uploads files (a link's file too), stops at the
    # dangling link and still succeeds: d.txt and e/f are not uploaded; empty folders never are
    assert _snapshot(out) == {"a.txt": "a\n", "b.link": "a\n"}
    assert not (out / "b.link").is_symlink()
    assert read(Path(result.outputs["next"]) / "files") == ".\n./a.txt\n./b.link\n"
    assert "c.dangling is a link to nothing" in echo.text and "2 later file(s)" in echo.text


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("ln -s /etc/hostname host", "outside the output folder"),
        ("mkdir d; ln -s d dl", "a link to a folder"),
        ("ln -s loop loop", "cannot be followed (it loops)"),
        ("mkfifo pipe", "named pipe"),
    ],
    ids=["host-file", "folder", "loop", "fifo"],
)
def test_links_the_launcher_cannot_upload_fail_the_stage_and_never_copy_host_files(
    tmp_path: Path, script: str, message: str
) -> None:
    manifests = _linking(tmp_path, script)
    out = tmp_path / "copied"
    with pytest.raises(StageFailedError, match="stage 'make' failed: output 'mid'") as caught:
        unip_kfp.load(str(manifests)).run_local(outputs={"out": str(out)}, echo=Lines())
    assert message in str(caught.value)
    assert not out.exists()
    assert [(s.name, s.status) for s in caught.value.result.stages] == [  # type: ignore[union-attr]
        ("make", "failed"), ("use", "not run")]


def test_the_publisher_never_follows_links(tmp_path: Path) -> None:
    # Defence in depth: even a link left in an artifact is copied as a link, not followed.
    source = tmp_path / "artifact"
    source.mkdir()
    (source / "host").symlink_to("/etc/hostname")
    dest = tmp_path / "dest"
    item = destinations_module.Destination("k", "-o k", str(dest), path=str(dest))
    destinations_module.publish(item, str(source), None, Lines())
    assert (dest / "host").is_symlink()
