"""Stage logs of Kubeflow runs (and local runs) from every source, in order, over real HTTP.

The sources are the Kubernetes API (the test server, driven by the real `kubernetes`
client), the KFP UI's `/k8s/pod/logs` route (on the fake KFP host, as on a port-forward of
`ml-pipeline-ui`), and the archive Argo writes in the artifact store (SeaweedFS, at KFP
2.17's key layout). The fake KFP server starts each run's pods under the names Argo gives
them, so every test also checks how `unip_kfp.kubeflow.logs` names pods.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support.kfp_api_server import RunStep, failing_script
from support.kfp_fake_pods import archive_key
from support.kubeflow_env import cli
from support.operate import URI_ARGS, Cluster, finished_run, log_requests, pod_log_requests
from support.s3_server import S3Endpoint

from unip_kfp.kubeflow.logs import LogsUnavailable, resolve_node
from unip_kfp.kubeflow.operate import attach
from unip_kfp.kubeflow.pods import node_id

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")
SIXTY = "".join(f"line {i}\n" for i in range(1, 61))


def test_failed_wait_shows_the_failing_stage_tail_and_the_logs_command(
    cluster: Cluster, env: S3Endpoint, module: Path
) -> None:
    cluster.kfp.run_script = failing_script
    cluster.kfp.stage_logs["stage2"] = SIXTY
    result = cli("run", module / "manifests", "--host", cluster.kfp.url, *URI_ARGS)
    assert result.exit_code == 1
    run_id = result.stdout.strip()
    err = result.stderr
    assert "last 50 log lines of stage 'stage2' (from the Kubeflow Pipelines UI" in err
    assert "  [stage2] line 11\n" in err and "  [stage2] line 60\n" in err
    assert "[stage2] line 10\n" not in err
    assert f"all of its log: unip-kfp logs {run_id} --stage stage2" in err
    assert err.index("[stage2] line 60") < err.index(f"run {run_id} FAILED")


def test_the_kubernetes_api_comes_first(cluster: Cluster, env: S3Endpoint, module: Path,
                                        kubeconfig: Path) -> None:
    handle = finished_run(cluster.kfp, module)
    before = len(log_requests(cluster.kfp))
    result = cli("logs", handle.run_id, "--host", cluster.kfp.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        *(f"[stage1] stage1: step {i} of 3" for i in (1, 2, 3)),
        *(f"[stage2] stage2: step {i} of 3" for i in (1, 2, 3))]
    assert result.stderr.count(f"from the Kubernetes API (kubeconfig {kubeconfig})") == 2
    assert len(log_requests(cluster.kfp)) == before  # the UI was not asked
    record = cluster.kfp.runs[handle.run_id]
    asked = [p.split("/pods/")[1].split("/")[0] for p in pod_log_requests(cluster.k8s)]
    # the pods the fake started, named on its own from Argo's layout
    assert asked == [record.workflow.stage_pod("stage1"), record.workflow.stage_pod("stage2")]


def test_the_ui_route_without_kubernetes_access(cluster: Cluster, env: S3Endpoint,
                                                module: Path) -> None:
    handle = finished_run(cluster.kfp, module)
    logs = attach(handle.run_id, host=cluster.kfp.url).logs("stage1", tail=1)
    assert dict(logs) == {"stage1": "stage1: step 3 of 3\n"}
    assert logs.sources["stage1"].startswith("the Kubeflow Pipelines UI")
    request = log_requests(cluster.kfp)[-1]
    record = cluster.kfp.runs[handle.run_id]
    assert request.query == {"podname": record.workflow.stage_pod("stage1"),
                             "runid": handle.run_id, "podnamespace": "kubeflow",
                             "createdat": record.json["created_at"][:10]}


def test_the_archive_once_the_pods_are_gone(cluster: Cluster, env: S3Endpoint, module: Path,
                                            kubeconfig: Path) -> None:
    cluster.kfp.run_script = failing_script
    cluster.kfp.stage_logs["stage2"] = "Traceback ...\nValueError: bad row 7\n"
    handle = finished_run(cluster.kfp, module)
    record = cluster.kfp.runs[handle.run_id]
    written = cluster.kfp.archive_run_logs(handle.run_id, env.minio())  # Argo, at pod end
    cluster.kfp.delete_workflow(handle.run_id)  # ttlStrategy: pods go with the workflow
    cluster.kfp.ui_archive = lambda bucket, key: env.minio().get_object(bucket, key).read()
    pod = record.workflow.stage_pod("stage2")
    assert written[pod] == archive_key("kubeflow", record.workflow.name,
                                       record.json["created_at"], pod)
    assert written[pod].startswith(f"private-artifacts/kubeflow/{record.workflow.name}/")

    result = cli("logs", handle.run_id, "--stage", "stage2", "--host", cluster.kfp.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[stage2] Traceback ...\n[stage2] ValueError: bad row 7\n"
    assert "from the log archive (minio://mlpipeline/private-artifacts/...)" in result.stderr
    # tried in order: the Kubernetes API (404), then the UI, whose own archive lookup uses
    # configs.ts' default key format (artifacts/...) and misses, then the archive
    assert pod_log_requests(cluster.k8s)[-1].startswith(f"/api/v1/namespaces/kubeflow/pods/{pod}")
    assert log_requests(cluster.kfp)[-1].query["podname"] == pod


def test_the_ui_host_setting_when_the_host_is_the_api_server(
    cluster: Cluster, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = finished_run(cluster.kfp, module)
    cluster.kfp.ui = False  # the host is ml-pipeline:8888, not the UI
    result = cli("logs", handle.run_id, "--host", cluster.kfp.url)
    assert result.exit_code == 5
    assert "the Kubernetes API: no access (no kubeconfig" in result.stderr
    assert "has no /k8s/pod/logs (404): it is the API server, not the UI; set " \
           "kubeflow.uiHost" in result.stderr
    assert "the log archive (minio://mlpipeline/private-artifacts/...): no archived log at " \
           "minio://mlpipeline/private-artifacts/kubeflow/" in result.stderr
    assert "no log of stage 'stage1'" in result.stderr and "hint:" in result.stderr

    from support.kfp_api_server import KfpApiServer

    with KfpApiServer(pods=cluster.pods) as ui:  # the UI, elsewhere, on the same cluster
        (tmp_path / "unip-kfp.yaml").write_text(f"kubeflow: {{uiHost: '{ui.url}'}}\n")
        monkeypatch.chdir(tmp_path)
        result = cli("logs", handle.run_id, "--host", cluster.kfp.url, "--tail", "1")
        assert result.exit_code == 0, result.stderr
        assert result.stdout == "[stage1] stage1: step 3 of 3\n[stage2] stage2: step 3 of 3\n"
        assert f"the Kubeflow Pipelines UI ({ui.url}/k8s/pod/logs)" in result.stderr


def test_a_refusing_source_is_exit_5_and_says_why(
    cluster: Cluster, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = finished_run(cluster.kfp, module)
    cluster.kfp.delete_workflow(handle.run_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(LogsUnavailable) as caught:
        attach(handle.run_id, host=cluster.kfp.url).logs()
    message = str(caught.value)
    assert caught.value.exit_code == 5
    assert "the Kubeflow Pipelines UI" in message and "the UI could not read it (500" in message
    assert "the log archive (minio://mlpipeline/private-artifacts/...): S3 at" in message
    assert "the secret key does not match the access key" in message
    result = cli("logs", handle.run_id, "--host", cluster.kfp.url)
    assert result.exit_code == 5 and "unip-kfp: no log of stage 'stage1'" in result.stderr


@pytest.mark.parametrize("access", ["kubernetes", "ui"])
def test_follow_prints_a_running_stage_until_the_run_ends(
    cluster: Cluster, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    """Streamed from the Kubernetes API, or polled from the UI without it: the same lines."""
    if access == "kubernetes":
        monkeypatch.setenv("KUBECONFIG", str(cluster.k8s.kubeconfig(tmp_path / "kubeconfig")))
    cluster.kfp.run_script = [RunStep("RUNNING", {"stage1": "RUNNING"})]
    cluster.kfp.stage_logs["stage1"] = "epoch 1\n"
    from support.kubeflow_env import cli as run_cli

    run_id = run_cli("run", module / "manifests", "--host", cluster.kfp.url, "--no-wait",
                     *URI_ARGS).stdout.strip()
    record = cluster.kfp.runs[run_id]

    def following() -> bool:  # streaming from Kubernetes, or polling the UI
        if access == "kubernetes":
            return any("follow=True" in p for p in pod_log_requests(cluster.k8s))
        return bool(log_requests(cluster.kfp))

    def training() -> None:  # the stage writes on, then ends; the run then succeeds
        pod = record.workflow.stage_pod("stage1")
        deadline = time.monotonic() + 30
        while not following() and time.monotonic() < deadline:
            time.sleep(0.01)
        for epoch in (2, 3):
            time.sleep(0.05)
            cluster.pods.append("kubeflow", pod, f"epoch {epoch}\n")
        cluster.pods.append("kubeflow", pod, "done")  # no newline: printed at the end
        cluster.kfp.set_run_script(run_id, [RunStep("SUCCEEDED", {"stage1": "SUCCEEDED",
                                                                  "stage2": "SUCCEEDED"})])
        cluster.pods.finish("kubeflow", pod)

    writer = threading.Thread(target=training)
    writer.start()
    result = cli("logs", run_id, "--follow", "--stage", "stage1", "--host", cluster.kfp.url)
    writer.join()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[stage1] epoch 1\n[stage1] epoch 2\n[stage1] epoch 3\n[stage1] done\n"
    streamed = any("follow=True" in p for p in pod_log_requests(cluster.k8s))
    assert streamed == (access == "kubernetes")


def test_stage_choice_and_tail(cluster: Cluster, env: S3Endpoint, module: Path,
                               kubeconfig: Path) -> None:
    handle = finished_run(cluster.kfp, module)
    result = cli("logs", handle.run_id, "--stage", "stage2", "--tail", "2", "--host",
                 cluster.kfp.url)
    assert result.stdout == "[stage2] stage2: step 2 of 3\n[stage2] stage2: step 3 of 3\n"
    assert "tailLines=2" in pod_log_requests(cluster.k8s)[-1]
    result = cli("logs", handle.run_id, "--stage", "nope", "--host", cluster.kfp.url)
    assert result.exit_code == 2 and "stages: stage1, stage2" in result.stderr
    result = cli("logs", "not-a-run", "--host", cluster.kfp.url)
    assert result.exit_code == 2 and "no local run 'not-a-run'" in result.stderr
    result = cli("logs", "0b4c0000-0000-4000-8000-000000000000", "--host", cluster.kfp.url)
    assert result.exit_code == 2 and "no run 0b4c0000" in result.stderr


def test_a_stage_that_did_not_run_has_no_log(cluster: Cluster, env: S3Endpoint,
                                             module: Path) -> None:
    cluster.kfp.run_script = lambda stages: failing_script(stages, "stage1")
    handle = finished_run(cluster.kfp, module)
    logs = handle.logs()
    assert logs["stage2"] == "" and logs.sources["stage2"] == "not run"
    assert "ValueError: stage1 failed" in logs["stage1"]


def test_pods_of_retried_nodes() -> None:
    """A stock 2.17 install retries every template (templateDefaults.retryStrategy): each
    node runs as `<name>(0)`, `<name>(1)`; the last attempt the run reports is the pod."""
    wf = "my-pipeline-x7k2p"
    plain = {node_id(wf, f"{wf}.{p}") for p in ("root", "root.stage1", "root.stage1.executor")}
    assert resolve_node(wf, ["root", "stage1", "executor"], plain) == f"{wf}.root.stage1.executor"
    names = [f"{wf}(0)", f"{wf}(0).root", f"{wf}(0).root(0)", f"{wf}(0).root(0).stage1",
             f"{wf}(0).root(0).stage1(0)", f"{wf}(0).root(0).stage1(0).executor",
             f"{wf}(0).root(0).stage1(0).executor(0)", f"{wf}(0).root(0).stage1(0).executor(1)"]
    retried = {node_id(wf, n) for n in names}
    assert resolve_node(wf, ["root", "stage1", "executor"], retried) == names[-1]
    assert resolve_node(wf, ["root", "stage2", "executor"], retried) is None


def test_local_run_logs_by_id_after_its_folder_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.local_runs import copy_case, isolate

    isolate(tmp_path, monkeypatch)
    module = copy_case("values", tmp_path)
    result = cli("run", module / "manifests", "-i", "rate=0.5", "-i", "count=3", "-i",
                 "config={}", "-i", "label=x", "-o", f"report={tmp_path / 'out'}")
    assert result.exit_code == 0, result.stderr
    (run_id,) = [p.name for p in (module / ".unip-kfp" / "logs").iterdir()]
    assert not (module / ".unip-kfp" / "runs" / run_id).exists()  # removed after success
    shown = [line for line in result.stderr.splitlines() if line.startswith("[show] ")]
    monkeypatch.chdir(module)
    result = cli("logs", run_id)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == shown == ["[show] values: done"]
    assert cli("logs", run_id, "--stage", "show", "--tail", "0").stdout == ""
    monkeypatch.chdir(tmp_path)
    by_path = cli("logs", str(module / ".unip-kfp" / "runs" / run_id))  # the folder's path
    assert by_path.stdout == "[show] values: done\n"
    monkeypatch.chdir(module)
    result = cli("logs", run_id, "--stage", "nope")
    assert result.exit_code == 2 and "stages: show" in result.stderr
