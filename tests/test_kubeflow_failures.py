"""Every way a Kubeflow run can go wrong ends with the contract's exit code and a clear reason.

    5  Kubeflow or S3 unreachable, auth refused, or the server failing (5xx)
    1  the run FAILED or was CANCELED (the stage named), or Kubeflow refused it (4xx)
    124  --timeout: we stopped waiting, the run keeps going
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kfp_api_server import canceled_script, failing_script, stuck_script
from s3_server import S3Endpoint
from test_kubeflow_common import (  # noqa: F401  (the *_fixture names register fixtures)
    BOX,
    HookedKfpServer,
    cli,
    env_fixture,
    free_port,
    kfp_fixture,
    module_fixture,
)

import unip_kfp
from unip_kfp.errors import RunFailedError, WaitTimeoutError
from unip_kfp.kubeflow import submit

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


def test_refused_run_is_exit_1(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    kfp.fail("POST", "/runs", 400, "Invalid input error: parameter xy_test has wrong type")
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS)
    assert result.exit_code == 1
    assert "Kubeflow refused creating run" in result.stderr
    assert "parameter xy_test has wrong type" in result.stderr


def test_failed_run_names_the_stage(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    kfp.run_script = lambda stages: failing_script(stages, "stage1", "OOMKilled (exit 137)")
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS, "-o",
                 "testing_results=./never")
    assert result.exit_code == 1
    assert "FAILED: stage 'stage1' failed" in result.stderr
    assert "OOMKilled (exit 137)" in result.stderr
    assert f"/#/runs/details/{kfp.last_run().run_id}" in result.stderr
    assert "stage2" not in result.stderr
    assert not Path("never").exists()


def test_canceled_run_ends_the_wait(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    kfp.run_script = canceled_script(["stage1"])  # someone cancels while stage1 runs
    started = time.monotonic()
    result = cli("run", module / "manifests", "--host", kfp.url, *URIS, "--timeout", "20")
    assert time.monotonic() - started < 5  # not kfp's wait_for_run_completion: no spin
    assert result.exit_code == 1
    assert "was CANCELED while stage 'stage1' ran" in result.stderr


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
    handle.cancel()  # the fake server moves it to CANCELING, then CANCELED
    with pytest.raises(RunFailedError, match="CANCELED"):
        handle.wait(timeout=5, poll_interval=0.02)
    assert handle.state == "CANCELED"
    with pytest.raises(RunFailedError, match="no outputs"):
        handle.outputs({"testing_results": "./out"})


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
