"""`kubeflow.credentials` and `unip-kfp cluster-config`: what a module needs in its namespace.

The kfp-launcher providers are checked against KFP 2.17's own rules (backend/src/v2/config/
s3.go, read at tag 2.17.0): a `default` with credentials whenever there are overrides,
overrides matched by bucket and a keyPrefix ending in "/", first match wins. The ConfigMap is
deserialised by the `kubernetes` client's models; Pipeline/PipelineVersion objects are checked
against the structural schema of KFP 2.17's CRDs (manifests/kustomize/base/crds/
pipelines.kubeflow.org_pipelines.yaml and _pipelineversions.yaml), transcribed below.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result
from support.k8s_api_server import K8sApiServer

from unip_kfp.cli import main
from unip_kfp.kubeflow.versions import version_name

ROOT = Path(__file__).resolve().parent.parent
MOUNTED = ROOT / "examples" / "train-test-mounted"
TWO_SECRETS = ROOT / "tests" / "compile_cases" / "two-secrets"

LAUNCHER_CONFIG = """\
boxes:
  data-box: {uri: s3://team-data/unip/data-box, secret: data-box-s3}
  global-data-box:
    uri: s3://team-data/datasets
    secret: shared-s3
    secretKeys: {AWS_ACCESS_KEY_ID: key-id, AWS_SECRET_ACCESS_KEY: key-secret}
imagePullSecrets: [regcred]
s3: {endpoint: http://seaweedfs.kubeflow:8333, region: us-east-1}
kubeflow:
  namespace: team-a
  credentials: launcher
  pipelineRoot: s3://team-data/unip/artifacts
"""

# The existing object of a namespace: its pipeline root, and another module's providers.
CURRENT = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "kfp-launcher", "namespace": "team-a", "resourceVersion": "4711",
        "uid": "0b3f", "creationTimestamp": "2026-01-01T00:00:00Z",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "team.example/owner": "platform",
        },
        "ownerReferences": [{"apiVersion": "metacontroller.k8s.io/v1alpha1",
                             "kind": "CompositeController", "name": "kubeflow-pipelines",
                             "uid": "77"}],
    },
    "data": {
        "defaultPipelineRoot": "minio://mlpipeline/private-artifacts/team-a/v2/artifacts",
        "providers": yaml.safe_dump({
            "gs": {"default": {"credentials": {"fromEnv": True}}},
            "s3": {
                "default": {"endpoint": "s3.amazonaws.com", "region": "eu-west-1",
                            "credentials": {"fromEnv": False, "secretRef": {
                                "secretName": "team-s3", "accessKeyKey": "a",
                                "secretKeyKey": "s"}}},
                "overrides": [
                    {"bucketName": "other-module", "keyPrefix": "x/",
                     "credentials": {"fromEnv": False, "secretRef": {
                         "secretName": "other-s3", "accessKeyKey": "a", "secretKeyKey": "s"}}},
                    {"bucketName": "team-data", "keyPrefix": "",
                     "credentials": {"fromEnv": False, "secretRef": {
                         "secretName": "bucket-wide", "accessKeyKey": "a",
                         "secretKeyKey": "s"}}},
                ],
            },
        }),
    },
}

# Transcribed from KFP 2.17.0's CRDs (openAPIV3Schema), the parts that constrain these objects.
_META = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
    "namespace": {"type": "string"}}}
PIPELINE_CRD = {"type": "object", "required": ["apiVersion", "kind", "metadata"],
                "properties": {
    "apiVersion": {"const": "pipelines.kubeflow.org/v2beta1"}, "kind": {"const": "Pipeline"},
    "metadata": _META,
    "spec": {"type": "object", "additionalProperties": False, "properties": {
        "description": {"type": "string"}, "displayName": {"type": "string"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
VERSION_CRD = {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
               "properties": {
    "apiVersion": {"const": "pipelines.kubeflow.org/v2beta1"},
    "kind": {"const": "PipelineVersion"}, "metadata": _META,
    "spec": {"type": "object", "required": ["pipelineSpec"], "additionalProperties": False,
             "properties": {
        "codeSourceURL": {"type": "string"}, "description": {"type": "string"},
        "displayName": {"type": "string"}, "pipelineName": {"type": "string"},
        "pipelineSpec": {"type": "object"}, "pipelineSpecURI": {"type": "string"},
        "platformSpec": {"type": "object"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "versionName": {"type": "string", "maxLength": 253,
                        "pattern": r"^[a-z0-9]([a-z0-9\.\-]*[a-z0-9])?$"}}}}}


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(name="module")
def module_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The mounted example with a launcher-mode unip-kfp.yaml, and no Kubernetes access."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    target = tmp_path / "module"
    shutil.copytree(MOUNTED / "manifests", target / "manifests")
    (target / "unip-kfp.yaml").write_text(LAUNCHER_CONFIG)
    return target / "manifests"


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def uncommented(text: str, title: str) -> dict[str, Any]:
    """The commented document that starts with `title`, as YAML (its object lines only)."""
    for block in text.split("---\n"):
        if block.startswith(f"# {title}"):
            lines = [line[2:] for line in block.splitlines() if line.startswith("# ")]
            start = next(i for i, line in enumerate(lines) if line.startswith("apiVersion:"))
            return dict(yaml.safe_load("\n".join(lines[start:])))
    raise AssertionError(f"no commented document '{title}'")


def as_model(obj: dict[str, Any], kind: str) -> Any:
    """Deserialised by the kubernetes client's own models (client-side validation on)."""
    from kubernetes.client import ApiClient

    class Response:
        data = json.dumps(obj)

    return ApiClient().deserialize(Response(), kind)


def providers_of(config_map: dict[str, Any]) -> dict[str, Any]:
    return dict(yaml.safe_load(config_map["data"]["providers"]))


def assert_kfp_accepts(providers: dict[str, Any]) -> None:
    """The checks of s3.go ProvideSessionInfo that reject a config, for every s3/minio entry."""
    for scheme in ("s3", "minio"):
        entry = providers.get(scheme)
        if not entry:
            continue
        assert entry["default"]["credentials"], "missing default credentials"
        for override in entry.get("overrides") or entry.get("Overrides") or []:
            assert set(override) <= {"endpoint", "region", "disableSSL", "bucketName",
                                     "keyPrefix", "credentials", "forcePathStyle", "maxRetries"}
            prefix = override["keyPrefix"]
            assert prefix == "" or prefix.endswith("/")
            credentials = override["credentials"]
            assert credentials["fromEnv"] or set(credentials["secretRef"]) == {
                "secretName", "accessKeyKey", "secretKeyKey"}


def first_match(providers: dict[str, Any], bucket: str, prefix: str) -> dict[str, Any] | None:
    """s3.go getOverrideByPrefix: the first override of the bucket whose keyPrefix starts it."""
    for override in providers["s3"].get("overrides") or []:
        if override["bucketName"] == bucket and prefix.startswith(override["keyPrefix"]):
            return dict(override)
    return None


# --- kubeflow.credentials: env (default) and launcher, in the compiled package


def platform_of(path: Path) -> dict[str, Any] | None:
    docs = documents(path.read_text())
    return docs[1] if len(docs) > 1 else None


def test_env_credentials_put_box_secrets_into_the_stage_env(tmp_path: Path) -> None:
    config = tmp_path / "unip-kfp.yaml"
    config.write_text(LAUNCHER_CONFIG.replace("credentials: launcher", "credentials: env")
                      .replace(", secret: data-box-s3", ""))  # stage1 reads both boxes
    out = tmp_path / "p.yaml"
    result = cli("compile", MOUNTED / "manifests", "--config", config, "-o", out)
    assert result.exit_code == 0, result.output
    executors = platform_of(out)["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-stage1"]["secretAsEnv"][0]["secretName"] == "shared-s3"


def test_launcher_credentials_keep_box_secrets_out_of_the_container(module: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    result = cli("compile", module, "-o", out)
    assert result.exit_code == 0, result.output
    executors = platform_of(out)["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors and all("secretAsEnv" not in e for e in executors.values())
    assert all(e["imagePullSecret"][0]["secretName"] == "regcred" for e in executors.values())
    assert "AWS_" not in out.read_text()


def test_two_secrets_on_one_stage_compile_with_launcher_credentials(tmp_path: Path) -> None:
    env = cli("compile", TWO_SECRETS, "-o", tmp_path / "env.yaml")
    assert env.exit_code == 3  # validation's rule since the one rule layer (was Kubeflow's, 4)
    assert "or set kubeflow.credentials: launcher in unip-kfp.yaml" in env.stderr
    config = tmp_path / "unip-kfp.yaml"
    config.write_text((TWO_SECRETS / "unip-kfp.yaml").read_text()
                      + "kubeflow: {credentials: launcher}\n")
    out = tmp_path / "launcher.yaml"
    result = cli("compile", TWO_SECRETS, "--config", config, "-o", out)
    assert result.exit_code == 0, result.output
    assert "secretAsEnv" not in out.read_text()


def test_launcher_credentials_warn_about_boxes_outside_the_root_bucket(tmp_path: Path) -> None:
    config = tmp_path / "unip-kfp.yaml"
    config.write_text((TWO_SECRETS / "unip-kfp.yaml").read_text()
                      + "kubeflow: {credentials: launcher}\n")
    result = cli("plan", TWO_SECRETS, "--config", config)
    assert result.exit_code == 0, result.output
    assert (
        f"{config}:14: warning: kubeflow.credentials: box 'data-box' "
        "(s3://team-bucket/unip/data-box) is outside the pipeline root's bucket "
        "(minio://mlpipeline): KFP 2.17's launcher reads it with the stage pod's own "
        "environment, not with the kfp-launcher providers\n    hint: keep the box in the "
        "pipeline root's bucket (or set kubeflow.pipelineRoot in its bucket), give the pods a "
        "workload identity, or use credentials: env"
    ) in result.stderr
    assert "box 'shared-box'" in result.stderr
    strict = cli("plan", TWO_SECRETS, "--config", config, "--strict")
    assert strict.exit_code == 3
    assert "error: kubeflow.credentials: box 'data-box'" in strict.stderr


def test_boxes_in_the_root_bucket_need_no_warning(module: Path) -> None:
    result = cli("plan", module)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_credentials_setting_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "unip-kfp.yaml"
    config.write_text("kubeflow: {credentials: pod}\n")
    result = cli("plan", MOUNTED / "manifests", "--config", config)
    assert result.exit_code == 3
    assert "kubeflow.credentials: Input should be 'env' or 'launcher'" in result.stderr


# --- cluster-config without the current object: everything as comments but the CRs


def test_unknown_kfp_launcher_is_written_as_comments(module: Path) -> None:
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    assert documents(result.stdout) == []  # a blind kubectl apply changes nothing
    assert "kfp-launcher: written as comments (current object unknown; --current FILE)" in (
        result.stderr)
    assert "#   kubectl -n team-a get configmap kfp-launcher -o yaml > current.yaml" in (
        result.stdout)
    config_map = uncommented(result.stdout, "kfp-launcher: the current object is unknown")
    assert as_model(config_map, "V1ConfigMap").metadata.name == "kfp-launcher"
    providers = providers_of(config_map)
    assert_kfp_accepts(providers)
    assert providers["s3"]["default"] == {"credentials": {"fromEnv": True}}
    box = first_match(providers, "team-data", "unip/data-box/users/u/file_groups/")
    assert box is not None and box["credentials"]["secretRef"] == {
        "secretName": "data-box-s3", "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}
    assert (box["endpoint"], box["disableSSL"], box["region"]) == (
        "seaweedfs.kubeflow:8333", True, "us-east-1")
    mounted = first_match(providers, "team-data", "datasets/users/developer/file_groups/")
    assert mounted is not None and mounted["credentials"]["secretRef"]["secretName"] == "shared-s3"
    assert mounted["credentials"]["secretRef"]["accessKeyKey"] == "key-id"
    root = first_match(providers, "team-data", "unip/artifacts/my-pipeline-mounted/")
    assert root is not None and root["credentials"]["secretRef"]["secretName"] == "data-box-s3"


def test_secret_templates_hold_names_and_keys_never_values(module: Path) -> None:
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    box = uncommented(result.stdout, "Secret data-box-s3:")
    assert box == {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "data-box-s3", "namespace": "team-a"},
                   "type": "Opaque", "stringData": {"accesskey": "", "secretkey": ""}}
    shared = uncommented(result.stdout, "Secret shared-s3:")
    assert shared["stringData"] == {"key-id": "", "key-secret": ""}
    pull = uncommented(result.stdout, "Secret regcred:")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    for obj in (box, shared, pull):
        assert as_model(obj, "V1Secret").metadata.name == obj["metadata"]["name"]
    assert ("#   kubectl -n team-a create secret generic shared-s3 --from-literal=key-id=... "
            "--from-literal=key-secret=...") in result.stdout


def test_env_credentials_need_no_kfp_launcher(module: Path) -> None:
    config = module.parent / "unip-kfp.yaml"
    # With env credentials stage1 may read its two boxes only if they share a Secret: here
    # the global box has none (two Secrets on one stage are refused, as compile would).
    config.write_text(
        LAUNCHER_CONFIG.replace("credentials: launcher", "credentials: env").replace(
            "    secret: shared-s3\n    secretKeys: {AWS_ACCESS_KEY_ID: key-id, "
            "AWS_SECRET_ACCESS_KEY: key-secret}\n",
            "",
        )
    )
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    assert "# kfp-launcher: not needed. kubeflow.credentials is 'env'" in result.stdout
    assert "providers" not in result.stdout
    assert "# Secret data-box-s3:" in result.stdout


# --- merged with the current object (--current FILE, or read from the Kubernetes API)


def merged(stdout: str) -> dict[str, Any]:
    [config_map] = [d for d in documents(stdout) if d["kind"] == "ConfigMap"]
    return config_map


def test_current_kfp_launcher_is_merged_never_replaced(module: Path, tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    current.write_text(yaml.safe_dump(CURRENT))
    result = cli("cluster-config", module, "--current", current)
    assert result.exit_code == 0, result.output
    config_map = merged(result.stdout)
    as_model(config_map, "V1ConfigMap")
    metadata = config_map["metadata"]
    assert metadata["resourceVersion"] == "4711"  # a concurrent change makes the apply fail
    assert metadata["annotations"] == {"team.example/owner": "platform"}
    assert metadata["ownerReferences"] == CURRENT["metadata"]["ownerReferences"]
    assert not {"uid", "creationTimestamp"} & set(metadata)
    assert config_map["data"]["defaultPipelineRoot"] == CURRENT["data"]["defaultPipelineRoot"]
    providers = providers_of(config_map)
    before = yaml.safe_load(CURRENT["data"]["providers"])
    assert providers["gs"] == before["gs"] and providers["s3"]["default"] == before["s3"][
        "default"]
    assert_kfp_accepts(providers)
    names = [(o["bucketName"], o["keyPrefix"]) for o in providers["s3"]["overrides"]]
    assert names == [("other-module", "x/"), ("team-data", "datasets/"),
                     ("team-data", "unip/data-box/"), ("team-data", "unip/artifacts/"),
                     ("team-data", "")]  # ours before the bucket-wide one: first match wins
    assert first_match(providers, "team-data", "elsewhere/")["credentials"]["secretRef"][
        "secretName"] == "bucket-wide"
    assert "kfp-launcher: added s3://team-data/unip/data-box/" in result.stderr


def test_merging_again_changes_nothing(module: Path, tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    current.write_text(yaml.safe_dump(CURRENT))
    first = cli("cluster-config", module, "--current", current)
    current.write_text(yaml.safe_dump(merged(first.stdout)))
    again = cli("cluster-config", module, "--current", current)
    assert again.exit_code == 0, again.output
    assert merged(again.stdout) == merged(first.stdout)
    assert "kfp-launcher: already up to date" in again.stderr


def test_an_override_of_the_same_place_is_replaced(module: Path, tmp_path: Path) -> None:
    stale = json.loads(json.dumps(CURRENT))
    stale["data"]["providers"] = yaml.safe_dump({"s3": {
        "default": {"credentials": {"fromEnv": True}},
        "overrides": [{"bucketName": "team-data", "keyPrefix": "unip/data-box/",
                       "credentials": {"fromEnv": True}}]}})
    current = tmp_path / "current.yaml"
    current.write_text(yaml.safe_dump(stale))
    result = cli("cluster-config", module, "--current", current)
    assert result.exit_code == 0, result.output
    providers = providers_of(merged(result.stdout))
    assert [o["keyPrefix"] for o in providers["s3"]["overrides"]].count("unip/data-box/") == 1
    assert "kfp-launcher: replaced s3://team-data/unip/data-box/" in result.stderr


def test_current_must_be_a_config_map(module: Path, tmp_path: Path) -> None:
    current = tmp_path / "current.yaml"
    current.write_text("kind: Secret\n")
    result = cli("cluster-config", module, "--current", current)
    assert result.exit_code == 2
    assert (f"--current {current}: not a ConfigMap (kubectl get configmap kfp-launcher "
            "-o yaml)") in result.stderr


@pytest.fixture(name="k8s")
def k8s_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with K8sApiServer() as server:
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig")))
        yield server


def test_the_current_object_is_read_from_the_kubernetes_api(module: Path,
                                                             k8s: K8sApiServer) -> None:
    k8s.put(CURRENT)
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    assert "/api/v1/namespaces/team-a/configmaps/kfp-launcher" in k8s.requests
    config_map = merged(result.stdout)
    assert config_map["metadata"]["resourceVersion"] == "4711"
    assert config_map["data"]["defaultPipelineRoot"] == CURRENT["data"]["defaultPipelineRoot"]
    assert "# kfp-launcher: merged into the current object, read from the Kubernetes API" in (
        result.stdout)


def test_a_missing_kfp_launcher_is_created(module: Path, k8s: K8sApiServer) -> None:
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    config_map = merged(result.stdout)
    assert set(config_map["data"]) == {"providers"}
    assert "resourceVersion" not in config_map["metadata"]
    assert "# kfp-launcher: new (none exists yet)" in result.stdout


def test_a_forbidden_namespace_leaves_kfp_launcher_as_comments(module: Path,
                                                                k8s: K8sApiServer) -> None:
    k8s.forbidden.add("team-a")
    result = cli("cluster-config", module)
    assert result.exit_code == 0, result.output
    assert documents(result.stdout) == []
    assert ("note: Kubernetes (kubeconfig ") in result.stderr
    assert ("refused reading ConfigMap kfp-launcher in namespace 'team-a': forbidden; "
            "kfp-launcher is written as comments") in result.stderr


# --- Kubernetes-native Pipeline and PipelineVersion


def test_kubernetes_manifests_match_kfp_crds(module: Path, tmp_path: Path) -> None:
    result = cli("cluster-config", module, "--kubernetes-manifests", "-o", tmp_path / "ns.yaml")
    assert result.exit_code == 0, result.output
    objects = documents((tmp_path / "ns.yaml").read_text())
    assert [o["kind"] for o in objects] == ["Pipeline", "PipelineVersion"]
    pipeline, version = objects
    jsonschema.validate(pipeline, PIPELINE_CRD)
    jsonschema.validate(version, VERSION_CRD)
    compiled = tmp_path / "package.yaml"
    assert cli("compile", module, "-o", compiled).exit_code == 0
    import hashlib

    sha = hashlib.sha256(compiled.read_bytes()).hexdigest()
    spec, platform = documents(compiled.read_text())
    assert version["spec"]["pipelineSpec"] == spec
    assert version["spec"]["platformSpec"] == platform
    assert version["spec"]["versionName"] == version_name(sha)
    assert version["metadata"] == {"name": f"my-pipeline-mounted-{version_name(sha)}",
                                   "namespace": "team-a"}
    assert version["spec"]["pipelineName"] == pipeline["metadata"]["name"]
    assert f"[unip-kfp sha256:{sha}]" in version["spec"]["description"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", version["metadata"]["name"])
