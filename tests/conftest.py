"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp_api_server import KfpApiServer
from s3_server import ENDPOINT_ENV, S3Endpoint, external_endpoint, start_seaweedfs

# --- fake KFP API server and S3 endpoint (see tests/kfp_api_server.py, tests/s3_server.py)


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
    """A real S3 store on loopback (SeaweedFS; see tests/s3_server.py), one per session,
    with no buckets at the start of each test. ``.url``/``.endpoint``, the admin keys
    (``.access_key``, ``.secret_key``, ``.env()``, ``.minio()``), ``.read_only`` keys (None
    on an external store) and ``.anonymous()`` for refusals."""
    _s3_store.reset()
    return _s3_store
