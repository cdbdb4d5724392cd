"""Inputs and outputs through boxes: uploads, server-side copies and downloads in real S3.

Output artifacts are written by a hook on run creation, at the key the KFP 2.17 launcher uses:
`<pipeline_root>/<pipelineInfo.name>/<run_id>/<task key>/<uuid>/<output>/...`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.kfp_api_server import RunRecord
from support.kubeflow_env import BOX, DATA_BUCKET, USER, HookedKfpServer, cli, put_output
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.kubeflow.submission import submit

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

METRICS = b"metric,value\naccuracy,0.88\n"
OUTPUT_FILES = {"metrics.csv": METRICS, "plots/roc.txt": b"roc"}


def objects(s3: S3Endpoint, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = s3.minio()
    found = {}
    for item in client.list_objects(bucket, prefix, recursive=True):
        response = client.get_object(bucket, item.object_name)
        try:
            found[item.object_name[len(prefix):]] = response.read()
        finally:
            response.close()
            response.release_conn()
    return found


@pytest.fixture
def writes_outputs(kfp: HookedKfpServer, env: S3Endpoint) -> list[str]:
    """Each new run gets its `testing_results` written by "the launcher"; returns the folders."""
    folders: list[str] = []

    def hook(run: RunRecord) -> None:
        folders.append(put_output(env, run, OUTPUT_FILES))

    kfp.on_run.append(hook)
    return folders


def test_local_file_and_folder_inputs_land_in_the_default_box(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(module)
    folder = module / "data" / "test-set"
    (folder / "nested").mkdir(parents=True)
    (folder / "xy_test.csv").write_bytes(b"a,target\n1,0\n")
    (folder / "nested" / "notes.txt").write_bytes(b"notes")
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "--no-wait", "-i", "xy_train=./data/xy_train.csv", "-i", f"xy_test={folder}")
    assert result.exit_code == 0, result.output
    params = kfp.last_run().body["runtime_config"]["parameters"]
    prefix = f"{BOX}/users/{USER}/file_groups/"
    assert params["xy_train"].startswith(prefix) and params["xy_test"].startswith(prefix)
    run_folder = params["xy_test"][len(prefix):].split("/")[0]
    assert run_folder.startswith("my-pipeline-")  # one file group per submission
    assert params["xy_train"] == f"{prefix}{run_folder}/xy_train/xy_train.csv"
    assert params["xy_test"] == f"{prefix}{run_folder}/xy_test"
    key = f"unip/data-box/users/{USER}/file_groups/{run_folder}/"
    stored = objects(env, DATA_BUCKET, key)
    assert stored == {
        "xy_train/xy_train.csv": (module / "data" / "xy_train.csv").read_bytes(),
        "xy_test/xy_test.csv": b"a,target\n1,0\n",
        "xy_test/nested/notes.txt": b"notes",
    }
    assert f"input xy_train: {module / 'data' / 'xy_train.csv'} -> s3://" in result.stderr


def test_local_input_that_does_not_exist(kfp: HookedKfpServer, env: S3Endpoint,
                                         module: Path) -> None:
    result = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=./nope.csv",
                 "-i", "xy_test=s3://b/v")
    assert result.exit_code == 2 and "no such file" in result.stderr and not kfp.requests


def test_outputs_download_to_a_local_folder(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, writes_outputs: list[str],
    tmp_path: Path,
) -> None:
    target = tmp_path / "results"
    result = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                 "-i", "xy_test=s3://b/v", "-o", f"testing_results={target}")
    assert result.exit_code == 0, result.output
    assert (target / "metrics.csv").read_bytes() == METRICS
    assert (target / "plots" / "roc.txt").read_bytes() == b"roc"
    assert sorted(p.name for p in target.iterdir()) == ["metrics.csv", "plots"]  # no logs
    assert f"testing_results: {target}" in result.stderr

    runs_before = len(kfp.runs)
    again = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                "-i", "xy_test=s3://b/v", "-o", f"testing_results={target}")
    # Refused before submitting: a non-empty folder must not fail a long run at its end.
    assert again.exit_code == 2 and "not empty" in again.stderr
    assert len(kfp.runs) == runs_before
    (target / "stale.txt").write_text("old")
    forced = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                 "-i", "xy_test=s3://b/v", "-o", f"testing_results={target}", "--force")
    assert forced.exit_code == 0, forced.output
    assert not (target / "stale.txt").exists() and (target / "metrics.csv").exists()


def test_outputs_copy_into_the_box_server_side(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, writes_outputs: list[str]
) -> None:
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v",
                 "-o", "testing_results=results/run-1")
    assert result.exit_code == 0, result.output
    dest = f"unip/data-box/users/{USER}/file_groups/results/run-1/"
    assert objects(env, DATA_BUCKET, dest) == OUTPUT_FILES
    assert f"testing_results: {BOX}/users/{USER}/file_groups/results/run-1" in result.stderr

    again = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v",
                "-o", "testing_results=results/run-1")
    assert again.exit_code == 2 and "already holds" in again.stderr


def test_python_api_outputs_to_a_full_uri_and_a_path(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, writes_outputs: list[str],
    tmp_path: Path,
) -> None:
    handle = submit(unip_kfp.load(str(module / "manifests")), host=kfp.url,
                    inputs={"xy_train": "s3://b/t", "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    assert handle.wait(poll_interval=0.01) == "SUCCEEDED"
    uri = f"minio://{DATA_BUCKET}/copies/metrics"
    assert handle.outputs({"testing_results": uri}) == {"testing_results": uri}
    assert objects(env, DATA_BUCKET, "copies/metrics/") == OUTPUT_FILES
    local = tmp_path / "plain-name"  # a Path is a local folder even without ./
    assert handle.outputs({"testing_results": local}) == {"testing_results": str(local)}
    assert (local / "metrics.csv").read_bytes() == METRICS


def test_output_lookup_needs_exactly_one_execution(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    inputs = {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    handle = submit(project, host=kfp.url, inputs=inputs, echo=lambda line: None)
    handle.wait(poll_interval=0.01)
    with pytest.raises(unip_kfp.RunFailedError, match="not found at minio://mlpipeline/v2/"):
        handle.outputs({"testing_results": tmp_path / "a"})
    run = kfp.runs[handle.run_id]
    put_output(env, run, {"m.csv": b"1"})
    put_output(env, run, {"m.csv": b"2"})
    with pytest.raises(unip_kfp.RunFailedError, match="2 executions of task 'stage2'"):
        handle.outputs({"testing_results": tmp_path / "b"})
    with pytest.raises(unip_kfp.UsageError, match="not an output"):
        handle.outputs({"model": tmp_path / "c"})  # internal, not a pipeline output


def test_pipeline_root_from_the_config_file(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    (module / "unip-kfp.yaml").write_text(textwrap.dedent(f"""\
        kubeflow: {{pipelineRoot: "s3://{DATA_BUCKET}/kfp/artifacts"}}
        s3: {{endpoint: "http://127.0.0.1:1"}}
    """))  # the config's endpoint loses to UNIP_KFP_S3_ENDPOINT
    kfp.on_run.append(lambda run: put_output(env, run, {"metrics.csv": METRICS},
                                             root=f"{DATA_BUCKET}/kfp/artifacts"))
    result = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                 "-i", "xy_test=s3://b/v", "-o", f"testing_results={tmp_path / 'r'}")
    assert result.exit_code == 0, result.output
    assert kfp.last_run().body["runtime_config"]["pipeline_root"] == \
        f"s3://{DATA_BUCKET}/kfp/artifacts"
    assert (tmp_path / "r" / "metrics.csv").read_bytes() == METRICS


def test_outputs_with_s3_down_after_success(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, writes_outputs: list[str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from support.kubeflow_env import free_port

    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    result = cli("run", module / "manifests", "--host", kfp.url, "-i", "xy_train=s3://b/t",
                 "-i", "xy_test=s3://b/v", "-o", f"testing_results={tmp_path / 'r'}")
    assert result.exit_code == 5
    assert "SUCCEEDED, but fetching its outputs failed" in result.stderr
    assert "cannot reach S3" in result.stderr
