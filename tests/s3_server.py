"""A real S3 HTTP endpoint for tests, served by moto on 127.0.0.1, plus minio helpers.

Why moto's server and not ``mock_aws``: the code under test talks to S3 through the
``minio`` client (and, on a cluster, the KFP launcher does so over HTTP). A real socket
checks request signing, path-style URLs and headers as a MinIO deployment would see them.

Moto keeps its backends in process-global state, shared by every moto server in the
process: call :meth:`S3Endpoint.reset` (the ``s3_server`` fixture does) to empty it.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from minio import Minio
from moto.server import ThreadedMotoServer

ACCESS_KEY = "unip-test-access-key"
SECRET_KEY = "unip-test-secret-key"
REGION = "us-east-1"  # moto's default; passing it also saves minio a GetBucketLocation call


@dataclass(frozen=True)
class S3Endpoint:
    """Where the fake S3 listens and which (fake) credentials to use."""

    host: str
    port: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, the form ``Minio(endpoint, ...)`` takes."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def env(self) -> dict[str, str]:
        """Environment for code that reads AWS-style settings (``monkeypatch.setenv``)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.url,
        }

    def minio(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
        )

    def reset(self) -> None:
        """Drop all buckets and objects (moto's ``/moto-api/reset``)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


@contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    """Run moto's S3 server on a free loopback port for the duration of the block."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(host, port)
    finally:
        server.stop()


def create_bucket(target: S3Endpoint | Minio, bucket: str) -> Minio:
    """Create ``bucket`` unless it exists; returns the client used."""
    client = target.minio() if isinstance(target, S3Endpoint) else target
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    return client
