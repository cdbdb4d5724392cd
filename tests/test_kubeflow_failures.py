"""Every way a Kubeflow run can go wrong ends with the contract's exit code and a clear reason.

    5  Kubeflow or S3 unreachable, auth refused, or the server failing
    4  Kubeflow rejects the pipeline spec (even when it answers 500)
    2  a wrong version or input the server reports (even as 500)
    1  the run FAILED (the stage named, its log pointed to) or was canceled by a user
    124  --timeout: we stopped waiting, the run keeps going

The fake server answers as KFP 2.17 does (``test_kfp_api_server.py`` tests it): no error text on
failed runs, a canceled run ends FAILED after CANCELING, user errors often come as 500.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.kfp_api_server import RunStep, canceled_script, failing_script, stuck_script
from support.kfp_fake_errors import internal, not_found
from support.kfp_fake_runs import refuse_creation
from support.kubeflow_env import BOX, HookedKfpServer, cli, free_port
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.errors import RunFailedError, WaitTimeoutError
from unip_kfp.kubeflow.submission import submit
from unip_kfp.kubeflow.versions import upload

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

URIS = ("-i", "xy_train=s3://b/t.csv", "-i", "xy_test=s3://b/v.csv")


class _Canned(BaseHTTPRequestHandler):
    status = 200
    body = b"<html><body>Log in with Dex</body></html>"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    """Not a KFP API: an HTML page (a login proxy), or 404 for everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_unreachable_host_fails_fast(env: S3Endpoint, module: Path) -> None:
    started = time.monotonic()
    result = cli("run", module / "manifests", "--host", f"http://127.0.0.1:{free_port()}",
                 *URIS)
    assert time.monotonic() - started < 5
    assert result.exit_code == 5
    assert "cannot reach Kubeflow Pipelines" in result.stderr
    assert "connection refused" in result.stderr and "port-forward" in result.stderr


def test_unknown_host_name(env: S3Endpoint, module: Path) -> None:
    result = cli("run", module / "manifests", "--host", "http://kfp.invalid", *URIS)
    assert result.exit_code == 5 and "cannot reach" in result.stderr


def test_no_host_at_all(env: S3Endpoint, module: Path) -> None:
    result = cli("upload", module / "manifests")
    assert result.exit_code == 2 and "KF_PIPELINES_ENDPOINT" in result.stderr


@pytest.mark.parametrize("token", [None, "wrong"])
def test_auth_refused(kfp: HookedKfpServer, env: S3Endpoint, module: Path,
                      token: str | None) -> None:
    kfp.require_token = "right"
    args = ["--token", token] if token else []
    result = cli("run", module / "manifests", "--host", kfp.url, *args, *URIS)
    assert result.exit_code == 5
    assert ("401" if token is None else "403") in result.stderr
    assert "token" in result.stderr and "--namespace" in result.stderr
    assert not kfp.runs


def test_login_page_instead_of_the_api(canned: ThreadingHTTPServer, env: S3Endpoint,
                                       module: Path) -> None:
    host = f"http://127.0.0.1:{canned.server_address[1]}"
    result = cli("run", module / "manifests", "--host", host, *URIS)
    assert result.exit_code == 5 and "web page" in result.stderr and "token" in result.stderr


def test_host_without_the_api(canned: ThreadingHTTPServer, env: S3Endpoint, module: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Canned, "status", 404)
    host = f"http://127.0.0.1:{canned.server_address[1]}"
    result = cli("run", module / "manifests", "--host", host, *URIS)
    assert result.exit_code == 5 and "does not serve the Kubeflow Pipelines v2 API" in result.stderr


