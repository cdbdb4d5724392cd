"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp_api_server import KfpApiServer
from s3_server import S3Endpoint
from s3_server import s3_server as start_s3_server

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
    for name in list(os.environ):
        if name.startswith("KF_PIPELINES"):
            monkeypatch.delenv(name)
    return home


@pytest.fixture(scope="session")
def _moto_s3() -> Iterator[S3Endpoint]:
    with start_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_server(_moto_s3: S3Endpoint) -> S3Endpoint:
    """Moto's S3 server on loopback (one per session, emptied before each test)."""
    _moto_s3.reset()
    return _moto_s3
