"""Run history, status, cancel and prune against the KFP test server and SeaweedFS.

`runs` lists a pipeline's runs newest first, with the state `wait` would report (a canceled
run, which the 2.17 server ends FAILED, is CANCELED), the failed stage and the UI link;
`status` shows the stages as `run --wait` does; `cancel` terminates; `prune` lists, then
removes on request, old local run folders, input folders nothing will read again, and
pipeline versions beyond the newest N that nothing uses.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
from support.kfp_api_server import canceled_script, failing_script, stuck_script
from support.kubeflow_env import BOX, DATA_BUCKET, USER, HookedKfpServer, cli
from support.operate import URI_ARGS, URIS
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.kubeflow.submission import submit

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def _run(kfp: HookedKfpServer, project: unip_kfp.Project, script: object, name: str,
         wait: bool = True, **options: object) -> str:
    kfp.run_script = script  # type: ignore[assignment]
    handle = submit(project, host=kfp.url, inputs=options.pop("inputs", URIS), run_name=name,
                    echo=lambda line: None, **options)  # type: ignore[arg-type]
    if wait:
        with contextlib.suppress(unip_kfp.errors.UnipKfpError):
            handle.wait(echo=lambda line: None)
    return handle.run_id


@pytest.fixture
def three(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> dict[str, str]:
    """A succeeded, a failed and a canceled run of the example, in that order."""
    project = unip_kfp.load(str(module / "manifests"))
    found = {"ok": _run(kfp, project, None, "ok"),
             "failed": _run(kfp, project, failing_script, "failed"),
             "canceled": _run(kfp, project, canceled_script, "canceled")}
    for minutes, run_id in zip((3, 2, 1), found.values(), strict=True):
        # the server keeps whole seconds: created a minute apart, they sort newest first
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 * minutes))
        kfp.runs[run_id].json["created_at"] = created
    return found


def test_runs_lists_state_duration_failed_stage_and_link(
    kfp: HookedKfpServer, module: Path, three: dict[str, str]
) -> None:
    result = cli("runs", module / "manifests", "--host", kfp.url)
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:4] == ["RUN", "ID", "NAME", "STATE"]
    assert [r.split()[0] for r in rows] == [three["canceled"], three["failed"], three["ok"]]
    assert [r.split()[2] for r in rows] == ["CANCELED", "FAILED", "SUCCEEDED"]
    assert " stage2 " in rows[1] and rows[1].endswith(f"/#/runs/details/{three['failed']}")

    result = cli("runs", "--pipeline", "my-pipeline", "--state", "failed", "--format", "json",
                 "--host", kfp.url)
    (failed,) = json.loads(result.stdout)
    assert failed["run_id"] == three["failed"] and failed["failed_stage"] == "stage2"
    assert failed["state"] == "FAILED" and failed["duration_s"] >= 0
    assert failed["created_at"].endswith("Z") and failed["url"].startswith(kfp.url)
    result = cli("runs", "--limit", "1", "--format", "json", "--host", kfp.url)
    assert [r["run_id"] for r in json.loads(result.stdout)] == [three["canceled"]]
    result = cli("runs", "--pipeline", "other", "--host", kfp.url)
    assert result.exit_code == 0 and "no runs of pipeline 'other'" in result.stderr

    project = unip_kfp.load(str(module / "manifests"))
    assert [r.state for r in project.runs(host=kfp.url, limit=2)] == ["CANCELED", "FAILED"]


def test_a_run_of_an_uploaded_version_belongs_to_its_pipeline(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    assert cli("upload", module / "manifests", "--host", kfp.url).exit_code == 0
    (version,) = kfp.versions
    assert cli("run", module / "manifests", "--host", kfp.url, "--from-version", version,
               *URI_ARGS).exit_code == 0
    result = cli("runs", "--pipeline", "my-pipeline", "--format", "json", "--host", kfp.url)
    (run,) = json.loads(result.stdout)
    assert run["pipeline"] == "my-pipeline" and run["state"] == "SUCCEEDED"


def test_status_shows_the_stages_and_fails_for_a_failed_run(
    kfp: HookedKfpServer, three: dict[str, str]
) -> None:
    result = cli("status", three["failed"], "--host", kfp.url)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"run {three['failed']} FAILED after ")
    assert lines[1].startswith("  stage1: SUCCEEDED") and lines[2].startswith("  stage2: FAILED")
    result = cli("status", three["ok"], "--host", kfp.url)
    assert result.exit_code == 0 and "  stage2: SUCCEEDED" in result.stdout
    result = cli("status", three["canceled"], "--host", kfp.url)
    assert result.exit_code == 1 and "  stage1: canceled" in result.stdout


def test_cancel_a_run_in_flight(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    run_id = _run(kfp, project, stuck_script, "long", wait=False)
    assert cli("status", run_id, "--host", kfp.url).exit_code == 0  # running: fine
    result = cli("cancel", run_id, "--host", kfp.url)
    assert result.exit_code == 0 and f"run {run_id} CANCELING" in result.stdout
    assert kfp.calls("POST", f"/runs/{run_id}:terminate")
    for _ in range(3):
        cli("status", run_id, "--host", kfp.url)  # the server reports on
    result = cli("cancel", run_id, "--host", kfp.url)
    assert result.exit_code == 0 and "had already ended: CANCELED" in result.stdout
    result = cli("cancel", "0b4c0000-0000-4000-8000-000000000000", "--host", kfp.url)
    assert result.exit_code == 2 and "no run 0b4c0000" in result.stderr


def test_prune_local_run_folders_lists_first_then_removes(module: Path) -> None:
    state = module / ".unip-kfp"
    runs = state / "runs"
    old, new = runs / "my-pipeline-20261101-000000-aaaaaa", runs / "my-pipeline-new"
    for folder in (old, new):
        (folder / "logs").mkdir(parents=True)
    # the old run's kept logs and report, and a successful run whose folder is already gone
    gone = "my-pipeline-20261102-000000-bbbbbb"
    traces = [state / "logs" / old.name, state / "reports" / old.name,
              state / "reports" / gone, state / "logs" / new.name]
    for folder in traces:
        folder.mkdir(parents=True)
    week = time.time() - 8 * 86400
    for folder in (old, *traces[:3]):
        os.utime(folder, (week, week))
    result = cli("prune", module / "manifests", "--local-older-than", "7d")
    assert result.exit_code == 0
    assert result.stdout == (
        f"would remove local run {old} (8.0 days old, with its logs and reports)\n"
        f"would remove local run {state / 'reports' / gone} (8.0 days old)\n"
    )
    assert "nothing removed: add --yes" in result.stderr and old.exists()
    result = cli("prune", module / "manifests", "--local-older-than", "7d", "--yes")
    assert result.exit_code == 0 and not old.exists() and new.exists()
    assert [f.exists() for f in traces] == [False, False, False, True]
    assert cli("prune", module / "manifests").exit_code == 2  # prune what?
    result = cli("prune", "--local-older-than", "later")
    assert result.exit_code == 2 and "--local-older-than 'later'" in result.stderr


def _objects(env: S3Endpoint, prefix: str) -> list[str]:
    return [o.object_name for o in env.minio().list_objects(DATA_BUCKET, prefix, recursive=True)]


def test_prune_inputs_keeps_what_runs_in_flight_and_schedules_read(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"), boxes={"data-box": BOX})
    local = {"xy_train": module / "data" / "xy_train.csv", "xy_test": "s3://b/v.csv"}
    done = _run(kfp, project, None, "done", inputs=dict(local))
    flying = _run(kfp, project, stuck_script, "flying", wait=False, inputs=dict(local))
    project.schedule(every="1d", inputs=dict(local), host=kfp.url, echo=lambda line: None)
    groups = f"unip/data-box/users/{USER}/file_groups/"
    orphan = f"{groups}my-pipeline-20240101-000000-abcdef/xy_train/x.csv"
    env.minio().put_object(DATA_BUCKET, orphan, io.BytesIO(b"x"), 1)

    def folder(run_id: str) -> str:
        uri = kfp.runs[run_id].body["runtime_config"]["parameters"]["xy_train"]
        return uri.split("/file_groups/")[1].split("/")[0]

    args = ("prune", module / "manifests", "--box", f"data-box={BOX}", "--inputs", "--host",
            kfp.url)
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    root = f"{BOX}/users/{USER}/file_groups"
    assert result.stdout.splitlines() == [
        f"would remove input folder {root}/my-pipeline-20240101-000000-abcdef/ "
        "(no run reads it)",
        f"would remove input folder {root}/{folder(done)}/ (its 1 run(s) ended)"]
    result = cli(*args, "--yes")
    assert result.exit_code == 0 and "removed 2 item(s)" in result.stderr
    left = {name.split("/")[5] for name in _objects(env, groups)}
    assert folder(done) not in left and folder(flying) in left
    assert any("-schedule-" in name for name in left) and len(left) == 2


def test_prune_versions_beyond_the_newest_n_that_nothing_uses(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    pipeline = module / "manifests" / "pipeline.yaml"
    text = pipeline.read_text()
    ids = []
    for number in range(3):
        pipeline.write_text(text.replace("name: stage2", f"name: stage2-v{number}"))
        if number == 0:  # a schedule uses the oldest version
            result = cli("schedule", module / "manifests", "--every", "1d", "--host", kfp.url,
                         *URI_ARGS)
        else:
            result = cli("upload", module / "manifests", "--host", kfp.url)
        assert result.exit_code == 0, result.stderr
        ids.append(next(reversed(kfp.versions)))
    result = cli("prune", module / "manifests", "--keep-versions", "1", "--host", kfp.url)
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("would remove pipeline version my-pipeline:sha256-") and ids[1] in line
    assert cli("prune", "--pipeline", "my-pipeline", "--keep-versions", "1", "--host", kfp.url,
               "--yes").exit_code == 0
    assert list(kfp.versions) == [ids[0], ids[2]]
    assert kfp.calls("DELETE")[-1].path.endswith(f"/versions/{ids[1]}")
