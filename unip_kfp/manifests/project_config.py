"""The project file `unip-kfp.yaml`: box URIs, Kubernetes Secrets, registry and S3 settings.

It sits next to the manifests (or in the module folder above them) and holds what the
manifests cannot know about one Kubeflow install. It never holds credentials: S3 keys come
from the caller's environment, and in the cluster from the Kubernetes Secrets named here.

    user: developer                    # file-API user for relative input paths
    boxes:
      data-box:                        # connected-box name (or the DataBox's s3BoxName)
        uri: s3://my-bucket/unip/data-box
        secret: data-box-s3            # Secret exposed to stages as AWS_* variables
    imagePullSecrets: [regcred]
    nodeSelector: {pool: cpu}          # every stage; tolerations: [...] likewise
    stages:
      train: {nodeSelector: {pool: gpu}, tolerations: [{key: gpu, operator: Exists}],
              cacheKeyFiles: [src/lib/**]}   # also train's code, for run --reuse
    s3: {endpoint: http://minio.example:9000}
    kubeflow: {host: https://kubeflow.example, namespace: team-a}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict

from ..errors import Issue, ManifestError, Severity
from . import schema_patterns
from .yaml_source import CONFIG_FILE_NAMES, Document, FieldPath, format_path, read_documents

_CREDENTIAL_KEYS = {"accesskey", "secretkey", "access_key", "secret_key", "password", "token"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


# Schema only: the keys of free-form mappings never name a credential (load_settings refuses).
_NO_CREDENTIAL_KEYS: JsonDict = {
    "propertyNames": {"not": {"pattern": schema_patterns.CREDENTIAL_KEY}}
}


class BoxConfig(_Model):
    uri: str | None = Field(
        None, description="Base URI of the box, e.g. s3://my-bucket/unip/data-box."
    )
    secret: str | None = Field(
        None,
        description="Kubernetes Secret with the box's S3 keys, given to the stages as AWS_* "
        "environment variables.",
    )
    secret_keys: dict[str, str] = Field(
        default_factory=lambda: {
            "AWS_ACCESS_KEY_ID": "accesskey",
            "AWS_SECRET_ACCESS_KEY": "secretkey",
        },
        alias="secretKeys",
        description="Environment variable -> key in the Secret (default: accesskey, secretkey).",
        json_schema_extra=_NO_CREDENTIAL_KEYS,
    )


class S3Config(_Model):
    endpoint: str | None = Field(None, description="S3/MinIO endpoint, e.g. http://minio:9000.")
    secure: bool | None = Field(
        None, description="TLS for a bare host:port endpoint (default true); a URL says itself."
    )
    region: str | None = Field(None, description="S3 region (default: AWS_REGION).")
    ca_cert: str | None = Field(
        None,
        alias="caCert",
        description="CA bundle (PEM file) that signs the S3 endpoint's certificate (default: "
        "AWS_CA_BUNDLE, then SSL_CERT_FILE, then the public CAs).",
    )


class KubeflowConfig(_Model):
    host: str | None = Field(None, description="Kubeflow Pipelines API URL (as --host).")
    namespace: str | None = Field(None, description="Kubeflow namespace (profile) of runs.")
    experiment: str | None = Field(None, description="Experiment (default: the pipeline name).")
    pipeline_root: str | None = Field(
        default=None, alias="pipelineRoot", description="Where Kubeflow keeps artifacts."
    )
    credentials: Literal["env", "launcher"] = Field(
        "env",
        description="Where stages get box credentials: env (the box Secrets become AWS_* "
        "variables of the stage container) or launcher (the namespace's kfp-launcher "
        "ConfigMap names them; nothing in the container's environment).",
    )
    ca_cert: str | None = Field(
        None,
        alias="caCert",
        description="CA bundle (PEM file) that signs the Kubeflow endpoint's certificate "
        "(as --ca-cert).",
    )
    ui_host: str | None = Field(
        None,
        alias="uiHost",
        description="Kubeflow Pipelines UI URL, for the links commands print and for stage "
        "logs (its /k8s/pod/logs route), when the host is the API server itself (default: "
        "KF_PIPELINES_UI_ENDPOINT, then the host if it serves the UI).",
    )
    log_archive: str | None = Field(
        None,
        alias="logArchive",
        description="Where Argo archives pod logs, with Argo's placeholders (default: KFP "
        "2.17's minio://mlpipeline/private-artifacts/{{workflow.namespace}}/{{workflow.name}}/"
        "{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/"
        "{{workflow.creationTimestamp.d}}/{{pod.name}}); main.log is read below it.",
    )


class Toleration(_Model):
    key: str | None = Field(None, description="Taint key the toleration matches.")
    operator: Literal["Equal", "Exists"] | None = Field(None, description="Equal or Exists.")
    value: str | None = Field(None, description="Taint value (with Equal).")
    effect: Literal["NoExecute", "NoSchedule", "PreferNoSchedule"] | None = Field(
        None, description="Taint effect matched; none: all."
    )
    toleration_seconds: int | None = Field(
        default=None, alias="tolerationSeconds", description="How long a NoExecute taint is borne."
    )


class Scheduling(_Model):
    """Where stages may run: Kubernetes node selector labels and tolerations."""

    node_selector: dict[str, str] = Field(
        default_factory=dict,
        alias="nodeSelector",
        description="Node labels the stages' pods must run on.",
        json_schema_extra=_NO_CREDENTIAL_KEYS,
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Kubernetes tolerations of the stages' pods."
    )


class StageConfig(Scheduling):
    """One stage: where it may run, and what else its code is (for `run --reuse`)."""

    cache_key_files: list[str] = Field(
        default_factory=list,
        alias="cacheKeyFiles",
        description="Files or folders (globs, relative to the module folder) that are part "
        "of this stage's code besides those its command names, e.g. the modules it imports: "
        "a change to any of them makes `run --reuse` run the stage again.",
    )


class ProjectConfig(Scheduling):
    """The whole file; its own nodeSelector/tolerations apply to every stage."""

    stages: dict[str, StageConfig] = Field(
        default_factory=dict,
        description="Per stage name: nodeSelector/tolerations on top of the file's own, "
        "and cacheKeyFiles.",
        json_schema_extra=_NO_CREDENTIAL_KEYS,
    )
    user: str | None = Field(None, description="File-API user of relative input paths.")
    boxes: dict[str, BoxConfig] = Field(
        default_factory=dict,
        description="Per connected-box name (or DataBox s3BoxName): where the box is.",
        json_schema_extra=_NO_CREDENTIAL_KEYS,
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list,
        alias="imagePullSecrets",
        description="Kubernetes Secrets to pull the stage images with.",
    )
    s3: S3Config = Field(default_factory=S3Config, description="S3 settings of the caller.")
    kubeflow: KubeflowConfig = Field(
        default_factory=KubeflowConfig, description="Kubeflow Pipelines to run on."
    )


@dataclass(frozen=True)
class Settings:
    """The config file's content plus where it came from (for messages)."""

    config: ProjectConfig = field(default_factory=ProjectConfig)
    file: str | None = None
    doc: Document | None = None

    def issue(self, path: FieldPath, message: str, hint: str) -> Issue:
        """An error located in the config file (for rules that need the manifests too)."""
        line = self.doc.line_of(path) if self.doc else None
        return Issue(Severity.ERROR, message, self.file, line, format_path(path), hint)


