"""`unip-kfp run --host` and `unip_kfp.kubeflow.submission.submit`: what the real kfp.Client sends.

Every assertion is on requests recorded by the fake KFP API server (real HTTP on loopback).
"""

from __future__ import annotations

import io
import json
import re
import textwrap
from pathlib import Path

import kfp as kfp_sdk
import pytest
import yaml
from support.kfp_api_server import KfpApiServer, RunStep
from support.kubeflow_env import BOX, DATA_BUCKET, USER, HookedKfpServer, cli, spec_of
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.kubeflow.handle import RunHandle
from unip_kfp.kubeflow.submission import submit

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

TYPED = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata: {name: typed, namespace: ns}
spec:
  vars: [{name: data}, {name: epochs}, {name: lr}, {name: grid}, {name: note}, {name: result}]
  stages:
    - name: Train Model
      image: {existingImageName: "python:3.11-slim"}
      inputs: [{name: data}, {name: epochs}, {name: lr}, {name: grid}, {name: note}]
      outputs: [{name: result}]
      entryPoint: {cmd: [python3, train.py]}
  connectedBoxes:
    - {name: data-box, path: /data, default: true, mountS3Box: {s3BoxName: data-box}}
---
apiVersion: unified-platform.cs.hse.ru/v1
kind: APIComponent
metadata: {name: typed-api, namespace: ns}
spec:
  experimentPipeline: {name: typed}
  apiSpec:
    inputs:
      - {name: data, type: {datatypes: [FILE]}}
      - {name: epochs, type: {datatypes: [INT32]}}
      - {name: lr, type: {datatypes: [FP64]}}
      - {name: grid, type: {datatypes: [dict]}}
      - {name: note, required: false, type: {datatypes: [str]}}
    outputs:
      - {name: result}
