"""`unip-kfp upload` and `run --from-version`: one version per package content, no sprawl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s3_server import S3Endpoint
from test_kubeflow_common import (  # noqa: F401  (the *_fixture names register fixtures)
    HookedKfpServer,
    cli,
    env_fixture,
    kfp_fixture,
    module_fixture,
    spec_of,
)

import unip_kfp
from unip_kfp.kubeflow import upload

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def ids(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


def test_same_package_twice_makes_one_version(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    first = cli("upload", module / "manifests", "--host", kfp.url)
    assert first.exit_code == 0, first.output
    created = ids(first.stdout)
    pipeline = kfp.pipeline_by_name("my-pipeline")
    assert created["pipeline_id"] == pipeline["pipeline_id"]
    (version,) = kfp.versions.values()
    assert created["version_id"] == version.json["pipeline_version_id"]
    (package,) = unip_kfp.load(str(module / "manifests")).compile()
    assert version.package == package.content  # the exact bytes we compiled
    assert f"[unip-kfp sha256:{package.sha256}]" in version.json["description"]
    assert "created" in first.stderr

    second = cli("upload", module / "manifests", "--host", kfp.url)
    assert second.exit_code == 0, second.output
    assert ids(second.stdout) == created
    assert "unchanged" in second.stderr
    assert len(kfp.versions) == 1 and len(kfp.pipelines) == 1
    assert len(kfp.calls("POST", "/pipelines/upload")) == 1
    assert not kfp.calls("POST", "/pipelines/upload_version")


def test_changed_manifest_makes_a_second_version_named_by_hash(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    first = upload(project, host=kfp.url, echo=lambda line: None)
    assert first.created
    pipeline = module / "manifests" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace('value: "some_value"', 'value: "other"'))
    changed = unip_kfp.load(str(module / "manifests"))
    (package,) = changed.compile()
    second = upload(changed, host=kfp.url, echo=lambda line: None)
    assert second.created and second.pipeline_id == first.pipeline_id
    assert second.version_id != first.version_id
    record = kfp.versions[second.version_id]
    assert record.json["name"] == f"sha256-{package.sha256[:12]}"
    assert record.package == package.content
    # and both are recognised afterwards, whichever way they were named
    assert upload(changed, host=kfp.url, echo=lambda line: None) == (
        first.pipeline_id, second.version_id, False)
    assert upload(project, host=kfp.url, echo=lambda line: None) == (
        first.pipeline_id, first.version_id, False)
    assert len(kfp.versions) == 2


def test_upload_options_and_json(kfp: HookedKfpServer, env: S3Endpoint, module: Path,
                                 tmp_path: Path) -> None:
    package = tmp_path / "p.yaml"
    assert cli("compile", module / "manifests", "-o", package).exit_code == 0
    result = cli("upload", package, "--host", kfp.url, "--pipeline-name", "Team Pipeline",
                 "--namespace", "team-a", "--description", "nightly", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["created"] is True
    uploaded = kfp.calls("POST", "/pipelines/upload")[0]
    assert uploaded.query["name"] == "Team Pipeline" and uploaded.query["namespace"] == "team-a"
    assert uploaded.query["description"].startswith("nightly [unip-kfp sha256:")
    assert uploaded.files["uploadfile"].data == package.read_bytes()
    lookups = kfp.calls("GET", "/pipelines")
    assert lookups and all(r.query.get("namespace") == "team-a" for r in lookups)


def test_run_from_an_uploaded_version(kfp: HookedKfpServer, env: S3Endpoint,
                                      module: Path) -> None:
    project = unip_kfp.load(str(module / "manifests"))
    uploaded = upload(project, host=kfp.url, echo=lambda line: None)
    by_id = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                uploaded.version_id, "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert by_id.exit_code == 0, by_id.output
    body = kfp.last_run().body
    assert body["pipeline_version_reference"] == {
        "pipeline_id": uploaded.pipeline_id, "pipeline_version_id": uploaded.version_id}
    assert "pipeline_spec" not in body
    assert body["runtime_config"]["parameters"] == {"xy_train": "s3://b/t", "xy_test": "s3://b/v"}
    assert body["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"
    assert "stage2: SUCCEEDED" in by_id.stderr  # stages known from the version's spec

    by_name = cli("run", module / "manifests", "--host", kfp.url, "--no-wait",
                  "--from-version", "my-pipeline:my-pipeline",
                  "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert by_name.exit_code == 0, by_name.output
    assert kfp.last_run().body["pipeline_version_reference"]["pipeline_version_id"] == \
        uploaded.version_id

    unknown = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                  "sha256-000000000000", "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert unknown.exit_code == 2 and "no version 'sha256-000000000000'" in unknown.stderr
    assert "my-pipeline" in unknown.stderr  # lists what exists

    missing = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                  "other-pipeline:v1", "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert missing.exit_code == 2 and "no pipeline 'other-pipeline'" in missing.stderr


def test_version_spec_drives_output_lookup(kfp: HookedKfpServer, env: S3Endpoint,
                                           module: Path) -> None:
    """With --from-version, the run's spec is the version's, as the server holds it."""
    from unip_kfp.kubeflow import submit

    project = unip_kfp.load(str(module / "manifests"))
    uploaded = upload(project, host=kfp.url, echo=lambda line: None)
    handle = submit(project, host=kfp.url, from_version=uploaded.version_id,
                    inputs={"xy_train": "s3://b/t", "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    (package,) = project.compile()
    assert handle.spec == spec_of(package.content)[0]
