"""Schedules with apply semantics against the KFP test server's recurring runs, over HTTP.

A schedule is its pipeline + name. The same things again change nothing; anything else
replaces it without killing runs in flight (new disabled, old disabled, new enabled, old
deleted with `propagation_policy=ORPHAN`). A failure injected at any single step leaves
exactly one enabled schedule, and the next apply converges. The test server deletes a
recurring run's workflows unless ORPHAN is asked for, as KFP 2.17 does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.kfp_api_server import API, Fault, RunStep, stuck_script
from support.kfp_fake_errors import ApiError
from support.kfp_fake_recurring import robfig_parse_error
from support.kubeflow_env import HookedKfpServer, cli
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.errors import UsageError
from unip_kfp.kubeflow.cron import parse_cron

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")
URI_ARGS = ("-i", "xy_train=s3://b/t.csv", "-i", "xy_test=s3://b/v.csv")


def schedule(kfp: HookedKfpServer, module: Path, *args: str) -> Any:
    return cli("schedule", module / "manifests", "--host", kfp.url, *URI_ARGS, *args)


def jobs(kfp: HookedKfpServer) -> list[dict[str, Any]]:
    return list(kfp.recurring_runs.values())


def enabled(kfp: HookedKfpServer) -> list[str]:
    return [j["recurring_run_id"] for j in jobs(kfp) if j["status"] == "ENABLED"]


def change_package(module: Path) -> None:
    """A different package: a new content-hash version to upload."""
    pipeline = module / "manifests" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("name: stage2", "name: stage-two"))


def test_create_unchanged_and_replace_keeping_runs_in_flight(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    result = schedule(kfp, module, "--cron", "0 2 * * *")
    assert result.exit_code == 0, result.stderr
    (job,) = jobs(kfp)
    assert result.stdout.strip() == job["recurring_run_id"]
    assert "read as crontab does" in result.stderr and "'0 0 2 * * *'" in result.stderr
    assert job["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert job["display_name"] == "my-pipeline" and job["status"] == "ENABLED"
    (version,) = kfp.versions.values()
    assert job["pipeline_version_reference"]["pipeline_version_id"] == \
        version.json["pipeline_version_id"]
    assert job["runtime_config"] == {
        "parameters": {"xy_train": "s3://b/t.csv", "xy_test": "s3://b/v.csv"},
        "pipeline_root": "minio://mlpipeline/v2/artifacts"}

    posts = len(kfp.calls("POST"))
    result = schedule(kfp, module, "--cron", "0 2 * * *")
    assert result.exit_code == 0 and "schedule 'my-pipeline' unchanged (enabled" in result.stderr
    assert len(kfp.calls("POST")) == posts and len(jobs(kfp)) == 1  # nothing sent

    kfp.run_script = stuck_script
    in_flight = kfp.trigger_schedule(job["recurring_run_id"])
    assert in_flight is not None and in_flight.json["recurring_run_id"] == job["recurring_run_id"]
    in_flight.advance()
    kfp.sync_pods(in_flight)
    pods_before = kfp.pods.names()
    assert pods_before

    kfp.requests.clear()
    result = schedule(kfp, module, "--cron", "0 3 * * *", "--max-concurrency", "2")
    assert result.exit_code == 0, result.stderr
    (new,) = jobs(kfp)
    old = job["recurring_run_id"]
    assert new["recurring_run_id"] != old and new["status"] == "ENABLED"
    assert new["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert new["max_concurrency"] == "2"
    steps = [(r.method, r.path.replace(API, ""), r.query.get("propagation_policy"),
              (r.json or {}).get("mode")) for r in kfp.requests
             if "/recurringruns" in r.path and r.method != "GET"]
    assert steps == [("POST", "/recurringruns", None, "DISABLE"),
                     ("POST", f"/recurringruns/{old}:disable", None, None),
                     ("POST", f"/recurringruns/{new['recurring_run_id']}:enable", None, None),
                     ("DELETE", f"/recurringruns/{old}", "ORPHAN", None)]
    assert "replaced (enabled)" in result.stderr and "runs in flight go on" in result.stderr
    # the old schedule's run goes on: its pods are there and it is still reported
    assert not in_flight.workflow_deleted and kfp.pods.names() == pods_before
    kfp.set_run_script(in_flight.run_id, [RunStep("SUCCEEDED")])
    assert kfp.runs[in_flight.run_id].render()["state"] == "RUNNING"
    in_flight.advance()
    assert in_flight.state == "SUCCEEDED"


def test_a_plain_delete_cascades_to_runs_in_flight(kfp: HookedKfpServer, env: S3Endpoint,
                                                   module: Path) -> None:
    """What apply semantics avoid: KFP's default delete kills the schedule's runs."""
    import kfp as kfp_sdk

    assert schedule(kfp, module, "--every", "1h").exit_code == 0
    (job,) = jobs(kfp)
    kfp.run_script = stuck_script
    run = kfp.trigger_schedule(job["recurring_run_id"])
    assert run is not None
    run.advance()
    kfp.sync_pods(run)
    assert kfp.pods.names()
    kfp_sdk.Client(host=kfp.url).delete_recurring_run(job["recurring_run_id"])
    assert run.workflow_deleted and not kfp.pods.names()
    run.advance()
    assert run.state == "RUNNING"  # never reported again: its workflow is gone


class _EnableOfAnother(Fault):
    """`POST .../recurringruns/<id>:enable` of any schedule but `spared`."""

    def __init__(self, spared: str, error: ApiError):
        super().__init__("POST", API + "/recurringruns/", error)
        self.spared = spared

    def matches(self, method: str, path: str) -> bool:
        return (method == "POST" and path.endswith(":enable")
                and f"/{self.spared}:" not in path)


def _inject(kfp: HookedKfpServer, step: str, old: str) -> None:
    if step == "upload":
        kfp.fail("POST", "/pipelines/upload_version", 500, "database is locked")
    elif step == "create":
        kfp.fail("POST", "/recurringruns", 500, "database is locked", times=1)
    elif step == "disable":
        kfp.fail("POST", f"/recurringruns/{old}:disable", 500, "database is locked")
    elif step == "enable":
        kfp.faults.insert(0, _EnableOfAnother(old, ApiError(14, "database is locked")))
    else:
        kfp.fail("DELETE", f"/recurringruns/{old}", 500, "database is locked")


@pytest.mark.parametrize("step", ["upload", "create", "disable", "enable", "delete"])
def test_a_failure_at_any_step_leaves_exactly_one_enabled_schedule(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, step: str
) -> None:
    assert schedule(kfp, module, "--cron", "0 2 * * *").exit_code == 0
    (old,) = enabled(kfp)
    change_package(module)
    _inject(kfp, step, old)
    result = schedule(kfp, module, "--cron", "0 3 * * *")
    assert result.exit_code == 5, result.stderr
    assert "database is locked" in result.stderr
    assert len(enabled(kfp)) == 1
    if step == "delete":
        (new,) = enabled(kfp)
        assert f"replaced by {new}" in result.stderr and f"the old one {old} failed" in \
            result.stderr and "run `unip-kfp schedule` again" in result.stderr
    else:
        assert enabled(kfp) == [old] and len(jobs(kfp)) == 1  # undone
    if step in ("disable", "enable"):
        assert "not replaced" in result.stderr
        assert f"the schedule in effect is unchanged ({old})" in result.stderr

    kfp.clear_faults()
    result = schedule(kfp, module, "--cron", "0 3 * * *")
    assert result.exit_code == 0, result.stderr
    (job,) = jobs(kfp)
    assert job["status"] == "ENABLED" and job["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"


def test_when_the_undo_fails_too_the_message_names_the_one_to_enable(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    assert schedule(kfp, module, "--cron", "0 2 * * *").exit_code == 0
    (old,) = enabled(kfp)
    _inject(kfp, "enable", old)
    kfp.fail("POST", f"/recurringruns/{old}:enable", 500, "the API server restarts")
    result = schedule(kfp, module, "--every", "6h")
    assert result.exit_code == 5 and enabled(kfp) == []
    new = next(j["recurring_run_id"] for j in jobs(kfp) if j["recurring_run_id"] != old)
    command = f"unip-kfp schedule resume my-pipeline --id {new}"
    assert f"no schedule 'my-pipeline' is enabled now: enable the new one with `{command}`" \
        in result.stderr
    kfp.clear_faults()
    result = cli("schedule", "resume", "my-pipeline", "--id", new, "--host", kfp.url)
    assert result.exit_code == 0 and enabled(kfp) == [new]
    result = schedule(kfp, module, "--every", "6h")  # the leftover goes
    assert result.exit_code == 0 and [j["recurring_run_id"] for j in jobs(kfp)] == [new]


def test_list_pause_resume_delete(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    assert schedule(kfp, module, "--every", "90m", "--name", "nightly").exit_code == 0
    (job,) = jobs(kfp)
    assert job["trigger"] == {"periodic_schedule": {"interval_second": "5400"}}
    result = cli("schedule", "list", "--host", kfp.url)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split()[:4] == ["nightly", "my-pipeline", "enabled",
                                                          "every"]
    assert cli("schedule", "pause", "nightly", "--host", kfp.url).exit_code == 0
    assert jobs(kfp)[0]["status"] == "DISABLED"
    result = schedule(kfp, module, "--every", "90m", "--name", "nightly")
    assert "unchanged (paused" in result.stderr
    result = schedule(kfp, module, "--every", "2h", "--name", "nightly")
    assert result.exit_code == 0 and "paused, as the one it replaces was" in result.stderr
    (job,) = jobs(kfp)
    assert job["status"] == "DISABLED" and job["trigger"]["periodic_schedule"] == {
        "interval_second": "7200"}
    assert cli("schedule", "resume", "nightly", "--host", kfp.url).exit_code == 0
    assert enabled(kfp) == [job["recurring_run_id"]]
    result = cli("schedule", "list", module / "manifests", "--format", "json", "--host", kfp.url)
    (listed,) = json.loads(result.stdout)
    assert listed["name"] == "nightly" and listed["interval_seconds"] == 7200
    result = cli("schedule", "delete", "nightly", "--host", kfp.url)
    assert result.exit_code == 0 and "its runs stay" in result.stderr and not jobs(kfp)
    assert kfp.calls("DELETE")[-1].query == {"propagation_policy": "ORPHAN"}
    result = cli("schedule", "pause", "nightly", "--host", kfp.url)
    assert result.exit_code == 2 and "no schedule with name 'nightly'" in result.stderr


@pytest.mark.parametrize("args, says", [
    (("--cron", "0 2 * *"), "expected 5 fields"),
    (("--cron", "61 * * * *"), "minute '61': out of range"),
    (("--cron", "0 2 * * 7"), "day of week '7': out of range (allowed 0-6 or sun-sat)"),
    (("--cron", "*/0 * * * *"), "a step must be positive"),
    (("--cron", "@every 1h"), "use --every 1h"),
    (("--cron", "0 2 * * *", "--every", "1h"), "exactly one of --cron EXPR and --every"),
    ((), "exactly one of --cron EXPR and --every"),
    (("--every", "soon"), "--every 'soon': expected a duration"),
    (("--every", "1h", "--max-concurrency", "11"), "1 to 10 runs"),
    (("--every", "1h", "--start", "2026-12-02", "--end", "2026-12-01"), "is not after"),
    (("--every", "1h", "--start", "tomorrow"), "--start 'tomorrow': expected an ISO 8601"),
])
def test_the_trigger_is_checked_before_anything_is_sent(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, args: tuple[str, ...], says: str
) -> None:
    result = schedule(kfp, module, *args)
    assert result.exit_code == 2 and says in result.stderr
    assert not kfp.requests


def test_six_fields_and_times_go_as_given(kfp: HookedKfpServer, env: S3Endpoint,
                                          module: Path) -> None:
    result = schedule(kfp, module, "--cron", "30 0 2 * * mon-fri", "--start",
                      "2026-12-01T03:00:00+01:00", "--end", "2027-01-01")
    assert result.exit_code == 0 and "read as crontab" not in result.stderr
    (job,) = jobs(kfp)
    assert job["trigger"]["cron_schedule"] == {"cron": "30 0 2 * * mon-fri",
                                               "start_time": "2026-12-01T02:00:00Z",
                                               "end_time": "2027-01-01T00:00:00Z"}
    result = schedule(kfp, module, "--cron", "30 0 2 * * mon-fri", "--start", "2026-12-01T02:00",
                      "--end", "2027-01-01T00:00:00Z")
    assert "unchanged" in result.stderr  # the same times, however written


def test_kfps_parser_accepts_what_is_sent() -> None:
    """Every expression accepted here is accepted by (the test server's reading of) robfig
    v1.2.0's Parse, and every one refused here is one robfig refuses or misreads."""
    for text in ["0 2 * * *", "*/15 * * * *", "0 9-17 * * 1-5", "0 0 1,15 * *",
                 "30 0 2 * * mon-fri", "0 0 * * * ?", "5/10 * * * *", "@daily", "0 0 1 jan *"]:
        sent = parse_cron(text).expression
        assert robfig_parse_error(sent) is None, (text, sent)
        assert len(sent.split()) in (1, 6)
    for text in ["0 2 * *", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *",
                 "0 0 * * 7", "1-2-3 * * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"]:
        with pytest.raises(UsageError):
            parse_cron(text)
    assert robfig_parse_error("0 2 * * *") is None  # KFP takes it: second 0, minute 2, hourly
    assert parse_cron("0 2 * * *").expression == "0 0 2 * * *"


def test_python_schedule_with_a_local_file_uploads_it_once(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    data = module / "data"
    inputs = {"xy_train": data / "xy_train.csv", "xy_test": "s3://b/v.csv"}
    lines: list[str] = []
    applied = project.schedule(cron="@daily", inputs=inputs, host=kfp.url, echo=lines.append)
    assert applied.action == "created" and applied.version_created
    uri = applied.schedule.parameters["xy_train"]
    assert "/file_groups/my-pipeline-schedule-" in uri and uri.endswith("/xy_train/xy_train.csv")
    uploads = [line for line in lines if line.startswith("input xy_train:")]
    again = project.schedule(cron="@daily", inputs=inputs, host=kfp.url, echo=lines.append)
    assert again.action == "unchanged" and not again.version_created
    assert [line for line in lines if line.startswith("input xy_train:")] == uploads
    assert again.schedule.recurring_run_id == applied.schedule.recurring_run_id


def test_a_profile_namespace_owns_its_schedules(env: S3Endpoint, module: Path) -> None:
    with HookedKfpServer(multi_user=True) as server:
        args = ("--host", server.url, "--namespace", "team-a")
        result = schedule(server, module, "--every", "1d", *args[2:])
        assert result.exit_code == 0, result.stderr
        (job,) = jobs(server)
        assert job["namespace"] == "team-a"
        assert server.experiments[job["experiment_id"]]["namespace"] == "team-a"
        listed = cli("schedule", "list", "--format", "json", *args)
        assert [s["name"] for s in json.loads(listed.stdout)] == ["my-pipeline"]
        other = cli("schedule", "list", "--host", server.url, "--namespace", "team-b")
        assert other.exit_code == 0 and "no schedules" in other.stderr
        assert "unchanged" in schedule(server, module, "--every", "1d", *args[2:]).stderr