"""


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    folder = tmp_path / "typed"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(TYPED)
    return folder


def example_args(module: Path) -> list[str]:
    return [
        str(module / "manifests"), "--box", f"data-box={BOX}",
        "-i", f"xy_train={module / 'data' / 'xy_train.csv'}",
        "-i", "xy_test=datasets/xy_test.csv",
        "-i", "extra_parameters=minio://mlpipeline/shared/grid.json",
    ]


def test_run_creates_experiment_once_and_embeds_the_package(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    first = cli("run", *example_args(module), "--host", kfp.url, "--run-name", "first")
    assert first.exit_code == 0, first.output
    run = kfp.last_run()
    assert first.stdout.strip() == run.run_id  # stdout: the run id only
    assert f"/#/runs/details/{run.run_id}" in first.stderr  # the UI link
    assert "stage1: RUNNING" in first.stderr and "stage2: SUCCEEDED" in first.stderr
    assert "run SUCCEEDED" in first.stderr

    second = cli("run", *example_args(module), "--host", kfp.url)
    assert second.exit_code == 0, second.output
    assert len(kfp.calls("POST", "/experiments")) == 1  # created once, then found and reused
    experiment = kfp.experiment_by_name("my-pipeline")  # default: the pipeline's name
    assert {r.body["experiment_id"] for r in kfp.runs.values()} == {experiment["experiment_id"]}

    body = kfp.runs[first.stdout.strip()].body
    assert body["display_name"] == "first"
    assert body["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"
    params = body["runtime_config"]["parameters"]
    files_root = f"{BOX}/users/{USER}/file_groups"
    assert params["xy_test"] == f"{files_root}/datasets/xy_test.csv"  # box-relative path
    assert params["extra_parameters"] == "minio://mlpipeline/shared/grid.json"  # URI as is
    assert params["xy_train"].startswith(f"{files_root}/my-pipeline-")  # uploaded local file
    assert params["xy_train"].endswith("/xy_train/xy_train.csv")
    assert all(isinstance(v, str) for v in params.values())
    (package,) = unip_kfp.load(str(module / "manifests"), boxes={"data-box": BOX}).compile()
    assert body["pipeline_spec"] == spec_of(package.content)[0]  # exactly our package
    assert "platform_spec" not in body["pipeline_spec"]


def test_typed_parameters_keep_their_json_types(
    kfp: HookedKfpServer, env: S3Endpoint, typed: Path
) -> None:
    result = cli(
        "run", typed, "--host", kfp.url, "--no-wait",
        "-i", "data=s3://bucket/data.csv", "-i", "epochs=2147483647", "-i", "lr=0.5",
        "-i", 'grid={"C": [0.1, 1], "fit": true}', "-i", "note=hello world",
    )
    assert result.exit_code == 0, result.output
    params = kfp.last_run().body["runtime_config"]["parameters"]
    assert params == {"data": "s3://bucket/data.csv", "epochs": 2147483647, "lr": 0.5,
                      "grid": {"C": [0.1, 1], "fit": True}, "note": "hello world"}
    assert isinstance(params["epochs"], int) and isinstance(params["lr"], float)
    assert not kfp.calls("GET", f"/runs/{kfp.last_run().run_id}")  # --no-wait: no polling

    requests = len(kfp.requests)
    too_big = cli("run", typed, "--host", kfp.url, "-i", "data=s3://b/k",
                  "-i", "epochs=2147483648", "-i", "lr=1", "-i", "grid={}")
    assert too_big.exit_code == 2 and "INT32" in too_big.stderr
    bad_dict = cli("run", typed, "--host", kfp.url, "-i", "data=s3://b/k",
                   "-i", "epochs=1", "-i", "lr=1", "-i", "grid=[1]")
    assert bad_dict.exit_code == 2 and "JSON object" in bad_dict.stderr
    missing = cli("run", typed, "--host", kfp.url, "-i", "data=s3://b/k")
    assert missing.exit_code == 2 and "-i epochs=" in missing.stderr
    assert len(kfp.requests) == requests  # refused before any request


def test_stages_are_found_among_argo_nodes(
    kfp: HookedKfpServer, env: S3Endpoint, typed: Path
) -> None:
    """Task details are Argo nodes named by task key ("train-model"), with drivers,
    executors and the root DAG around them; progress shows the stage's display name."""
    kfp.run_script = [
        RunStep("RUNNING", {"Train Model": "PENDING"}),
        RunStep("RUNNING", {"Train Model": "RUNNING"}),
        RunStep("SUCCEEDED", {"Train Model": "SUCCEEDED"}),
    ]
    result = cli("run", typed, "--host", kfp.url, "-i", "data=s3://b/k", "-i", "epochs=1",
                 "-i", "lr=1", "-i", "grid={}")
    assert result.exit_code == 0, result.output
    names = {t["display_name"] for t in kfp.last_run().render()["run_details"]["task_details"]}
    assert {"train-model", "train-model-driver", "executor", "root"} <= names
    assert "Train Model" not in names
    lines = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert lines[0] == "  Train Model: PENDING" and lines[1] == "  Train Model: RUNNING"
    assert lines[2].startswith("  Train Model: SUCCEEDED")
    assert not re.search(r"driver|executor|root|importer", result.stderr)


