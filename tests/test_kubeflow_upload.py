"""`unip-kfp upload` and `run --from-version`/`--upload`: one version per package content,
every version named by its hash, runs that reference the version holding their package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.kubeflow_env import HookedKfpServer, cli, spec_of
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.kubeflow.versions import upload

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
    # the first version too is named by its content, not after the pipeline
    assert version.json["name"] == version.json["display_name"] == f"sha256-{package.sha256[:12]}"
    # the description is the guide to the inputs, the machine text last
    guide = unip_kfp.load(str(module / "manifests")).pipeline().description
    assert version.json["description"] == f"{guide}\n\n[unip-kfp sha256:{package.sha256}]"
    assert pipeline["description"] == guide and pipeline["display_name"] == "my-pipeline"
    assert "created" in first.stderr

    second = cli("upload", module / "manifests", "--host", kfp.url)
    assert second.exit_code == 0, second.output
    assert ids(second.stdout) == created
    assert "unchanged" in second.stderr
    assert len(kfp.versions) == 1 and len(kfp.pipelines) == 1
    # KFP's upload route would name the first version after the pipeline: the pipeline is
    # created alone, then the package uploaded as its first version
    assert len(kfp.calls("POST", "/pipelines")) == 1
    assert len(kfp.calls("POST", "/pipelines/upload_version")) == 1
    assert not kfp.calls("POST", "/pipelines/upload")


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
    (created,) = kfp.calls("POST", "/pipelines")
    assert created.json == {"name": "Team Pipeline", "display_name": "Team Pipeline",
                            "description": "nightly", "namespace": "team-a"}
    (uploaded,) = kfp.calls("POST", "/pipelines/upload_version")
    assert uploaded.query["name"].startswith("sha256-")
    assert uploaded.query["description"].startswith("nightly\n\n[unip-kfp sha256:")
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

    version_name = kfp.versions[uploaded.version_id].json["name"]
    by_name = cli("run", module / "manifests", "--host", kfp.url, "--no-wait",
                  "--from-version", f"my-pipeline:{version_name}",
                  "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert by_name.exit_code == 0, by_name.output
    assert kfp.last_run().body["pipeline_version_reference"]["pipeline_version_id"] == \
        uploaded.version_id

    unknown = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                  "sha256-000000000000", "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert unknown.exit_code == 2 and "no version 'sha256-000000000000'" in unknown.stderr
    assert version_name in unknown.stderr  # lists what exists

    missing = cli("run", module / "manifests", "--host", kfp.url, "--from-version",
                  "other-pipeline:v1", "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    assert missing.exit_code == 2 and "no pipeline 'other-pipeline'" in missing.stderr


def test_version_spec_drives_output_lookup(kfp: HookedKfpServer, env: S3Endpoint,
                                           module: Path) -> None:
    """With --from-version, the run's spec is the version's, as the server holds it."""
    from unip_kfp.kubeflow.submission import submit

    project = unip_kfp.load(str(module / "manifests"))
    uploaded = upload(project, host=kfp.url, echo=lambda line: None)
    handle = submit(project, host=kfp.url, from_version=uploaded.version_id,
                    inputs={"xy_train": "s3://b/t", "xy_test": "s3://b/v"},
                    echo=lambda line: None)
    (package,) = project.compile()
    assert handle.spec == spec_of(package.content)[0]


URIS = ("-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")


def test_a_run_of_an_uploaded_package_references_its_version(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path
) -> None:
    """A run of an embedded package shows "[View pipeline]" in the UI's run lists; a run of
    the very package an upload holds shows that version instead."""
    embedded = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    assert embedded.exit_code == 0, embedded.output
    assert "pipeline_spec" in kfp.last_run().body  # nothing uploaded yet: embedded
    uploaded = upload(unip_kfp.load(str(module / "manifests")), host=kfp.url,
                      echo=lambda line: None)
    reference = {"pipeline_id": uploaded.pipeline_id,
                 "pipeline_version_id": uploaded.version_id}
    package = tmp_path / "p.yaml"
    assert cli("compile", module / "manifests", "-o", package).exit_code == 0
    for target in (module / "manifests", package):  # manifests, or their compiled package
        again = cli("run", target, "--host", kfp.url, "--no-wait", *URIS)
        assert again.exit_code == 0, again.output
        body = kfp.last_run().body
        assert body["pipeline_version_reference"] == reference and "pipeline_spec" not in body
        assert "holds this package; the run references it" in again.stderr
    # --parallel compiles the very same bytes here (stage2 reads stage1's model anyway)
    parallel = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", "--parallel",
                   *URIS)
    assert parallel.exit_code == 0, parallel.output
    assert kfp.last_run().body["pipeline_version_reference"] == reference
    changed = module / "manifests" / "pipeline.yaml"
    changed.write_text(changed.read_text().replace('value: "some_value"', 'value: "other"'))
    other = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    assert other.exit_code == 0, other.output
    assert "pipeline_version_reference" not in kfp.last_run().body  # another package


def test_run_upload_uploads_first_and_runs_that_version(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    first = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", "--upload", *URIS)
    assert first.exit_code == 0, first.output
    (version,) = kfp.versions.values()
    assert version.json["name"].startswith("sha256-")
    reference = {"pipeline_id": version.pipeline_id,
                 "pipeline_version_id": version.json["pipeline_version_id"]}
    assert kfp.last_run().body["pipeline_version_reference"] == reference
    again = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", "--upload", *URIS)
    assert again.exit_code == 0, again.output
    assert len(kfp.versions) == 1 and "unchanged" in again.stderr
    assert kfp.last_run().body["pipeline_version_reference"] == reference
    both = cli("run", module / "manifests", "--host", kfp.url, "--upload", "--from-version",
               "x", *URIS)
    assert both.exit_code == 2 and "choose one" in both.stderr
    local = cli("run", module / "manifests", "--local", "--upload", *URIS)
    assert local.exit_code == 2 and "give --host" in local.stderr


def test_a_long_guide_is_cut_before_the_mark() -> None:
    from unip_kfp.kubeflow.versions import DESCRIPTION_LIMIT, version_description

    guide = "Inputs: many.\n\n" + "\n".join(f"- `in_{i}` (required): text. " + "x" * 80
                                             for i in range(100))
    text = version_description(guide, "ab" * 32)
    assert len(text) <= DESCRIPTION_LIMIT
    assert text.endswith("\n\n[unip-kfp sha256:" + "ab" * 32 + "]")
    assert text.startswith("Inputs: many.\n\n- `in_0`") and "(cut: " in text
    short = version_description("Inputs: `a`.", "cd" * 32)
    assert short == "Inputs: `a`.\n\n[unip-kfp sha256:" + "cd" * 32 + "]"


def test_links_are_the_uis_or_say_what_to_set(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host is often the UI (it proxies the API); when it is the API server itself
    (port-forward of svc/ml-pipeline), UI links need the UI's address (kubeflow.uiHost,
    KF_PIPELINES_UI_ENDPOINT), and the links printed meanwhile are the API's."""
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)
    on_ui = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    run_id = on_ui.stdout.strip()
    assert f"({run_id}): {kfp.url}/#/runs/details/{run_id}" in on_ui.stderr
    assert "not its UI" not in on_ui.stderr
    kfp.ui = False  # the host is ml-pipeline:8888
    on_api = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    run_id = on_api.stdout.strip()
    assert f"({run_id}): {kfp.url}/apis/v2beta1/runs/{run_id}" in on_api.stderr
    assert f"{kfp.url} is the Kubeflow Pipelines API server, not its UI" in on_api.stderr
    assert "kubeflow.uiHost" in on_api.stderr and "KF_PIPELINES_UI_ENDPOINT" in on_api.stderr
    uploaded = cli("upload", module / "manifests", "--host", kfp.url)
    assert f"{kfp.url}/apis/v2beta1/pipelines/" in uploaded.stderr
    monkeypatch.setenv("KF_PIPELINES_UI_ENDPOINT", "http://localhost:8080/")
    named = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    run_id = named.stdout.strip()
    assert f"({run_id}): http://localhost:8080/#/runs/details/{run_id}" in named.stderr
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT")
    (module / "unip-kfp.yaml").write_text("kubeflow: {uiHost: 'https://kf.example/pipeline'}\n")
    configured = cli("run", module / "manifests", "--host", kfp.url, "--no-wait", *URIS)
    run_id = configured.stdout.strip()
    assert f"https://kf.example/pipeline/#/runs/details/{run_id}" in configured.stderr
    ui_asks = [r for r in kfp.requests if r.method == "GET" and r.path == "/"]
    assert len(ui_asks) == 3  # once per command that made links without a configured UI
