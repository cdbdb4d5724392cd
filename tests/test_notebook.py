"""`notebooks/submit_to_kubeflow.ipynb` runs end to end in a real Jupyter kernel.

The kernel talks to the fake KFP API server and SeaweedFS's S3 over loopback, configured only
through the environment a user would set (`KF_PIPELINES_ENDPOINT`, `UNIP_KFP_S3_ENDPOINT`,
`AWS_*`). When a run is created, a hook writes its `testing_results` where the KFP 2.17
launcher would, so the notebook's metrics download is real.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from support.kfp_api_server import RunRecord
from support.kubeflow_env import EXAMPLE, ROOT, HookedKfpServer, put_output
from support.s3_server import S3Endpoint

NOTEBOOK = ROOT / "notebooks" / "submit_to_kubeflow.ipynb"
METRICS = b"metric,value\naccuracy,0.88\nf1,0.87\nn_test,50\n"


def test_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert notebook.metadata.kernelspec.name == "python3"


def test_notebook_runs_against_the_test_servers(
    kfp: HookedKfpServer, env: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kfp.on_run.append(lambda run: _launcher_writes(env, run))
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp.url)
    monkeypatch.setenv("UNIP_KFP_EXAMPLE", str(EXAMPLE))
    monkeypatch.setenv("UNIP_KFP_WORKDIR", str(tmp_path / "work"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    (run,) = kfp.runs.values()
    (version,) = kfp.versions.values()
    assert run.body["pipeline_version_reference"]["pipeline_version_id"] == \
        version.json["pipeline_version_id"]
    params = run.body["runtime_config"]["parameters"]
    assert set(params) == {"xy_train", "xy_test", "extra_parameters"}
    assert all(p.startswith("minio://mlpipeline/unip/") for p in params.values())
    uploaded = _read(env, params["xy_train"])
    assert uploaded == (EXAMPLE / "data" / "xy_train.csv").read_bytes()

    assert (tmp_path / "work" / "results" / "metrics.csv").read_bytes() == METRICS
    assert (tmp_path / "work" / "my-pipeline.yaml").is_file()
    last = notebook.cells[-1].outputs[-1]
    assert json.loads(json.dumps(last["data"]["text/plain"])).startswith("{'accuracy': 0.88")
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "stage2: SUCCEEDED" in text and "final state: SUCCEEDED" in text
    assert "stage2: step 3 of 3" in text  # handle.logs(): the UI's pod-log route
    assert f"{run.run_id} SUCCEEDED - {kfp.url}/#/runs/details/{run.run_id}" in text  # runs()


def _launcher_writes(s3: S3Endpoint, run: RunRecord) -> None:
    put_output(s3, run, {"metrics.csv": METRICS})


def _read(s3: S3Endpoint, uri: str) -> bytes:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    response = s3.minio().get_object(bucket, key)
    try:
        return io.BytesIO(response.read()).getvalue()
    finally:
        response.close()
        response.release_conn()