def test_platform_spec_travels_with_the_run(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    (module / "unip-kfp.yaml").write_text(
        f"imagePullSecrets: [regcred]\nboxes:\n  data-box: {{uri: {BOX}}}\n"
    )
    result = cli("run", module / "manifests", "--host", kfp.url, "--no-wait",
                 "-i", "xy_train=a/train.csv", "-i", "xy_test=a/test.csv")
    assert result.exit_code == 0, result.output
    body = kfp.last_run().body
    (package,) = unip_kfp.load(str(module / "manifests")).compile()
    pipeline_doc, platform_doc = spec_of(package.content)
    assert body["pipeline_spec"] == {"pipeline_spec": pipeline_doc, "platform_spec": platform_doc}
    executors = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {s["secretName"] for e in executors.values() for s in e["imagePullSecret"]} == {
        "regcred"}


def test_single_user_kubeflow_ignores_the_namespace(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    result = cli("run", module / "manifests", "-i", "xy_train=s3://b/t.csv",
                 "-i", "xy_test=s3://b/v.csv", "--host", kfp.url, "--namespace", "team-a",
                 "--experiment", "nightly", "--no-wait")
    assert result.exit_code == 0, result.output
    assert "single-user; it ignores namespace 'team-a'" in result.stderr
    assert kfp.calls("POST", "/experiments")[0].json["namespace"] == "team-a"  # sent anyway
    assert "namespace" not in kfp.experiment_by_name("nightly")  # ReplaceNamespace drops it


def test_multi_user_namespace_owns_experiment_and_run(env: S3Endpoint, module: Path) -> None:
    """Multi-user behaviour as read in the 2.17 source (the fake says: read, not run)."""
    with HookedKfpServer(multi_user=True) as server:
        result = cli("run", module / "manifests", "-i", "xy_train=s3://b/t.csv",
                     "-i", "xy_test=s3://b/v.csv", "--host", server.url,
                     "--namespace", "team-a", "--experiment", "nightly")
        assert result.exit_code == 0, result.output
        assert "ignores namespace" not in result.stderr
        created = server.calls("POST", "/experiments")[0].json
        assert created["display_name"] == "nightly" and created["namespace"] == "team-a"
        lookups = server.calls("GET", "/experiments")
        assert lookups and all(r.query.get("namespace") == "team-a" for r in lookups)
        assert server.experiment_by_name("nightly")["namespace"] == "team-a"
        assert server.last_run().body["experiment_id"] == \
            server.experiment_by_name("nightly")["experiment_id"]


def test_multi_user_without_namespace_is_refused_early(
    env: S3Endpoint, module: Path
) -> None:
    with HookedKfpServer(multi_user=True) as server:
        result = cli("run", module / "manifests", "--host", server.url,
                     "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
        assert result.exit_code == 2
        assert "multi-user" in result.stderr and "--namespace" in result.stderr
        assert [r.path for r in server.requests] == ["/apis/v2beta1/healthz"]


def test_bearer_token_option(kfp: HookedKfpServer, env: S3Endpoint, module: Path) -> None:
    kfp.require_token = "s3cret"
    result = cli("run", module / "manifests", "--host", kfp.url, "--token", "s3cret",
                 "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert result.exit_code == 0, result.output
    api = [r for r in kfp.requests if not r.path.endswith("/healthz")]
    assert api and all(r.authorization == "Bearer s3cret" for r in api)
    assert "s3cret" not in result.output  # never echoed


def test_service_account_token_file(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tmp_path / "token"
    token.write_text("KFP-AUDIENCE-TOKEN\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp.url)  # host from the environment
    kfp.require_token = "KFP-AUDIENCE-TOKEN"
    result = cli("run", module / "manifests", "-i", "xy_train=s3://b/t",
                 "-i", "xy_test=s3://b/v")
    assert result.exit_code == 0, result.output
    api = [r for r in kfp.requests if not r.path.endswith("/healthz")]
    assert api and all(r.authorization == "Bearer KFP-AUDIENCE-TOKEN" for r in api)

    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "missing"))
    missing = cli("run", module / "manifests", "-i", "xy_train=s3://b/t",
                  "-i", "xy_test=s3://b/v")
    assert missing.exit_code == 2 and "KF_PIPELINES_SA_TOKEN_PATH" in missing.stderr


def test_python_api_with_a_users_client(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = unip_kfp.load(str(module / "manifests"), boxes={"data-box": BOX})
    client = kfp_sdk.Client(host=kfp.url)
    lines: list[str] = []
    handle = project.submit(client, inputs={"xy_train": module / "data" / "xy_train.csv",
                                            "xy_test": "s3://b/test.csv"}, echo=lines.append)
    assert isinstance(handle, RunHandle) and handle.client is client
    assert handle.url == f"{kfp.url}/#/runs/details/{handle.run_id}"
    assert handle.wait(poll_interval=0.01) == "SUCCEEDED" == handle.state
    assert any("stage2: SUCCEEDED" in line for line in lines)
    assert capsys.readouterr().out == ""  # kfp's own link prints are kept off stdout
    params = kfp.runs[handle.run_id].body["runtime_config"]["parameters"]
    assert params["xy_train"].endswith("/xy_train/xy_train.csv")  # a Path is a local file


def test_package_file_runs_as_is(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    package = tmp_path / "my-pipeline.yaml"
    assert cli("compile", module / "manifests", "-o", package).exit_code == 0
    result = cli("run", package, "--host", kfp.url, "-i", "xy_train=s3://b/t.csv",
                 "-i", "xy_test=minio://b/v.csv")
    assert result.exit_code == 0, result.output
    assert kfp.last_run().body["pipeline_spec"] == spec_of(package.read_bytes())[0]
    local = cli("run", package, "--host", kfp.url, "-i", f"xy_train={package}",
                "-i", "xy_test=s3://b/v")
    assert local.exit_code == 2 and "default box" in local.stderr

    handle = submit(str(package), host=kfp.url, inputs={"xy_train": "s3://b/t",
                                                         "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    assert handle.plan.name == "my-pipeline"


def test_invalid_manifests_and_compile_errors_never_reach_kubeflow(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    pipeline = module / "manifests" / "pipeline.yaml"
    original = pipeline.read_text()
    pipeline.write_text(original.replace("name: stage2", "name: stage1"))  # duplicate stage
    invalid = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                  "-i", "xy_test=s3://b/v")
    assert invalid.exit_code == 3, invalid.output

    two_gpus = original.replace(
        "        memory: 256M\n    - name: stage2",
        '        memory: 256M\n        nvidia.com/gpu: "1"\n        amd.com/gpu: "1"\n'
        "    - name: stage2",
    )
    assert two_gpus != original
    pipeline.write_text(two_gpus)
    refused = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                  "-i", "xy_test=s3://b/v")
    assert refused.exit_code == 3, refused.output  # one accelerator type: a validation rule
    assert kfp.requests == []


def test_cached_and_parallel_options_shape_the_package(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    for key in ("t", "v"):  # --cache reads each input object's ETag for the stage keys
        env.minio().put_object(DATA_BUCKET, key, io.BytesIO(b"x"), 1)
    result = cli("run", module / "manifests", "--host", kfp.url, "--cache", "--no-wait",
                 "-i", f"xy_train=s3://{DATA_BUCKET}/t", "-i", f"xy_test=s3://{DATA_BUCKET}/v")
    assert result.exit_code == 0, result.output
    tasks = kfp.last_run().body["pipeline_spec"]["root"]["dag"]["tasks"]
    assert tasks["stage1"]["cachingOptions"]["enableCache"] is True
    assert tasks["stage1"]["cachingOptions"]["cacheKey"]  # test_kubeflow_cache_keys.py


def test_kfp_client_healthz_is_never_retried(
    kfp: KfpApiServer, env: S3Endpoint, module: Path
) -> None:
    """Our probe comes first, so kfp's 5 x 5 s healthz loop never starts."""
    result = cli("run", module / "manifests", "--host", kfp.url + "/", "--no-wait",
                 "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert result.exit_code == 0, result.output
    assert len(kfp.calls("GET", "/healthz")) <= 2  # ours, and kfp.Client's single check


def test_config_file_sets_host_experiment_and_root(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    (module / "unip-kfp.yaml").write_text(textwrap.dedent(f"""\
        kubeflow:
          host: {kfp.url}
          experiment: from-config
          pipelineRoot: s3://{DATA_BUCKET}/kfp-root
    """))
    project = unip_kfp.load(str(module / "manifests"))
    handle = submit(project, inputs={"xy_train": "s3://b/t", "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    body = kfp.runs[handle.run_id].body
    assert body["runtime_config"]["pipeline_root"] == f"s3://{DATA_BUCKET}/kfp-root"
    assert kfp.experiment_by_name("from-config")["experiment_id"] == body["experiment_id"]
    assert json.loads(json.dumps(body))  # plain JSON on the wire
    assert yaml.safe_dump(body)


def test_kfp_experiment_environment_variables(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    inputs = {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    monkeypatch.setenv("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME", "team-default")
    first = submit(project, host=kfp.url, inputs=inputs, echo=lambda line: None)
    assert kfp.experiment_by_name("team-default")["experiment_id"] == first.experiment_id
    monkeypatch.setenv("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", "forced")
    lines: list[str] = []
    second = submit(project, host=kfp.url, inputs=inputs, experiment="mine", echo=lines.append)
    assert kfp.experiment_by_name("forced")["experiment_id"] == second.experiment_id
    assert any("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME" in line for line in lines)

