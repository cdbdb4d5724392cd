"""The Kubeflow functions of `unip_kfp` against the KFP API test server, over HTTP.

`unip_kfp.upload`/`schedule` take what `run` takes (a project, a package file, a compiled
package), so a package file can be uploaded and scheduled from Python as on the command
line; `schedules`, `pause_schedule`, `resume_schedule`, `delete_schedule` and `runs` manage
what is on Kubeflow by pipeline name, or by project. Each takes the access options of
`submit` as typed keywords (`client`, `host`, `namespace`, `token`, `token_file`, `ca_cert`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kfp as kfp_sdk
import pytest
from support.kubeflow_env import HookedKfpServer
from support.s3_server import S3Endpoint

import unip_kfp

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")
URIS = {"xy_train": "s3://b/t.csv", "xy_test": "s3://b/v.csv"}


def quiet(line: str) -> None:
    """An `echo` that drops the progress lines."""


def jobs(kfp: HookedKfpServer) -> list[dict[str, Any]]:
    return list(kfp.recurring_runs.values())


@pytest.fixture(name="package_file")
def package_file_fixture(module: Path, tmp_path: Path) -> Path:
    """The example compiled to a file away from its manifests: no project, no settings."""
    (package,) = unip_kfp.load(str(module / "manifests")).compile(str(tmp_path / "pkg.yaml"))
    return Path(str(package.path))


def test_upload_a_package_file_once(
    kfp: HookedKfpServer, env: S3Endpoint, package_file: Path
) -> None:
    first = unip_kfp.upload(package_file, host=kfp.url, echo=quiet)
    assert isinstance(first, unip_kfp.Upload) and first.created
    (version,) = kfp.versions.values()
    assert version.package == package_file.read_bytes()  # the file's very bytes
    assert first.version_id == version.json["pipeline_version_id"]
    assert first.pipeline_id == kfp.pipeline_by_name("my-pipeline")["pipeline_id"]
    posts = len(kfp.calls("POST"))
    again = unip_kfp.upload(str(package_file), host=kfp.url, echo=quiet)
    assert again == first._replace(created=False)
    assert len(kfp.calls("POST")) == posts and len(kfp.versions) == 1


def test_upload_takes_a_project_a_name_and_a_callers_client(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    client = kfp_sdk.Client(host=kfp.url)
    done = unip_kfp.upload(project, client=client, pipeline_name="renamed", echo=quiet)
    assert done.created and kfp.pipeline_by_name("renamed")["pipeline_id"] == done.pipeline_id
    assert project.upload(client, pipeline_name="renamed", echo=quiet) == done._replace(
        created=False)
    with pytest.raises(unip_kfp.UsageError, match="runs without caching"):
        unip_kfp.upload(project, client=client, cache=True, echo=quiet)


def test_schedule_a_package_file_with_apply_semantics(
    kfp: HookedKfpServer, env: S3Endpoint, package_file: Path
) -> None:
    lines: list[str] = []
    applied = unip_kfp.schedule(package_file, cron="0 2 * * *", inputs=URIS, host=kfp.url,
                                echo=lines.append)
    assert isinstance(applied, unip_kfp.Applied)
    assert applied.action == "created" and applied.version_created
    (job,) = jobs(kfp)
    assert job["recurring_run_id"] == applied.schedule.recurring_run_id
    assert job["display_name"] == "my-pipeline" and job["status"] == "ENABLED"
    assert job["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert job["runtime_config"]["parameters"] == URIS
    (version,) = kfp.versions.values()
    assert version.package == package_file.read_bytes()
    assert job["pipeline_version_reference"]["pipeline_version_id"] == \
        version.json["pipeline_version_id"]
    assert any("read as crontab does" in line for line in lines)

    posts = len(kfp.calls("POST"))
    again = unip_kfp.schedule(str(package_file), cron="0 2 * * *", inputs=URIS, host=kfp.url,
                              echo=quiet)
    assert again.action == "unchanged" and not again.version_created
    assert len(kfp.calls("POST")) == posts

    named = unip_kfp.schedule(package_file, "hourly", every="1h", inputs=URIS,
                              max_concurrency=2, host=kfp.url, echo=quiet)
    assert named.action == "created" and named.schedule.name == "hourly"
    assert named.schedule.max_concurrency == 2 and len(jobs(kfp)) == 2


def test_schedule_checks_everything_before_sending_anything(
    kfp: HookedKfpServer, env: S3Endpoint, package_file: Path
) -> None:
    with pytest.raises(unip_kfp.UsageError, match="exactly one of --cron EXPR and --every"):
        unip_kfp.schedule(package_file, inputs=URIS, host=kfp.url, echo=quiet)
    with pytest.raises(unip_kfp.UsageError, match="1 to 10 runs"):
        unip_kfp.schedule(package_file, every="1h", inputs=URIS, max_concurrency=11,
                          host=kfp.url, echo=quiet)
    assert kfp.requests == []


def test_list_pause_resume_delete_by_pipeline_name(
    kfp: HookedKfpServer, env: S3Endpoint, package_file: Path
) -> None:
    made = unip_kfp.schedule(package_file, "nightly", every="90m", inputs=URIS, host=kfp.url,
                             echo=quiet).schedule
    ((pipeline, listed),) = unip_kfp.schedules(host=kfp.url)
    assert isinstance(listed, unip_kfp.Schedule)
    assert (pipeline, listed.name, listed.recurring_run_id) == (
        "my-pipeline", "nightly", made.recurring_run_id)
    assert listed.trigger.describe() == made.trigger.describe()
    assert unip_kfp.schedules(pipeline="another", host=kfp.url) == []

    paused = unip_kfp.pause_schedule("nightly", pipeline="my-pipeline", host=kfp.url)
    assert paused.recurring_run_id == made.recurring_run_id
    assert jobs(kfp)[0]["status"] == "DISABLED"
    assert not unip_kfp.schedules(host=kfp.url)[0][1].enabled
    unip_kfp.resume_schedule("nightly", host=kfp.url)
    assert jobs(kfp)[0]["status"] == "ENABLED"

    deleted = unip_kfp.delete_schedule("nightly", recurring_run_id=made.recurring_run_id,
                                       host=kfp.url)
    assert deleted.recurring_run_id == made.recurring_run_id and jobs(kfp) == []
    assert kfp.calls("DELETE")[-1].query == {"propagation_policy": "ORPHAN"}  # runs stay
    with pytest.raises(unip_kfp.UsageError, match="no schedule with name 'nightly'"):
        unip_kfp.pause_schedule("nightly", host=kfp.url)
    with pytest.raises(unip_kfp.UsageError, match="no pipeline 'another'"):
        unip_kfp.resume_schedule("nightly", pipeline="another", host=kfp.url)


def test_a_project_names_the_pipeline_and_brings_its_settings(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    (module / "unip-kfp.yaml").write_text(f"kubeflow:\n  host: {kfp.url}\n")
    project = unip_kfp.load(str(module / "manifests"))
    applied = project.schedule(every="1d", inputs=URIS, echo=quiet)  # the host: settings
    assert [s.recurring_run_id for _, s in unip_kfp.schedules(project)] == [
        applied.schedule.recurring_run_id]
    unip_kfp.pause_schedule("my-pipeline", project)
    assert jobs(kfp)[0]["status"] == "DISABLED"
    # without a project, `config` names the settings file (default: unip-kfp.yaml here)
    config = str(module / "unip-kfp.yaml")
    assert [p for p, _ in unip_kfp.schedules(config=config)] == ["my-pipeline"]
    unip_kfp.delete_schedule("my-pipeline", config=config)
    assert jobs(kfp) == []


def test_access_options_reach_the_server(
    kfp: HookedKfpServer, env: S3Endpoint, package_file: Path, tmp_path: Path
) -> None:
    kfp.require_token = "s3cret"
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    unip_kfp.schedule(package_file, every="1h", inputs=URIS, host=kfp.url,
                      token_file=str(token_file), echo=quiet)
    kfp.requests.clear()
    assert len(unip_kfp.schedules(host=kfp.url, token="s3cret")) == 1
    assert kfp.requests and {r.authorization for r in kfp.requests} == {"Bearer s3cret"}
    with pytest.raises(unip_kfp.UnreachableError, match="refused"):
        unip_kfp.schedules(host=kfp.url, token="wrong")


def test_a_profile_namespace_is_passed_on(env: S3Endpoint, package_file: Path) -> None:
    with HookedKfpServer(multi_user=True) as server:
        unip_kfp.schedule(package_file, every="1d", inputs=URIS, host=server.url,
                          namespace="team-a", echo=quiet)
        (job,) = jobs(server)
        assert job["namespace"] == "team-a"
        assert len(unip_kfp.schedules(host=server.url, namespace="team-a")) == 1
        assert unip_kfp.schedules(host=server.url, namespace="team-b") == []
        unip_kfp.delete_schedule("my-pipeline", host=server.url, namespace="team-a")
        assert jobs(server) == []


def test_runs_by_pipeline_name_or_project(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    handle = project.submit(host=kfp.url, inputs=URIS, run_name="first", echo=quiet)
    handle.wait(echo=quiet)
    (summary,) = unip_kfp.runs(pipeline="my-pipeline", host=kfp.url)
    assert isinstance(summary, unip_kfp.RunSummary)
    assert (summary.run_id, summary.name, summary.state) == (handle.run_id, "first",
                                                             "SUCCEEDED")
    assert [r.run_id for r in unip_kfp.runs(project, host=kfp.url)] == [handle.run_id]
    assert unip_kfp.runs(pipeline="another", host=kfp.url) == []
    assert unip_kfp.runs(host=kfp.url, state="FAILED") == []
    assert kfp.calls("GET", "/runs")[-1].query.get("sort_by") == "created_at desc"
