"""The test servers' new routes answer as KFP 2.17 and Kubernetes do (the unmodified clients).

Recurring runs (`job_server.go`, `api_converter.go` `toModelJob`/`toApiRecurringRun`,
`resource_manager.go` `DeleteJob`), the UI's pod-log route (`frontend/server/handlers/
pod-logs.ts`) and pod logs of the Kubernetes API, each checked through `kfp.Client`,
`urllib` or the `kubernetes` client, and how unip-kfp reads the refusals (exit codes).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kfp
import pytest
from kfp_server_api.exceptions import ApiException
from support.kfp_api_server import KfpApiServer
from support.kfp_fake_pods import PodStore
from support.kubeflow_env import EXAMPLE, cli
from support.operate import finished_run
from support.s3_server import S3Endpoint

import unip_kfp

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def _version(server: KfpApiServer, client: Any) -> tuple[str, str]:
    (package,) = unip_kfp.load(str(EXAMPLE / "manifests")).compile(output="out/")
    created = client.upload_pipeline(package.path, pipeline_name="p")
    (version,) = server.versions
    return created.pipeline_id, version


@pytest.fixture
def client(tmp_path: Path, kfp_home: Path, monkeypatch: pytest.MonkeyPatch,
           kfp_server: KfpApiServer) -> Any:
    monkeypatch.chdir(tmp_path)
    return kfp.Client(host=kfp_server.url)


def test_recurring_runs_as_the_2_17_server_answers(kfp_server: KfpApiServer, client: Any) -> None:
    pipeline_id, version_id = _version(kfp_server, client)
    experiment = client.create_experiment("e").experiment_id
    params = {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    job = client.create_recurring_run(experiment, "nightly", cron_expression="0 0 2 * * *",
                                      pipeline_id=pipeline_id, version_id=version_id,
                                      params=params, enabled=False)
    assert (job.status, job.mode, job.max_concurrency) == ("DISABLED", "DISABLE", "1")
    assert job.namespace == "kubeflow"  # single-user jobs get POD_NAMESPACE
    assert job.service_account == "pipeline-runner"
    assert job.trigger.cron_schedule.cron == "0 0 2 * * *"
    client.enable_recurring_run(job.recurring_run_id)
    assert client.get_recurring_run(job.recurring_run_id).status == "ENABLED"
    (listed,) = client.list_recurring_runs().recurring_runs
    assert listed.recurring_run_id == job.recurring_run_id

    def refused(**options: Any) -> ApiException:
        arguments = {"experiment_id": experiment, "job_name": "n", "pipeline_id": pipeline_id,
                     "version_id": version_id, "params": params, "cron_expression": "@daily",
                     **options}
        with pytest.raises(ApiException) as caught:
            client.create_recurring_run(**arguments)
        return caught.value

    assert refused(max_concurrency=11).status == 400
    assert "must be at least 1 and at most 10. Received 11" in refused(max_concurrency=11).body
    bad = refused(cron_expression="0 0 25 * * *")
    assert bad.status == 400 and "End of range (25) above maximum (23): 25" in bad.body
    assert refused(job_name="").status == 500  # an internal error around the empty name
    missing = refused(params={"xy_train": "s3://b/t"})
    assert missing.status == 400 and "parameter xy_test is not optional" in missing.body
    with pytest.raises(ApiException) as caught:
        client.get_recurring_run("0b4c0000-0000-4000-8000-000000000000")
    assert caught.value.status == 404 and "Job 0b4c0000" in caught.value.body


def test_the_ui_pod_log_route(tmp_path: Path) -> None:
    pods = PodStore()
    pods.put("team-a", "p-1", "hello\n")
    with KfpApiServer(pods=pods, multi_user=True) as server:
        def get(query: str, base: str = "") -> tuple[int, str]:
            url = f"{server.url}{base}/k8s/pod/logs?{query}"
            try:
                with urllib.request.urlopen(url) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        assert get("runid=r") == (400, "podname argument is required")
        assert get("podname=p-1&runid=r") == (422, "podnamespace argument is required")
        assert get("podname=p-1&runid=r&podnamespace=team-a") == (200, "hello\n")
        assert get("podname=p-1&podnamespace=team-a", "/pipeline") == (200, "hello\n")
        status, text = get("podname=p-2&runid=r&podnamespace=team-a&createdat=2026-11-29")
        assert status == 500 and text.startswith("Could not get main container logs: ")
        server.ui = False
        assert get("podname=p-1&podnamespace=team-a")[0] == 404


def test_logs_of_a_profile_namespace(env: S3Endpoint, module: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from support.k8s_api_server import K8sApiServer
    from support.kubeflow_env import HookedKfpServer

    pods = PodStore()
    with K8sApiServer(pods) as k8s, HookedKfpServer(pods=pods, multi_user=True) as server:
        handle = finished_run(server, module, namespace="team-a")
        record = server.runs[handle.run_id]
        assert pods.get("team-a", record.workflow.stage_pod("stage1")) is not None
        assert handle.logs("stage1", tail=1)["stage1"] == "stage1: step 3 of 3\n"  # the UI
        assert [r.query["podnamespace"] for r in server.requests
                if r.path.endswith("/k8s/pod/logs")] == ["team-a"]
        monkeypatch.setenv("KUBECONFIG", str(k8s.kubeconfig(tmp_path / "kc")))
        k8s.forbidden.add("team-a")  # no right to read pods/log there: the UI does it
        result = cli("logs", handle.run_id, "--stage", "stage2", "--host", server.url,
                     "--namespace", "team-a")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("[stage2] stage2: step 1 of 3")
        assert "from the Kubeflow Pipelines UI" in result.stderr