def find_config(paths: list[str] | tuple[str, ...]) -> str | None:
    """`unip-kfp.yaml` in the first path's folder, else in the folder above it (the module)."""
    if not paths:
        return None
    start = os.path.abspath(paths[0])
    folder = start if os.path.isdir(start) else os.path.dirname(start)
    for candidate_folder in (folder, os.path.dirname(folder)):
        for name in CONFIG_FILE_NAMES:
            candidate = os.path.join(candidate_folder, name)
            if os.path.isfile(candidate):
                return candidate
    return None


def load_settings(file: str | None) -> Settings:
    """Read and check the config file; a bad one is reported like a bad manifest (exit 3)."""
    if file is None:
        return Settings()
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ManifestError(
            [Issue(Severity.ERROR, f"cannot read config: {exc.strerror}", file)]
        ) from None
    documents, issues = read_documents(text, file)
    if issues:
        raise ManifestError(issues)
    if not documents:
        return Settings(file=file)
    doc = documents[0]
    data = doc.data
    leaked = _credential_paths(data)
    if leaked:
        raise ManifestError(
            [
                Issue(
                    Severity.ERROR,
                    "credentials do not belong in unip-kfp.yaml",
                    file,
                    doc.line_of(p),
                    format_path(p),
                    "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment, "
                    "and name a Kubernetes Secret with 'secret:' for the cluster",
                )
                for p in leaked
            ]
        )
    try:
        return Settings(ProjectConfig.model_validate(data), file, doc)
    except ValidationError as exc:
        raise ManifestError(
            [
                Issue(
                    Severity.ERROR,
                    str(e["msg"]),
                    file,
                    doc.line_of(tuple(e["loc"])),
                    format_path(tuple(e["loc"])),
                    "see the keys documented in README.md",
                )
                for e in exc.errors()
            ]
        ) from None


def _credential_paths(
    data: object, path: tuple[str | int, ...] = ()
) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if str(key).lower().replace("-", "_") in _CREDENTIAL_KEYS:
                found.append((*path, key))
            found += _credential_paths(value, (*path, key))
    return found
