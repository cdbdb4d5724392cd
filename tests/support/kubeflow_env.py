"""What the Kubeflow tests share: a hooked KFP API server, the example module, helpers.

The fixtures built on these (`kfp`, `env`, `module`) are in `tests/conftest.py`.

The fixtures start real HTTP servers on 127.0.0.1: the fake KFP v2beta1 API
(`kfp_api_server.py`, driven by the unmodified `kfp.Client`) and SeaweedFS (`s3_server.py`,
driven by the `minio` client). Nothing in `kfp.Client` is mocked.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from unip_kfp.cli import main

from .kfp_api_server import KfpApiServer, RunRecord
from .s3_server import S3Endpoint, create_bucket

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "train-test"
DATA_BUCKET = "unip-data"
BOX = f"s3://{DATA_BUCKET}/unip/data-box"
USER = "tester"

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


class HookedKfpServer(KfpApiServer):
    """The fake API server plus hooks called with each new run (e.g. to write its outputs)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.on_run: list[Callable[[RunRecord], None]] = []

    def _create_run(self, request: Any) -> dict[str, Any]:
        answer = super()._create_run(request)
        for hook in self.on_run:
            hook(self.runs[answer["run_id"]])
        return answer


def cli(*args: str | Path) -> Result:
    """Run `unip-kfp ARGS` in this process; stdout and stderr stay apart."""
    return CliRunner().invoke(main, [str(a) for a in args])


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec_of(content: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(content.decode()) if d is not None]


def put_output(
    s3: S3Endpoint,
    run: RunRecord,
    files: dict[str, bytes],
    *,
    root: str = "mlpipeline/v2/artifacts",
    task: str = "stage2",
    output: str = "testing_results",
    salt: str | None = None,
) -> str:
    """Write an output artifact where the KFP 2.17 launcher would, plus a log object."""
    bucket, _, prefix = root.partition("/")
    client = create_bucket(s3, bucket)
    folder = f"{prefix}/my-pipeline/{run.run_id}/{task}/{salt or uuid.uuid4()}".lstrip("/")
    import io

    for name, data in {
        **{f"{output}/{k}": v for k, v in files.items()},
        "executor-logs-0": b"log",
    }.items():
        client.put_object(bucket, f"{folder}/{name}", io.BytesIO(data), len(data))
    return folder
