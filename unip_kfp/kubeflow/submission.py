"""Submit a run through `kfp.Client`: compile, stage inputs in boxes, ensure experiment, create run.

The order is: everything that can be checked here first (compile, `-i` values, local files),
then Kubeflow (probe, version lookup), then S3 (upload local inputs), then the experiment and
the run. A mistake therefore fails before anything is created on the cluster.

The run embeds the compiled package (`pipeline_spec`, plus the `platform_spec` for Secrets and
pull secrets), or references an uploaded version (`from_version`). It always carries an
explicit `pipeline_root` (`kubeflow.pipelineRoot`, default `minio://mlpipeline/v2/artifacts`)
so that its outputs can be found afterwards (see `artifacts.py`).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..checks.credentials import DEFAULT_PIPELINE_ROOT
from ..errors import UsageError
from ..launch.arguments import InputArgument, InputValue, box_uri, parse_inputs
from ..launch.prepared import Prepared, Target, prepare
from ..plan.model import PipelinePlan
from ..s3 import Location, resolve_endpoint
from . import links
from .cache_keys import ObjectVersions, keyed
from .connection import Connection, connect, note_ignored_namespace
from .handle import RunHandle
from .storage import Storage
from .versions import select_version, unwrap_platform, unwrap_spec

if TYPE_CHECKING:
    import kfp



def submit(
    target: Target, *, pipeline: str | None = None, client: kfp.Client | None = None,
    host: str | None = None, namespace: str | None = None, token: str | None = None,
    token_file: str | None = None, ca_cert: str | None = None, experiment: str | None = None,
    run_name: str | None = None, inputs: Mapping[str, InputArgument] | None = None,
    from_version: str | None = None, s3_endpoint: str | None = None, cache: bool = False,
    parallel: bool = False, echo: Callable[[str], None] | None = None, upload: bool = False,
) -> RunHandle:
    """Start a run of `target` (a `Project` or a package file) on Kubeflow; don't wait.

    `inputs` follow the `-i` rule (`launch/arguments.py`): `./local` paths are uploaded to the
    default box (`<box>/users/<user>/file_groups/<run folder>/<input>/...`), `scheme://` URIs
    pass through, other strings are file-API paths in the default box, and value inputs take
    numbers, dicts or their text. `from_version` is `[PIPELINE:]VERSION` (ids or names; the
    pipeline defaults to the manifest's pipeline name) of an uploaded version to run instead.
    Otherwise the run references the uploaded version that holds this very package, if one
    does (`upload=True` uploads it first), and embeds the package when none does.
    """
    say = echo or print
    if cache and (from_version or upload):
        raise UsageError("--cache keys each stage by content only in a package this run embeds: "
                         "drop --from-version/--upload (uploaded versions run without caching)")
    prepared = prepare(target, pipeline=pipeline, cache=cache, parallel=parallel)
    plan, settings = prepared.plan, prepared.settings.config
    given, local, storage = checked_inputs(plan, inputs, s3_endpoint, settings.s3, say)
    connection = connect(client=client, host=host, namespace=namespace, token=token,
                         token_file=token_file, ca_cert=ca_cert, config=settings.kubeflow)
    note_ignored_namespace(connection, say)
    version, same = (None, False) if cache else select_version(
        connection, prepared, from_version=from_version, upload=upload, say=say)
    spec, platform = _run_spec(prepared, None if same else version)
    params = _parameters(plan, given, storage, say)
    if cache:  # content keys, read from S3 now, in the package this run embeds
        prepared = keyed(prepared, params, ObjectVersions(storage, say), say)
        spec = prepared.spec
    run = _Submission(connection, prepared, storage, cache, say)
    return run.start(version, spec, platform, params, experiment=experiment, run_name=run_name)


@dataclass(frozen=True)
class _Submission:
    """The last step of `submit`: the experiment, the run, and the handle that follows it."""

    connection: Connection
    prepared: Prepared
    storage: _LazyStorage
    cache: bool
    say: Callable[[str], None]

    def start(self, version: Any, spec: dict[str, Any], platform: dict[str, Any] | None,
              params: dict[str, Any], *, experiment: str | None, run_name: str | None
              ) -> RunHandle:
        """Find or create the experiment, create the run, say where both are."""
        connection, plan, say = self.connection, self.prepared.plan, self.say
        kubeflow = self.prepared.settings.config.kubeflow
        pipeline_root = kubeflow.pipeline_root or DEFAULT_PIPELINE_ROOT
        experiment_name = _experiment_name(experiment or kubeflow.experiment, plan, say)
        experiment_id = _experiment_id(connection, experiment_name, plan)
        name = run_name or f"{plan.name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        run = _create_run(connection, self.prepared, version, experiment_id, name, params,
                          pipeline_root, False)  # --cache: the keyed package says per task
        handle = RunHandle(
            run_id=run.run_id, url=connection.run_url(run.run_id), experiment_id=experiment_id,
            plan=plan, spec=spec, pipeline_root=pipeline_root, connection=connection,
            storage=self.storage, echo=say, cache=self.cache, platform_spec=platform,
            kubeflow=kubeflow,
        )
        say(f"experiment '{experiment_name}': {connection.experiment_url(experiment_id)}")
        say(f"run '{name}' ({run.run_id}): {handle.url}")
        if (hint := links.hint(connection)) is not None:
            say(hint)
        return handle


def _parameters(plan: PipelinePlan, given: Mapping[str, InputValue], storage: _LazyStorage,
                say: Callable[[str], None]) -> dict[str, Any]:
    """The run's parameters; local files are uploaded to a file group of this submission."""
    params = {name: _parameter(value, plan) for name, value in given.items()
              if value.form != "local"}
    local = {name: value for name, value in given.items() if value.form == "local"}
    if local:
        folder = _run_folder(plan)
        for name, value in local.items():
            params[name] = _upload(storage(), plan, folder, value, say)
    return params


def _experiment_id(connection: Connection, name: str, plan: PipelinePlan) -> str:
    """Find or create the experiment (kfp looks it up by name in the namespace first)."""
    with connection.call(f"finding or creating experiment '{name}'"):
        created = connection.client.create_experiment(
            name, description=f"UNIP pipeline {plan.name}", namespace=connection.namespace)
    return str(created.experiment_id)


class _LazyStorage:
    """The box storage, built on first use (only runs with local files or outputs need S3)."""

    def __init__(self, endpoint: str | None, config: Any, say: Callable[[str], None]):
        self._endpoint, self._config, self._say = endpoint, config, say
        self._storage: Storage | None = None

    def __call__(self) -> Storage:
        if self._storage is None:
            self._storage = Storage(resolve_endpoint(self._endpoint, self._config), self._say)
        return self._storage


def _run_spec(prepared: Prepared, version: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pipeline spec the run will have, and its platform spec when it renames pods."""
    if version is None:
        return prepared.spec, _pod_platform(prepared.content)
    spec = unwrap_spec(version.pipeline_spec)
    if not spec:
        raise UsageError(f"pipeline version {version.pipeline_version_id} has no pipeline spec")
    return spec, unwrap_platform(version.pipeline_spec)


def _create_run(connection: Connection, prepared: Prepared, version: Any, experiment_id: str,
                name: str, params: dict[str, Any], pipeline_root: str, cache: bool) -> Any:
    """Create the run: of the uploaded `version`, or with the package embedded."""
    with connection.call(f"creating run '{name}'"):
        if version is None:
            return _run_package(connection, prepared, experiment_id, name, params,
                                pipeline_root, cache)
        return connection.client.run_pipeline(
            experiment_id=experiment_id, job_name=name, params=params,
            pipeline_id=version.pipeline_id, version_id=version.pipeline_version_id,
            pipeline_root=pipeline_root, enable_caching=True if cache else None,
        )


def _run_package(connection: Connection, prepared: Prepared, experiment_id: str, name: str,
                 params: dict[str, Any], pipeline_root: str, cache: bool) -> Any:
    """Create the run with the package embedded (kfp reads it from a file)."""
    with tempfile.TemporaryDirectory(prefix="unip-kfp-") as folder:
        path = os.path.join(folder, f"{prepared.plan.name}.yaml")
        with open(path, "wb") as handle:
            handle.write(prepared.content)
        # A Project is compiled with `cache` already; a package keeps its own setting
        # unless --cache asks for reuse (kfp then rewrites the root tasks' caching options).
        return connection.client.run_pipeline(
            experiment_id=experiment_id, job_name=name, pipeline_package_path=path,
            params=params, pipeline_root=pipeline_root,
            enable_caching=True if cache else None,
        )


def _pod_platform(content: bytes) -> dict[str, Any] | None:
    """The package's platform document when it changes pod names (pod metadata), else None.

    Only `podMetadata` renames a stage's pod template (`pods.executor_template`), so the
    YAML is parsed only when it is there.
    """
    if b"podMetadata" not in content:
        return None
    import yaml

    docs = [d for d in yaml.safe_load_all(content) if isinstance(d, dict)]
    return docs[1] if len(docs) > 1 else None


def _experiment_name(chosen: str | None, plan: PipelinePlan, say: Callable[[str], None]) -> str:
    """The given name, else kfp's `KF_PIPELINES_DEFAULT_EXPERIMENT_NAME`, else the pipeline's
    name; kfp's `KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME` beats them all, as in kfp."""
    name = chosen or os.environ.get("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME") or plan.name
    override = os.environ.get("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME")
    if override and override != name:
        say(f"experiment '{override}' instead of '{name}' (KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME)")
        return override
    return name


def _as_text(value: Any) -> str:
    """Python values for `inputs=` in the text form `-i` takes; `Path`s are local paths."""
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return path if os.path.isabs(path) or path.startswith(("./", "../")) else "./" + path
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        raise UsageError(f"input value {value!r}: booleans are not a UNIP datatype")
    return str(value)


def _parameter(value: InputValue, plan: PipelinePlan) -> Any:
    """The run parameter of one input: a URI string or the typed value (JSON-typed on the wire)."""
    if value.form == "box":
        return box_uri(plan, value.value)
    return value.value  # a URI, or the value runargs parsed and checked (int, float, dict, str)


def checked_inputs(
    plan: PipelinePlan,
    inputs: Mapping[str, Any] | None,
    s3_endpoint: str | None,
    s3_config: Any,
    say: Callable[[str], None],
) -> tuple[dict[str, InputValue], dict[str, InputValue], _LazyStorage]:
    """The caller's inputs parsed by the one `-i` rule, the local ones among them checked,
    and the S3 settings resolved when local files will be uploaded: every usage error comes
    before Kubeflow is asked anything (submit and schedule alike)."""
    given = parse_inputs(plan, {k: _as_text(v) for k, v in (inputs or {}).items()})
    local = {name: value for name, value in given.items() if value.form == "local"}
    _check_local(plan, local)
    storage = _LazyStorage(s3_endpoint, s3_config, say)
    if local:
        _ = storage().client  # endpoint and keys resolved (usage errors) before Kubeflow
    return given, local, storage


def _check_local(plan: PipelinePlan, local: Mapping[str, InputValue]) -> None:
    for name, value in local.items():
        if not os.path.exists(value.value):
            raise UsageError(f"-i {name}={value.value}: no such file or folder")
        if plan.default_box is None:
            raise UsageError(
                f"-i {name}: a local file is uploaded to the pipeline's default box, but "
                f"pipeline '{plan.name}' has none here (a package file knows no boxes); "
                "pass a full URI (minio://bucket/key), or run from the manifests"
            )


def _run_folder(plan: PipelinePlan) -> str:
    """A file group of its own per submission: `<pipeline>-<UTC time>-<random>`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{plan.name}-{stamp}-{secrets.token_hex(3)}"


def _upload(storage: Storage, plan: PipelinePlan, folder: str, value: InputValue,
            say: Callable[[str], None]) -> str:
    """Upload one local input under the default box's file API; its full URI is the value."""
    destination = Location.parse(box_uri(plan, f"{folder}/{value.variable.name}"))
    uploaded = storage.upload(value.value, destination)
    say(f"input {value.variable.name}: {value.value} -> {uploaded.uri}")
    return uploaded.uri
