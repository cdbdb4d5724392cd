"""Shared fixtures for the Kubeflow tests, and unit tests of the small pure pieces.

Other test modules import the `*_fixture` functions, which register as `kfp`, `env`, `module`.

The fixtures start real HTTP servers on 127.0.0.1: the fake KFP v2beta1 API
(`kfp_api_server.py`, driven by the unmodified `kfp.Client`) and SeaweedFS (`s3_server.py`,
driven by the `minio` client). Nothing in `kfp.Client` is mocked.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from kfp_api_server import KfpApiServer, RunRecord
from s3_server import S3Endpoint, create_bucket

from unip_kfp.cli import main
from unip_kfp.errors import UsageError
from unip_kfp.kubeflow.artifacts import output_refs
from unip_kfp.kubeflow.stages import stage_keys
from unip_kfp.kubeflow.versions import content_mark, version_name
from unip_kfp.launch.prepared import plan_from_spec
from unip_kfp.manifests.project_config import S3Config
from unip_kfp.plan.model import Kind
from unip_kfp.s3 import Location, resolve_endpoint

ROOT = Path(__file__).resolve().parent.parent
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


# --------------------------------------------------------------------------- unit tests


def test_location_parsing() -> None:
    loc = Location.parse("minio://mlpipeline/v2/artifacts/")
    assert (loc.scheme, loc.bucket, loc.key) == ("minio", "mlpipeline", "v2/artifacts")
    assert loc.child("p", "r").uri == "minio://mlpipeline/v2/artifacts/p/r"
    assert loc.prefix == "v2/artifacts/" and Location.parse("s3://b").prefix == ""
    assert loc.child("a/b").parent.uri == "minio://mlpipeline/v2/artifacts/a"
    with pytest.raises(UsageError, match="only minio://"):
        Location.parse("gs://bucket/key")


def test_s3_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "UNIP_KFP_S3_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    config = S3Config(endpoint="minio.example:9000", secure=False, region="eu")
    assert resolve_endpoint(None, config).url == "http://minio.example:9000"
    assert resolve_endpoint(None, config).region == "eu"
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", "https://env.example")
    assert resolve_endpoint(None, config).url == "https://env.example"
    assert resolve_endpoint("http://127.0.0.1:9000", config).url == "http://127.0.0.1:9000"
    assert resolve_endpoint("s3.example", None).secure is True
    monkeypatch.delenv("UNIP_KFP_S3_ENDPOINT")
    with pytest.raises(UsageError, match="S3 endpoint"):
        resolve_endpoint(None, None)
    with pytest.raises(UsageError, match="no path"):
        resolve_endpoint("http://h:1/path", None)


def test_package_interface_becomes_a_plan() -> None:
    # A file input is a STRING parameter that feeds an importer's URI (here through a
    # condition sub-DAG), as the local runner decides; a description saying "full URI" alone
    # no longer makes one (Kubeflow used to decide by the description).
    spec = {
        "pipelineInfo": {"name": "p"},
        "components": {
            "comp-branch": {
                "dag": {
                    "tasks": {
                        "importer": {
                            "componentRef": {"name": "comp-importer"},
                            "inputs": {
                                "parameters": {
                                    "uri": {"componentInputParameter": "pipelinechannel--data"}
                                }
                            },
                        }
                    }
                }
            },
            "comp-importer": {"executorLabel": "exec-importer"},
        },
        "deploymentSpec": {
            "executors": {
                "exec-importer": {"importer": {"artifactUri": {"runtimeParameter": "uri"}}}
            }
        },
        "root": {
            "inputDefinitions": {
                "parameters": {
                    "data": {"parameterType": "STRING", "description": "x (full URI, e.g. s3://)"},
                    "described": {"parameterType": "STRING", "description": "a full URI"},
                    "note": {"parameterType": "STRING", "isOptional": True},
                    "n": {"parameterType": "NUMBER_INTEGER"},
                    "lr": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1},
                    "grid": {"parameterType": "STRUCT"},
                }
            },
            "outputDefinitions": {"artifacts": {"out": {"artifactType": {}}}},
            "dag": {
                "tasks": {
                    "condition-1": {
                        "componentRef": {"name": "comp-branch"},
                        "inputs": {
                            "parameters": {
                                "pipelinechannel--data": {"componentInputParameter": "data"}
                            }
                        },
                    }
                },
                "outputs": {
                    "artifacts": {
                        "out": {
                            "artifactSelectors": [
                                {"outputArtifactKey": "result", "producerSubtask": "train-it"}
                            ]
                        }
                    }
                },
            },
        },
    }
    plan = plan_from_spec(spec, "pkg.yaml")
    kinds = {v.name: (v.kind, v.required) for v in plan.inputs}
    assert kinds == {
        "data": (Kind.FILE, True),
        "described": (Kind.STR, True),
        "note": (Kind.STR, False),
        "n": (Kind.INT, True),
        "lr": (Kind.FLOAT, False),
        "grid": (Kind.DICT, True),
    }
    assert [v.name for v in plan.outputs] == ["out"]
    ref = output_refs(spec)["out"]
    assert (ref.task, ref.output) == ("train-it", "result")


def test_stage_keys_and_versions() -> None:
    import unip_kfp

    (package,) = unip_kfp.load(str(EXAMPLE / "manifests")).compile()
    spec = spec_of(package.content)[0]
    keys = stage_keys(spec)
    assert keys == {"stage1": "stage1", "stage2": "stage2"}  # importers/conditions dropped
    assert list(keys) == ["stage1", "stage2"]  # dependencies first
    assert version_name(package.sha256) == "sha256-" + package.sha256[:12]
    assert package.sha256 in content_mark(package.sha256)