def test_server_error_on_run_creation_is_exit_5(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    kfp.fail("POST", "/runs", 500, "failed to create a workflow: database is locked")
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert result.exit_code == 5
    assert "creating run" in result.stderr and "database is locked" in result.stderr


def test_other_refusals_are_exit_1(kfp: HookedKfpServer, env: S3Endpoint,
                                   module: Path) -> None:
    kfp.fail("POST", "/runs", 409, "Already exist error: a run of that name exists")
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert result.exit_code == 1
    assert "Kubeflow refused creating run" in result.stderr
    assert "a run of that name exists" in result.stderr


def test_unknown_version_answered_500_is_exit_2(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    """2.17 wraps "version not found" in an internal error (500); it is still a usage error."""
    uploaded = cli("upload", module / "manifests", "--host", kfp.url)
    version_id = uploaded.stdout.split("version_id: ")[1].strip()
    kfp.fail_with("POST", "/runs", refuse_creation(internal(
        not_found("PipelineVersion", version_id),
        "Failed to create a run due to error fetching manifest")))  # deleted meanwhile
    result = cli("run", module / "manifests", "--host", kfp.url, "--from-version", version_id,
                 *URIS)
    assert result.exit_code == 2, result.output
    assert f"PipelineVersion {version_id} not found" in result.stderr
    assert "Internal" not in result.stderr and "unavailable" not in result.stderr


def test_input_the_server_misses_is_exit_2(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    """The uploaded version needs an input the manifests here do not declare (400, code 3)."""
    changed = tmp_path / "changed"
    shutil.copytree(module, changed)
    pipeline, api = changed / "manifests" / "pipeline.yaml", changed / "manifests" / "api.yaml"
    text = pipeline.read_text().replace("    - name: xy_test\n",
                                        "    - name: xy_test\n    - name: seed\n", 1)
    pipeline.write_text(text.replace("        - name: extra_parameters\n      outputs:",
                                     "        - name: extra_parameters\n        - name: seed\n"
                                     "      outputs:", 1))
    api.write_text(api.read_text().replace(
        "      - name: xy_test\n",
        '      - name: seed\n        type:\n          datatypes: [ "str" ]\n'
        "      - name: xy_test\n", 1))
    uploaded = cli("upload", changed / "manifests", "--host", kfp.url)
    assert uploaded.exit_code == 0, uploaded.output
    version_id = uploaded.stdout.split("version_id: ")[1].strip()
    result = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                 f"my-pipeline:{version_id}", *URIS)
    assert result.exit_code == 2, result.output
    assert "parameter seed is not optional, yet has neither default value nor user provided " \
        "value" in result.stderr
    assert "-i NAME=VALUE" in result.stderr and not kfp.runs


def test_spec_the_server_rejects_is_exit_4(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    package = tmp_path / "old.yaml"
    assert cli("compile", module / "manifests", "-o", package).exit_code == 0
    package.write_text(package.read_text().replace("schemaVersion: 2.1.0",
                                                   "schemaVersion: 2.0.0"))
    run = cli("run", package, "--host", kfp.url, *URIS)
    assert run.exit_code == 4, run.output  # 500 with code 13 from the server
    assert "KFP only supports schema version 2.1.0" in run.stderr
    upload = cli("upload", package, "--host", kfp.url)
    assert upload.exit_code == 4, upload.output  # 400 from the upload route
    assert "KFP only supports schema version 2.1.0" in upload.stderr


def test_go_stack_traces_are_never_shown(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kfp.fail("POST", "/runs", 500, "Failed to create a workflow: etcd timeout", go_error=True)
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert result.exit_code == 5
    assert "Failed to create a workflow: etcd timeout" in result.stderr
    assert ".go:" not in result.stderr and "goexit" not in result.stderr
    kfp.fail("POST", "/pipelines/upload", 500, "Failed to create a pipeline")
    upload = cli("upload", module / "manifests", "--host", kfp.url)
    assert upload.exit_code == 5 and "Failed to create a pipeline" in upload.stderr
    assert ".go:" not in upload.stderr
    monkeypatch.setenv("UNIP_KFP_DEBUG", "1")
    debug = cli("upload", module / "manifests", "--host", kfp.url)
    assert debug.exit_code == 5 and "pipeline_upload_server.go:" in debug.stderr


def test_failed_run_names_the_stage_and_its_log(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    kfp.run_script = lambda stages: failing_script(stages, "stage1")
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS, "-o",
                 "testing_results=./never")
    assert result.exit_code == 1
    run = kfp.last_run()
    assert "FAILED: stage 'stage1' failed (Kubeflow gives no reason; the log says why)" \
        in result.stderr
    pod = run.workflow.stage_pod("stage1")
    assert f"log of 'stage1': kubectl logs -n kubeflow {pod} -c main" in result.stderr
    assert "  stage2: not run" in result.stderr  # Argo's Omitted: no state at all
    assert "stage2: PENDING" not in result.stderr and "executor" not in result.stderr
    assert f"/#/runs/details/{run.run_id}" in result.stderr
    assert not Path("never").exists()


def test_driver_and_helper_failures(kfp: HookedKfpServer, env: S3Endpoint,
                                    module: Path) -> None:
    kfp.run_script = [RunStep("FAILED", {"stage1": "OMITTED", "stage1-driver": "FAILED"})]
    driver = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert driver.exit_code == 1
    assert "stage 'stage1' failed before its command started" in driver.stderr
    assert re.search(r"  stage1: FAILED( \(.*\))?: its driver failed", driver.stderr)
    assert f"{kfp.last_run().workflow.name}-system-container-driver-" in driver.stderr

    kfp.run_script = [RunStep("FAILED", {"import-xy-test": "FAILED"})]
    helper = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert helper.exit_code == 1
    assert "Kubeflow's step(s) 'import-xy-test' failed, no stage did" in helper.stderr
    assert "  stage1: not run" in helper.stderr and "  stage2: not run" in helper.stderr


def test_skipped_stage_is_not_run(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    kfp.run_script = [RunStep("RUNNING", {"stage1": "RUNNING"}),
                      RunStep("SUCCEEDED", {"stage1": "SUCCEEDED", "stage2": "SKIPPED"})]
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert result.exit_code == 0, result.output
    assert "  stage2: not run" in result.stderr and "run SUCCEEDED" in result.stderr


def test_canceled_run_reads_canceled(kfp: HookedKfpServer, env: S3Endpoint,
                                     module: Path) -> None:
    kfp.run_script = canceled_script(["stage1"])  # someone cancels while stage1 runs
    started = time.monotonic()
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS, "--timeout", "20")
    assert time.monotonic() - started < 5  # not kfp's wait_for_run_completion: no spin
    assert result.exit_code == 1
    assert "run CANCELING: canceled by a user" in result.stderr
    assert "was canceled by a user while stage 'stage1' ran" in result.stderr
    assert "  stage1: canceled" in result.stderr
    assert "stage 'stage1' failed" not in result.stderr  # 2.17 ends it FAILED; not a failure
    assert "(Kubeflow reports it FAILED)" in result.stderr


def test_timeout_says_the_run_keeps_going(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    kfp.run_script = stuck_script
    started = time.monotonic()
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS, "--timeout", "0.3")
    assert time.monotonic() - started < 5
    assert result.exit_code == 124
    assert "stopped waiting after 0.3 s" in result.stderr
    assert "keeps going" in result.stderr and kfp.last_run().run_id in result.stderr
    assert result.stdout.strip() == kfp.last_run().run_id  # the id was printed first


def test_python_api_raises_the_same_errors(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    inputs = {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    kfp.run_script = stuck_script
    handle = submit(project, host=kfp.url, inputs=inputs, echo=lambda line: None)
    with pytest.raises(WaitTimeoutError, match="keeps going"):
        handle.wait(timeout=0.1, poll_interval=0.02)
    assert handle.cancel() == "CANCELING"
    assert handle.cancel() == "CANCELING"  # 400 "Row not found": already canceling
    with pytest.raises(RunFailedError, match="canceled by a user") as err:
        handle.wait(timeout=5, poll_interval=0.02)
    assert handle.state == "CANCELED" == err.value.state  # type: ignore[attr-defined]
    assert handle.status() == "CANCELED"  # the server says FAILED, through CANCELING
    assert handle.cancel() == "CANCELED"  # finished: nothing to cancel
    with pytest.raises(RunFailedError, match="no outputs"):
        handle.outputs({"testing_results": "./out"})


def test_python_handle_reports_failures_like_the_cli(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    inputs = {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    kfp.run_script = lambda stages: failing_script(stages, "stage1")
    lines: list[str] = []
    handle = submit(project, host=kfp.url, inputs=inputs, echo=lines.append)
    with pytest.raises(RunFailedError, match="stage 'stage1' failed") as err:
        handle.wait(poll_interval=0.01)
    pod = kfp.runs[handle.run_id].workflow.stage_pod("stage1")
    assert f"kubectl logs -n kubeflow {pod} -c main" in str(err.value)
    assert handle.state == "FAILED" == handle.status()
    assert "  stage2: not run" in lines

    uploaded = upload(project, host=kfp.url, echo=lambda line: None)
    kfp.fail_with("POST", "/runs", refuse_creation(internal(
        not_found("PipelineVersion", uploaded.version_id),
        "Failed to create a run due to error fetching manifest")))
    with pytest.raises(unip_kfp.UsageError, match="PipelineVersion .* not found") as usage:
        submit(project, host=kfp.url, inputs=inputs, from_version=uploaded.version_id,
               echo=lambda line: None)
    assert usage.value.exit_code == 2


def test_kubeflow_going_away_while_waiting(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    kfp.run_script = stuck_script
    handle = submit(unip_kfp.load(str(module / "manifests")), host=kfp.url,
                    inputs={"xy_train": "s3://b/t", "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    kfp.fail("GET", "/runs/", 503, "upstream connect error")
    with pytest.raises(unip_kfp.UnreachableError, match="keeps going"):
        handle.wait(timeout=5, poll_interval=0.01)


def test_s3_unreachable_is_exit_5_before_any_run(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "-i", f"xy_train={module / 'data' / 'xy_train.csv'}", "-i", "xy_test=s3://b/v")
    assert time.monotonic() - started < 5
    assert result.exit_code == 5
    assert "cannot reach S3" in result.stderr and "connection refused" in result.stderr
    assert not kfp.runs


def test_missing_bucket_and_missing_keys(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = ("-i", f"xy_train={module / 'data' / 'xy_train.csv'}", "-i", "xy_test=s3://b/v")
    no_bucket = cli("run", module / "manifests", "--host", kfp.url,
                    "--box", "data-box=s3://no-such-bucket/box", *local)
    assert no_bucket.exit_code == 5 and "'no-such-bucket' does not exist" in no_bucket.stderr
    assert not kfp.runs
    kfp.requests.clear()

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    no_keys = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                  *local)
    assert no_keys.exit_code == 2 and "AWS_ACCESS_KEY_ID" in no_keys.stderr
    assert env.secret_key not in no_keys.output
    assert not kfp.runs and not kfp.requests  # usage errors come before any request
