"""`unip-kfp doctor` against the test servers: the example passes, and each injected fault
turns exactly its own row red, with the exact reason and fix (exit 5).

Servers: the KFP API test server (HTTP, or HTTPS behind a TLS front with a CA made here), the
SeaweedFS store of the `s3_server` fixture (real signatures, real refusals), and, for the
namespace objects, the Kubernetes API test server.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from support.k8s_api_server import K8sApiServer
from support.kfp_api_server import KfpApiServer
from support.s3_server import S3Endpoint, create_bucket, remove_bucket
from support.tls_server import TestCA, TlsFront

from unip_kfp.cli import main
from unip_kfp.kubeflow.sessions import Session, save

ROOT = Path(__file__).resolve().parent.parent
DATA = "unip-data"
BOX = f"s3://{DATA}/unip/data-box"
CONFIG = f"boxes:\n  data-box: {{uri: {BOX}}}\nuser: tester\n"
ROWS = ["tls", "endpoint", "auth", "namespace", "credentials", "s3", "pipeline root",
        "box data-box", "images", "namespace objects"]

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


@pytest.fixture(name="kfp")
def kfp_fixture() -> Iterator[KfpApiServer]:
    with KfpApiServer() as server:
        yield server


@pytest.fixture(name="env")
def env_fixture(kfp_home: Path, s3_server: S3Endpoint, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """S3 keys and endpoint of the caller, no Kubernetes access, no stray settings."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", s3_server.url)
    for name in ("XDG_CONFIG_HOME", "UNIP_KFP_TOKEN", "KUBERNETES_SERVICE_HOST", "SSL_CERT_FILE",
                 "AWS_CA_BUNDLE", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    create_bucket(s3_server, "mlpipeline")
    create_bucket(s3_server, DATA)
    return s3_server


@pytest.fixture(name="module")
def module_fixture(tmp_path: Path) -> Path:
    """The example's manifests with a unip-kfp.yaml putting its box in the data bucket."""
    target = tmp_path / "module"
    shutil.copytree(ROOT / "examples" / "train-test" / "manifests", target / "manifests")
    (target / "unip-kfp.yaml").write_text(CONFIG)
    return target / "manifests"


def doctor(*args: str | Path) -> tuple[Result, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(main, ["doctor", *map(str, args), "--timeout", "2",
                                       "--format", "json"])
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(result.output) from None
    return result, {c["name"]: c for c in report["checks"]}


def statuses(rows: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: row["status"] for name, row in rows.items()}


def failed(rows: dict[str, dict[str, str]]) -> list[str]:
    return [name for name, row in rows.items() if row["status"] == "fail"]


def assert_row(rows: dict[str, dict[str, str]], name: str, detail: str, fix: str) -> None:
    assert failed(rows) == [name], rows
    assert (rows[name]["detail"], rows[name]["fix"]) == (detail, fix)


# --- the example passes


def test_the_example_passes(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 0, result.output
    assert list(rows) == ROWS
    assert statuses(rows) == {
        "tls": "skip", "endpoint": "pass", "auth": "pass", "namespace": "skip",
        "credentials": "pass", "s3": "pass", "pipeline root": "pass", "box data-box": "pass",
        "images": "pass", "namespace objects": "skip"}
    assert rows["endpoint"]["detail"] == (
        f"{kfp.url}: KFP 2.17.0 (commit fake), single-user, pipeline store: database")
    assert rows["auth"]["detail"] == "no token: accepted"
    assert rows["box data-box"]["detail"] == (
        f"{BOX}: bucket and prefix readable, uploads can be written (probe removed)")
    assert rows["images"]["detail"] == "1 image(s) well-formed (tags; caching is off)"
    assert rows["namespace objects"]["detail"] == (
        "not checked: no Kubernetes API access (no kubeconfig, not in a pod)")
    assert list(env.minio().list_objects(DATA, recursive=True)) == []  # the probe is gone
    assert {r.method for r in kfp.requests} == {"GET"}  # nothing changed on Kubeflow


def test_the_table(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", str(module), "--host", kfp.url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"unip-kfp doctor: {kfp.url}"
    assert lines[1] == f"  – tls                {kfp.url} is plain HTTP: no certificate"
    assert lines[2].startswith("  ✓ endpoint           ")
    assert lines[-1] == "all checks passed"


def test_without_path_the_manifest_rows_are_left_out(env: S3Endpoint, kfp: KfpApiServer,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result, rows = doctor("--host", kfp.url)
    assert result.exit_code == 0, result.output
    assert list(rows) == ROWS[:7]


# --- one fault, one red row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wrong_host(env: S3Endpoint, module: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result, rows = doctor(module, "--host", url)
    assert result.exit_code == 5
    assert_row(rows, "endpoint",
               f"cannot reach Kubeflow Pipelines at {url}: connection refused (nothing listens "
               "there)",
               "check --host / KF_PIPELINES_ENDPOINT; for a local cluster run kubectl "
               "port-forward -n kubeflow svc/ml-pipeline-ui 8080:80 and use --host "
               "http://localhost:8080")
    assert rows["auth"] == {"name": "auth", "status": "skip",
                            "detail": "not checked: the endpoint failed", "fix": ""}
    assert rows["namespace"]["detail"] == "not checked: auth failed"


def test_a_host_that_never_answers_takes_the_timeout_only(env: S3Endpoint, module: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result, rows = doctor(module, "--host", url)
        took = time.monotonic() - started
    assert result.exit_code == 5
    assert failed(rows) == ["endpoint"]
    assert rows["endpoint"]["detail"] == (
        f"cannot reach Kubeflow Pipelines at {url}: no answer within 2 s")
    assert took < 8, took  # one wait of 2 s and the quick rows, not kfp's 5 x 5 s retries


def test_wrong_path_prefix_did_you_mean(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    result, rows = doctor(module, "--host", kfp.url + "/pipeline")
    assert result.exit_code == 5
    assert_row(rows, "endpoint",
               f"{kfp.url}/pipeline does not serve the Kubeflow Pipelines v2 API (GET "
               "/apis/v2beta1/healthz: 404)",
               f"did you mean --host {kfp.url}? (the API answers there)")


class _UnderPipeline(http.server.BaseHTTPRequestHandler):
    """The Kubeflow platform's layout: the API under /pipeline, a web page elsewhere."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/pipeline/apis/v2beta1/healthz":
            body, kind = json.dumps({"multi_user": False, "tag_name": "2.17.0"}), "json"
        else:
            body, kind = "<html><body>Kubeflow Central Dashboard</body></html>", "html"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", f"application/{kind}" if kind == "json" else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_missing_pipeline_prefix_did_you_mean(env: S3Endpoint, module: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UnderPipeline)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result, rows = doctor(module, "--host", url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 5
    assert_row(rows, "endpoint",
               f"{url} answered {url}/apis/v2beta1/healthz with a web page, not the Kubeflow "
               "Pipelines API (a login page?)",
               f"did you mean --host {url}/pipeline? (the API answers there)")


def test_expired_session(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    save(Session(kfp.url, "oauth2_proxy_kubeflow=old", time.time() - 60, "user@example.com",
                 time.time() - 3600))
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - 60))
    assert_row(rows, "auth",
               f"login session as user@example.com (unip-kfp login; expired {stamp}): "
               f"expired {stamp}",
               f"log in again: unip-kfp login --host {kfp.url}")


def test_refused_token(env: S3Endpoint, kfp: KfpApiServer, module: Path, tmp_path: Path) -> None:
    kfp.require_token = "right"
    token = tmp_path / "token"
    token.write_text("wrong")
    result, rows = doctor(module, "--host", kfp.url, "--token-file", token)
    assert result.exit_code == 5
    assert_row(rows, "auth",
               f"token file {token}: refused (403: PermissionDenied: the bearer token is not "
               "authorized)",
               "the token is wrong or expired: a new one (Kubeflow: kubectl create token "
               "default-editor -n NAMESPACE --audience istio-ingressgateway.istio-system.svc."
               "cluster.local), passed with --token-file FILE")
    token.write_text("right")
    assert doctor(module, "--host", kfp.url, "--token-file", token)[0].exit_code == 0


def test_namespace_forbidden(env: S3Endpoint, module: Path) -> None:
    with KfpApiServer(multi_user=True) as kfp:
        kfp.fail("GET", "/experiments", 403, "PermissionDenied: User 'user@example.com' is "
                 "not authorized with reason:  (request: &ResourceAttributes{Namespace:team-b,"
                 "Verb:list,Group:pipelines.kubeflow.org,Resource:experiments})")
        result, rows = doctor(module, "--host", kfp.url, "--namespace", "team-b")
        ok, good = doctor(module, "--host", kfp.url, "--namespace", "team-b", "--timeout", "2")
    assert result.exit_code == 5
    assert_row(rows, "namespace",
               "'team-b': listing experiments refused (403: PermissionDenied: User "
               "'user@example.com' is not authorized with reason:  (request: &ResourceAttributes"
               "{Namespace:team-b,Verb:list,Group:pipelines.kubeflow.org,Resource:experiments}))",
               "check the profile name; ask its owner to add you as a contributor (Kubeflow "
               "dashboard: Manage Contributors)")
    assert rows["endpoint"]["detail"].endswith("multi-user, pipeline store: database")


def test_multi_user_without_namespace(env: S3Endpoint, module: Path) -> None:
    with KfpApiServer(multi_user=True) as kfp:
        result, rows = doctor(module, "--host", kfp.url)
        good, passed = doctor(module, "--host", kfp.url, "--namespace", "team-a")
    assert_row(rows, "namespace", "multi-user install and no namespace given",
               "pass --namespace NS (your profile), or kubeflow.namespace")
    assert good.exit_code == 0 and passed["namespace"]["detail"] == (
        "'team-a': experiments can be listed")


def test_bucket_missing(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    remove_bucket(env.minio(), DATA)
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert_row(rows, "box data-box",
               f"S3 at {env.url}: bucket '{DATA}' does not exist (reading box 'data-box' "
               f"({BOX}))",
               "check the bucket (the host part of the URI, or of the box's URI: --box, "
               "unip-kfp.yaml) and the S3 endpoint")


def test_pipeline_root_bucket_missing(env: S3Endpoint, kfp: KfpApiServer, module: Path) -> None:
    remove_bucket(env.minio(), "mlpipeline")
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert failed(rows) == ["pipeline root"]
    assert rows["pipeline root"]["detail"].startswith(
        f"S3 at {env.url}: bucket 'mlpipeline' does not exist (reading the pipeline root ")


def test_wrong_s3_key(env: S3Endpoint, kfp: KfpApiServer, module: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert_row(rows, "s3",
               f"S3 at {env.url} refused listing buckets: the secret key does not match the "
               "access key (SignatureDoesNotMatch)",
               "set AWS_SECRET_ACCESS_KEY (or MINIO_SECRET_KEY) to the secret of "
               "AWS_ACCESS_KEY_ID on this store")
    assert rows["box data-box"]["detail"] == "not checked: S3 failed"


def test_keys_that_may_not_write_the_upload_box(env: S3Endpoint, kfp: KfpApiServer,
                                               module: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if env.read_only is None:
        pytest.skip("the external store has no read-only identity")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", env.read_only.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", env.read_only.secret_key)
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert failed(rows) == ["box data-box"]
    assert rows["box data-box"]["detail"].startswith(
        f"S3 at {env.url} refused writing a probe object to {BOX}/users/tester/file_groups/"
        ".unip-kfp-doctor-")


@pytest.fixture(name="https")
def https_fixture(kfp: KfpApiServer, tmp_path: Path) -> Iterator[tuple[str, TestCA]]:
    ca = TestCA.create(tmp_path / "pki")
    with TlsFront(kfp.port, *ca.issue()) as front:
        yield front.url, ca


def test_unknown_ca(env: S3Endpoint, https: tuple[str, TestCA], module: Path) -> None:
    url, ca = https
    result, rows = doctor(module, "--host", url)
    assert result.exit_code == 5
    assert_row(rows, "tls",
               f"TLS to {url} failed with the system's CAs: unable to get local issuer "
               "certificate",
               "pass the CA that signed its certificate: --ca-cert FILE (or "
               "KF_PIPELINES_SSL_CA_CERT, kubeflow.caCert)")
    assert rows["endpoint"]["detail"] == "not checked: TLS failed"
    good, passed = doctor(module, "--host", url, "--ca-cert", ca.ca_pem)
    assert good.exit_code == 0, good.output
    assert passed["tls"]["detail"].startswith(
        f"certificate of 127.0.0.1 verified with CA bundle {ca.ca_pem} (issuer unip-kfp test "
        "CA, valid until ")


def test_mutable_tags_are_flagged_when_caching_is_on(env: S3Endpoint, kfp: KfpApiServer,
                                                     module: Path) -> None:
    result, rows = doctor(module, "--host", kfp.url, "--cache")
    assert result.exit_code == 5
    assert_row(rows, "images",
               "caching is on and registry.example.com/unip/train-test:0.1.0 is given by a "
               "tag: a re-pushed tag reuses results of the old image",
               "pin the images by digest (image@sha256:...), or run without --cache")
    pipeline = module / "pipeline.yaml"
    pinned = "registry.example.com/unip/train-test@sha256:" + "ab" * 32
    pipeline.write_text(pipeline.read_text().replace(
        "registry.example.com/unip/train-test:0.1.0", pinned))
    good, passed = doctor(module, "--host", kfp.url, "--cache")
    assert good.exit_code == 0, good.output
    assert passed["images"]["detail"] == "1 image(s) well-formed (digests)"


def test_empty_mounted_data(env: S3Endpoint, kfp: KfpApiServer, tmp_path: Path) -> None:
    target = tmp_path / "mounted"
    shutil.copytree(ROOT / "examples" / "train-test-mounted" / "manifests", target / "manifests")
    (target / "unip-kfp.yaml").write_text(CONFIG.replace(
        "user:", f"  global-data-box: {{uri: s3://{DATA}/shared}}\nuser:"))
    result, rows = doctor(target / "manifests", "--host", kfp.url)
    assert result.exit_code == 5
    mount = f"s3://{DATA}/shared/users/developer/file_groups/my_dataset"
    assert_row(rows, "box global-data-box", f"mounted data {mount} is empty",
               "upload 'xy_train' there first (it is mounted at every run)")
    import io

    env.minio().put_object(DATA, "shared/users/developer/file_groups/my_dataset/xy.csv",
                           io.BytesIO(b"x,y\n"), 4)
    good, passed = doctor(target / "manifests", "--host", kfp.url)
    assert good.exit_code == 0, good.output
    assert passed["box global-data-box"]["detail"] == (
        f"s3://{DATA}/shared: bucket and prefix readable, xy_train mounted from it")


# --- credentials and the namespace objects (Kubernetes API)


@pytest.fixture(name="k8s")
def k8s_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[K8sApiServer]:
    with K8sApiServer() as server:
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig")))
        yield server


def secret(name: str, *keys: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": "team-a"},
            "data": {k: "eA==" for k in keys}}


def test_namespace_objects_env_credentials(env: S3Endpoint, kfp: KfpApiServer, module: Path,
                                           k8s: K8sApiServer) -> None:
    (module.parent / "unip-kfp.yaml").write_text(
        f"boxes:\n  data-box: {{uri: {BOX}, secret: data-box-s3}}\nuser: tester\n"
        "imagePullSecrets: [regcred]\nkubeflow: {namespace: team-a}\n")
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert_row(rows, "namespace objects",
               "Secret data-box-s3 does not exist in 'team-a'; Secret regcred does not exist in "
               "'team-a'",
               "unip-kfp cluster-config PATH writes them (Secrets as templates); apply with "
               "kubectl apply -f")
    k8s.put(secret("data-box-s3", "accesskey"))
    k8s.put(secret("regcred", ".dockerconfigjson"))
    _, rows = doctor(module, "--host", kfp.url)
    assert rows["namespace objects"]["detail"] == "Secret data-box-s3 lacks key(s) secretkey"
    k8s.put(secret("data-box-s3", "accesskey", "secretkey"))
    good, rows = doctor(module, "--host", kfp.url)
    assert good.exit_code == 0, good.output
    assert rows["namespace objects"]["detail"].startswith(
        "'team-a' has the Secrets (and kfp-launcher providers) the module needs (kubeconfig ")
    k8s.forbidden.add("team-a")
    _, rows = doctor(module, "--host", kfp.url)
    assert rows["namespace objects"]["status"] == "skip"
    assert rows["namespace objects"]["detail"].endswith(
        "refused reading Secret data-box-s3 in namespace 'team-a': forbidden")


def test_launcher_credentials(env: S3Endpoint, kfp: KfpApiServer, module: Path,
                              k8s: K8sApiServer) -> None:
    config = module.parent / "unip-kfp.yaml"
    launcher = (f"boxes:\n  data-box: {{uri: {BOX}, secret: data-box-s3}}\nuser: tester\n"
                "kubeflow: {namespace: team-a, credentials: launcher}\n")
    config.write_text(launcher)
    k8s.put(secret("data-box-s3", "accesskey", "secretkey"))
    result, rows = doctor(module, "--host", kfp.url)
    assert result.exit_code == 5
    assert failed(rows) == ["credentials", "namespace objects"]
    assert rows["credentials"]["detail"] == (
        f"launcher: box 'data-box' ({BOX}) is outside the pipeline root's bucket "
        "(minio://mlpipeline): KFP 2.17's launcher reads it with the stage pod's own "
        "environment, not with the kfp-launcher providers")
    config.write_text(launcher.replace("credentials: launcher",
                                       f"credentials: launcher, pipelineRoot: s3://{DATA}/kfp"))
    _, rows = doctor(module, "--host", kfp.url)
    assert failed(rows) == ["namespace objects"]
    assert rows["namespace objects"]["detail"] == (
        f"kfp-launcher in 'team-a' does not name Secret data-box-s3 for box 'data-box' ({BOX})")
    made = CliRunner().invoke(main, ["cluster-config", str(module)])
    [config_map] = [d for d in yaml.safe_load_all(made.stdout) if d]
    config_map["metadata"]["namespace"] = "team-a"
    k8s.put(config_map)
    good, rows = doctor(module, "--host", kfp.url)
    assert good.exit_code == 0, good.output
    assert rows["credentials"]["detail"] == (
        "launcher: kfp-launcher names the box Secrets; boxes lie in the pipeline root's bucket")


def test_s3_behind_a_private_ca(env: S3Endpoint, kfp: KfpApiServer, module: Path,
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = TestCA.create(tmp_path / "pki")
    with TlsFront(env.port, *ca.issue()) as front:
        monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", front.url)
        result, rows = doctor(module, "--host", kfp.url)
        assert result.exit_code == 5
        assert_row(rows, "s3",
                   f"TLS to S3 at {front.url} failed with the public CAs while listing "
                   "buckets: the certificate is not signed by it",
                   "pass the CA that signed it: s3.caCert in unip-kfp.yaml or AWS_CA_BUNDLE")
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca.ca_pem))
        good, rows = doctor(module, "--host", kfp.url)
        assert good.exit_code == 0, good.output
        assert rows["s3"]["detail"] == f"{front.url} ({ca.ca_pem}): keys accepted"
        monkeypatch.delenv("AWS_CA_BUNDLE")
        (module.parent / "unip-kfp.yaml").write_text(CONFIG + f"s3: {{caCert: {ca.ca_pem}}}\n")
        assert doctor(module, "--host", kfp.url)[0].exit_code == 0
