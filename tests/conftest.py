"""Every shared pytest fixture: test servers, isolated callers, example modules.

The servers and helpers behind them are in `support/`; test modules never import each other.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import kfp
import pytest
from kfp import compiler
from support.k8s_api_server import K8sApiServer
from support.kfp_api_server import KfpApiServer
from support.kfp_client import ROOT, _demo
from support.kfp_fake_pods import PodStore
from support.kubeflow_env import DATA_BUCKET, EXAMPLE, USER, HookedKfpServer
from support.operate import Cluster
from support.s3_server import (
    ENDPOINT_ENV,
    S3Endpoint,
    create_bucket,
    external_endpoint,
    start_seaweedfs,
)

# --- fake KFP API server and S3 endpoint (see support/kfp_api_server.py, support/s3_server.py)


@pytest.fixture
def kfp_server() -> Iterator[KfpApiServer]:
    """A fresh fake KFP v2beta1 API server per test (``.url`` for ``kfp.Client(host=...)``)."""
    with KfpApiServer() as server:
        yield server


@pytest.fixture
def kfp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate ``kfp.Client``: a scratch HOME (it reads and writes ~/.config/kfp/context.json)
    and no ``KF_PIPELINES_*`` settings from the developer's shell."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # kfp fixes the path of its context file when it is imported, from the HOME of then
    from kfp.client import client as kfp_client

    monkeypatch.setattr(
        kfp_client.Client, "_LOCAL_KFP_CONTEXT", str(home / ".config" / "kfp" / "context.json")
    )
    for name in list(os.environ):
        if name.startswith("KF_PIPELINES"):
            monkeypatch.delenv(name)
    return home


# The S3 store: SeaweedFS (weed mini), started by the first test that needs it, once per
# session (per xdist worker). With UNIP_KFP_TEST_S3_ENDPOINT set, every S3 test also gets an
# `[endpoint]` variant marked `s3_endpoint` (deselected unless `-m s3_endpoint`) that runs
# against that store instead.


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_s3_store" in metafunc.fixturenames and os.environ.get(ENDPOINT_ENV):
        variants = ["seaweedfs", pytest.param("endpoint", marks=pytest.mark.s3_endpoint)]
        metafunc.parametrize("_s3_store", variants, indirect=True, scope="session")


def pytest_report_header(config: pytest.Config) -> str:
    external = os.environ.get(ENDPOINT_ENV)
    where = f"and {external} (-m s3_endpoint)" if external else f"(or {ENDPOINT_ENV})"
    return f"S3 tests: SeaweedFS weed mini on 127.0.0.1, started when first needed {where}"


@pytest.fixture(scope="session")
def _s3_store(request: pytest.FixtureRequest) -> Iterator[S3Endpoint]:
    if getattr(request, "param", "seaweedfs") == "endpoint":
        if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
            pytest.fail(f"{ENDPOINT_ENV}: one store, fixed bucket names: run -m s3_endpoint "
                        "without -n", pytrace=False)
        try:
            endpoint = external_endpoint()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        assert endpoint is not None
        yield endpoint
        endpoint.reset()
        return
    try:
        store = start_seaweedfs()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield store.endpoint
    finally:
        store.stop()


@pytest.fixture
def s3_server(_s3_store: S3Endpoint) -> S3Endpoint:
    """A real S3 store on loopback (SeaweedFS; see tests/support/s3_server.py), one per session,
    with no buckets at the start of each test. ``.url``/``.endpoint``, the admin keys
    (``.access_key``, ``.secret_key``, ``.env()``, ``.minio()``), ``.read_only`` keys (None
    on an external store) and ``.anonymous()`` for refusals."""
    _s3_store.reset()
    return _s3_store


# --- the Kubeflow tests: a hooked KFP API server, an isolated caller, the example module

@pytest.fixture(name="kfp")
def kfp_fixture() -> Iterator[HookedKfpServer]:
    with HookedKfpServer() as server:
        yield server


@pytest.fixture(name="env")
def env_fixture(
    kfp_home: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> S3Endpoint:
    """An isolated caller: scratch HOME, S3 keys and endpoint, fast polling, a fixed user."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", s3_server.url)
    monkeypatch.setenv("UNIP_KFP_POLL_INTERVAL", "0.02")
    monkeypatch.setenv("UNIP_KFP_USER", USER)
    for name in (
        "UNIP_KFP_CONNECT_TIMEOUT",
        "MINIO_ACCESS_KEY",
        "MINIO_SECRET_KEY",
        "KUBERNETES_SERVICE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    create_bucket(s3_server, "mlpipeline")
    create_bucket(s3_server, DATA_BUCKET)
    return s3_server


@pytest.fixture(name="module")
def module_fixture(tmp_path: Path) -> Path:
    """A private copy of the example module (manifests, data), for edits and relative paths."""
    target = tmp_path / "module"
    shutil.copytree(
        EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".unip-kfp", "results", "out")
    )
    return target


@pytest.fixture(name="cluster")
def cluster_fixture() -> Iterator[Cluster]:
    pods = PodStore()
    with K8sApiServer(pods) as k8s, HookedKfpServer(pods=pods) as kfp:
        yield Cluster(kfp, k8s, pods)


@pytest.fixture(name="kubeconfig")
def kubeconfig_fixture(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                       ) -> Path:
    """Kubernetes API access for the `kubernetes` client, through KUBECONFIG."""
    path = cluster.k8s.kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture(name="package", scope="module")
def package_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pkg") / "unip_demo.yaml"
    compiler.Compiler().compile(_demo, str(path))
    return path


@pytest.fixture(name="example", scope="module")
def example_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-stage example module, compiled (the package the backend check used)."""
    import unip_kfp

    folder = tmp_path_factory.mktemp("example")
    (package,) = unip_kfp.load(str(ROOT / "examples" / "train-test" / "manifests")).compile(
        output=str(folder))
    return Path(str(package.path))


@pytest.fixture(name="client")
def client_fixture(kfp_server: KfpApiServer, kfp_home: Path) -> kfp.Client:
    return kfp.Client(host=kfp_server.url)
