"""The example on a real Kubeflow Pipelines cluster (marker `kubeflow`, deselected by default).

    UNIP_KFP_TEST_HOST=http://localhost:8080 \\
    UNIP_KFP_S3_ENDPOINT=http://localhost:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
    UNIP_KFP_TEST_IMAGE=<the example image, pullable by the cluster> \\
        pytest -m kubeflow tests/test_kubeflow_cluster.py

Optional: UNIP_KFP_TEST_NAMESPACE, UNIP_KFP_TEST_TOKEN (multi-user installs),
UNIP_KFP_TEST_TIMEOUT (seconds, default 900). The test uploads a uniquely named pipeline,
runs it in a uniquely named experiment, and deletes everything it created afterwards: the
run, the experiment, the pipeline and its versions, the uploaded inputs and the run's
artifacts.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

import unip_kfp
from unip_kfp.kubeflow.storage import Storage
from unip_kfp.kubeflow.submission import submit
from unip_kfp.kubeflow.versions import upload
from unip_kfp.s3 import Location, resolve_endpoint

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "train-test"
EXAMPLE_IMAGE = "registry.example.com/unip/train-test:0.1.0"

pytestmark = [
    pytest.mark.kubeflow,
    pytest.mark.filterwarnings("ignore:This client only works:FutureWarning"),
]


@pytest.fixture
def host() -> str:
    value = os.environ.get("UNIP_KFP_TEST_HOST")
    if not value:
        pytest.skip(
            "UNIP_KFP_TEST_HOST is not set: no Kubeflow cluster to run against "
            "(see docs/kubeflow.md for a local kind cluster)"
        )
    return value


def test_example_runs_on_a_real_cluster(host: str, tmp_path: Path) -> None:
    module = tmp_path / "module"
    shutil.copytree(EXAMPLE, module, ignore=shutil.ignore_patterns(".unip-kfp", "results", "out"))
    image = os.environ.get("UNIP_KFP_TEST_IMAGE")
    if image:
        pipeline = module / "manifests" / "pipeline.yaml"
        pipeline.write_text(pipeline.read_text().replace(EXAMPLE_IMAGE, image))
    name = f"unip-kfp-test-{uuid.uuid4().hex[:8]}"
    access = {
        "host": host,
        "namespace": os.environ.get("UNIP_KFP_TEST_NAMESPACE"),
        "token": os.environ.get("UNIP_KFP_TEST_TOKEN"),
    }
    project = unip_kfp.load(str(module / "manifests"))
    created: dict[str, Any] = {}
    try:
        uploaded = upload(project, pipeline_name=name, **access)
        created["pipeline"] = uploaded.pipeline_id
        assert uploaded.created
        data = module / "data"
        handle = submit(
            project,
            experiment=name,
            run_name=name,
            from_version=f"{uploaded.pipeline_id}:{uploaded.version_id}",
            inputs={"xy_train": data / "xy_train.csv", "xy_test": data / "xy_test.csv"},
            **access,
        )
        created.update(handle=handle, experiment=handle.experiment_id)
        timeout = float(os.environ.get("UNIP_KFP_TEST_TIMEOUT") or 900)
        assert handle.wait(timeout=timeout) == "SUCCEEDED"
        results = handle.outputs({"testing_results": tmp_path / "results"})
        with open(Path(results["testing_results"]) / "metrics.csv", newline="") as stream:
            metrics = {row["metric"]: float(row["value"]) for row in csv.DictReader(stream)}
        assert metrics["accuracy"] > 0.5 and metrics["n_test"] > 0
    finally:
        _clean_up(created)


def _clean_up(created: dict[str, Any]) -> None:
    """Delete what the test made; try everything, then report what could not be deleted."""
    problems: list[str] = []
    handle = created.get("handle")
    client = handle.client if handle is not None else None

    def attempt(what: str, action: Any) -> None:
        try:
            action()
        except Exception as exc:  # cleanup goes on; the failure is reported below
            problems.append(f"{what}: {exc}")

    if handle is not None:
        run = client.get_run(handle.run_id)
        if str(run.state).upper() not in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
            attempt("terminate run", lambda: client.terminate_run(handle.run_id))
        attempt("delete run", lambda: client.delete_run(handle.run_id))
        storage = Storage(resolve_endpoint(None), echo=lambda line: None)
        folders = [
            Location.parse(uri).parent
            for uri in (run.runtime_config.parameters or {}).values()
            if isinstance(uri, str) and uri.startswith(("minio://", "s3://"))
        ]
        root = Location.parse(handle.pipeline_root)
        folders.append(root.child(handle.spec["pipelineInfo"]["name"], handle.run_id))
        for folder in folders:
            attempt(f"delete {folder.uri}", lambda f=folder: _delete_prefix(storage, f))
    if created.get("experiment") and client is not None:
        attempt("delete experiment", lambda: client.delete_experiment(created["experiment"]))
    if created.get("pipeline") and client is not None:
        pipeline_id = created["pipeline"]
        versions = client.list_pipeline_versions(pipeline_id, page_size=100)
        for version in versions.pipeline_versions or []:
            attempt(
                "delete version",
                lambda v=version: client.delete_pipeline_version(
                    pipeline_id, v.pipeline_version_id
                ),
            )
        attempt("delete pipeline", lambda: client.delete_pipeline(pipeline_id))
    assert not problems, "cleanup left things behind:\n" + "\n".join(problems)


def _delete_prefix(storage: Storage, folder: Location) -> None:
    from minio.deleteobjects import DeleteObject

    names = storage.names(folder)
    errors = list(
        storage.client.remove_objects(
            folder.bucket, [DeleteObject(folder.child(n).key) for n in names]
        )
    )
    assert not errors, errors
