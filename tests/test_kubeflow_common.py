"""Unit tests of the small pure pieces of the Kubeflow side."""

from __future__ import annotations

import pytest
from support.kubeflow_env import EXAMPLE, spec_of

from unip_kfp.errors import UsageError
from unip_kfp.kubeflow.artifacts import output_refs
from unip_kfp.kubeflow.stages import stage_keys
from unip_kfp.kubeflow.versions import content_mark, version_name
from unip_kfp.launch.prepared import plan_from_spec
from unip_kfp.manifests.project_config import S3Config
from unip_kfp.plan.model import Kind
from unip_kfp.s3 import Location, resolve_endpoint


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
