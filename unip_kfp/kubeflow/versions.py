"""Upload packages as pipelines and versions without sprawl; find uploaded versions again.

A package is identified by the SHA-256 of its bytes (compilation is deterministic, so the
same manifests give the same hash). Every version is named `sha256-<first 12 hex digits>`,
the first one included: KFP 2.17's upload route names a new pipeline's first version after
the pipeline and takes no version name (`backend/src/apiserver/server/
pipeline_upload_server.go`, `uploadPipeline`), so a new pipeline is created on its own
(`POST /apis/v2beta1/pipelines`, `pipeline_server.go` `CreatePipeline`: no version) and the
package uploaded as its first version. Every version carries `[unip-kfp sha256:<hex>]` at the
end of its description, after the guide to the inputs (`plan/description.py`), so an unchanged
package is recognised (by name or by that mark) and creates nothing new, and a run of that package
can reference the version instead of embedding it (`select_version`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import UsageError
from ..launch.prepared import Prepared, Target, prepare
from . import links
from .connection import Connection, connect, note_ignored_namespace
from .server_errors import api_status

if TYPE_CHECKING:
    import kfp

DESCRIPTION_LIMIT = 3000
"""Characters of a version's description (see `version_description`)."""
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Upload(NamedTuple):
    """What `upload` did: the pipeline and version ids, and whether the version is new."""

    pipeline_id: str
    version_id: str
    created: bool


def version_name(sha256: str) -> str:
    return f"sha256-{sha256[:12]}"


def content_mark(sha256: str) -> str:
    return f"[unip-kfp sha256:{sha256}]"


def upload(
    target: Target,
    *,
    host: str | None = None,
    pipeline_name: str | None = None,
    namespace: str | None = None,
    client: kfp.Client | None = None,
    token: str | None = None,
    token_file: str | None = None,
    ca_cert: str | None = None,
    pipeline: str | None = None,
    description: str | None = None,
    cache: bool = False,
    parallel: bool = False,
    echo: Callable[[str], None] | None = None,
) -> Upload:
    """Upload `target` (a `Project` or a package file): a new pipeline, a new version, or nothing.

    Returns `(pipeline_id, version_id, created)`; `created` is False when this exact package
    was uploaded before (its version is returned).
    """
    say = echo or print
    if cache:  # cache_keys.py: keys are computed only for runs unip-kfp submits itself
        raise UsageError("an uploaded version runs without caching: nothing computes content "
                         "keys for runs started from the UI or a schedule, and KFP's own key "
                         "sees input URIs, not what they hold; use `unip-kfp run --cache`")
    prepared = prepare(target, pipeline=pipeline, cache=cache, parallel=parallel)
    connection = connect(client=client, host=host, namespace=namespace, token=token,
                         token_file=token_file, ca_cert=ca_cert,
                         config=prepared.settings.config.kubeflow)
    note_ignored_namespace(connection, say)
    done = upload_prepared(connection, prepared, name=pipeline_name, description=description,
                           say=say)
    if (hint := links.hint(connection)) is not None:
        say(hint)
    return done


def upload_prepared(connection: Connection, prepared: Prepared, *, name: str | None = None,
                    description: str | None = None,
                    say: Callable[[str], None] = print) -> Upload:
    """Upload a prepared package as a content-hash version of pipeline `name` (see above)."""
    name = name or prepared.plan.name
    guide = description or prepared.plan.description or f"UNIP pipeline {name}"
    text = version_description(guide, prepared.sha256)
    with tempfile.TemporaryDirectory(prefix="unip-kfp-") as folder:
        path = os.path.join(folder, f"{prepared.plan.name}.yaml")
        with open(path, "wb") as handle:
            handle.write(prepared.content)
        return _upload_file(connection, path, name, prepared.sha256, text, say)


def version_description(guide: str, sha256: str) -> str:
    """The guide, then the content mark; at most DESCRIPTION_LIMIT characters.

    The upload route takes the description as a query parameter (`kfp.Client`
    `upload_pipeline_version`): a long guide is cut at a line, so that proxies in front of
    the API (an nginx ingress allows 8 KiB per request line) accept the URL.
    """
    mark, lines = content_mark(sha256), guide.split("\n")
    while len(lines) > 1 and len("\n".join(lines)) + len(mark) + 4 > DESCRIPTION_LIMIT:
        lines.pop()
    text = "\n".join(lines)
    if text != guide:
        text += "\n\n(cut: the package's inputs list them all)"
    return f"{text[:DESCRIPTION_LIMIT - len(mark) - 2]}\n\n{mark}"


def _upload_file(connection: Connection, path: str, name: str, sha: str, text: str,
                 say: Callable[[str], None]) -> Upload:
    """Upload the package at `path` as pipeline `name`, unless a version already holds it.

    `text` is the version's description (with the content mark); the pipeline, when this
    creates it, gets the same text without the mark.
    """
    pipeline_id = find_pipeline(connection, name)
    if pipeline_id is None:
        guide = text.replace(content_mark(sha), "").strip()
        pipeline_id = _create_pipeline(connection, name, guide)
        if pipeline_id is not None:
            say(f"pipeline '{name}' created: {connection.pipeline_url(pipeline_id)}")
        else:
            pipeline_id = find_pipeline(connection, name)  # created meanwhile by someone else
        if pipeline_id is None:
            raise UsageError(f"pipeline '{name}' exists but cannot be listed here")
    existing = _same_package(connection, pipeline_id, sha)
    if existing is None:
        created = _create_version(connection, path, pipeline_id, version_name(sha), text)
        if created is not None:
            say(f"pipeline '{name}': new version {version_name(sha)}: "
                f"{connection.pipeline_url(pipeline_id, created.pipeline_version_id)}")
            return Upload(pipeline_id, created.pipeline_version_id, True)
        existing = _same_package(connection, pipeline_id, sha)
        if existing is None:
            raise UsageError(
                f"pipeline '{name}' already has a version named {version_name(sha)} "
                "with other content; delete it or upload under another --pipeline-name"
            )
    say(f"pipeline '{name}': unchanged, version {existing.display_name or existing.name} "
        "already holds this package")
    return Upload(pipeline_id, existing.pipeline_version_id, False)


def select_version(connection: Connection, prepared: Prepared, *, from_version: str | None,
                   upload: bool, say: Callable[[str], None]) -> tuple[Any, bool]:
    """The uploaded version a run references, or None to embed the package.

    `from_version` names one; `upload` uploads the package first (a new version only when
    its content is new); otherwise the version of the manifests' pipeline that holds exactly
    this package is used when there is one, so that the run lists that version in the UI
    rather than "[View pipeline]" (a run with the package embedded has no version). The flag
    says whether the version holds this very package.
    """
    name = prepared.plan.name
    if from_version:
        if upload:
            raise UsageError("--upload and --from-version: choose one")
        return find_version(connection, from_version, default_pipeline=name), False
    if upload:
        done = upload_prepared(connection, prepared, say=say)
        with connection.call(f"reading pipeline version {done.version_id}", UsageError):
            return connection.client.get_pipeline_version(done.pipeline_id, done.version_id), True
    try:
        pipeline_id = find_pipeline(connection, name)
    except UsageError:  # several pipelines of that name: embed, as without an upload
        return None, False
    version = _same_package(connection, pipeline_id, prepared.sha256) if pipeline_id else None
    if version is not None:
        say(f"pipeline '{name}': version {version.display_name or version.name} holds this "
            "package; the run references it")
    return version, version is not None


def unwrap_spec(spec: Any) -> dict[str, Any]:
    """The pipeline spec out of an API answer (`{pipeline_spec, platform_spec}` or bare)."""
    if isinstance(spec, dict) and "root" not in spec:
        inner = spec.get("pipeline_spec")
        if isinstance(inner, dict):
            return dict(inner)
    return dict(spec) if isinstance(spec, dict) else {}


def unwrap_platform(spec: Any) -> dict[str, Any] | None:
    """The platform spec out of an API answer's `{pipeline_spec, platform_spec}`, if any."""
    platform = spec.get("platform_spec") if isinstance(spec, dict) else None
    return dict(platform) if isinstance(platform, dict) else None


def find_pipeline(connection: Connection, name: str) -> str | None:
    """The id of the pipeline named `name` (in the connection's namespace), or None."""
    query = json.dumps(
        {"predicates": [{"operation": 1, "key": "display_name", "stringValue": name}]}
    )
    with connection.call(f"looking up pipeline '{name}'"):
        answer = connection.client.list_pipelines(
            filter=query, page_size=10, namespace=connection.namespace
        )
    found = [p for p in (answer.pipelines or []) if name in (p.display_name, p.name)]
    if len(found) > 1:
        raise UsageError(f"several pipelines are named '{name}'; pass its id instead")
    return found[0].pipeline_id if found else None


def find_version(connection: Connection, ref: str, *, default_pipeline: str) -> Any:
    """An uploaded version from `[PIPELINE:]VERSION` (each an id or a name)."""
    pipeline_ref, sep, version_ref = ref.rpartition(":")
    pipeline_ref = pipeline_ref if sep else default_pipeline
    if not version_ref:
        raise UsageError(f"--from-version {ref}: expected [PIPELINE:]VERSION")
    pipeline_id = _pipeline_id(connection, pipeline_ref)
    if _UUID.match(version_ref):
        from kfp_server_api.exceptions import ApiException

        with connection.call(f"reading pipeline version {version_ref}", UsageError):
            try:
                return connection.client.get_pipeline_version(pipeline_id, version_ref)
            except ApiException as exc:
                if api_status(exc) != 404:
                    raise
    known = []
    for version in _versions(connection, pipeline_id):
        if version_ref in (version.name, version.display_name):
            return version
        known.append(version.display_name or version.name)
    raise UsageError(
        f"--from-version {ref}: pipeline '{pipeline_ref}' has no version '{version_ref}' "
        f"(versions: {', '.join(known[:10]) or 'none'}; `unip-kfp upload` prints ids)"
    )


def _pipeline_id(connection: Connection, ref: str) -> str:
    if _UUID.match(ref):
        from kfp_server_api.exceptions import ApiException

        with connection.call(f"reading pipeline {ref}", UsageError):
            try:
                return str(connection.client.get_pipeline(ref).pipeline_id)
            except ApiException as exc:
                if api_status(exc) != 404:
                    raise
    found = find_pipeline(connection, ref)
    if found is None:
        raise UsageError(
            f"no pipeline '{ref}' on Kubeflow{_in(connection)}: upload it first "
            "(`unip-kfp upload`), or name it as PIPELINE:VERSION"
        )
    return found


def _in(connection: Connection) -> str:
    return f" in namespace '{connection.namespace}'" if connection.namespace else ""


def _versions(connection: Connection, pipeline_id: str) -> Iterator[Any]:
    """Every version of a pipeline, oldest first."""
    token = ""
    while True:
        with connection.call(f"listing versions of pipeline {pipeline_id}"):
            page = connection.client.list_pipeline_versions(
                pipeline_id, page_token=token, page_size=100, sort_by="created_at"
            )
        yield from page.pipeline_versions or []
        token = page.next_page_token or ""
        if not token:
            return


def _same_package(connection: Connection, pipeline_id: str, sha: str) -> Any:
    """A version that holds exactly this package: named by its hash or marked with it."""
    mark, name = content_mark(sha), version_name(sha)
    for version in _versions(connection, pipeline_id):
        if mark in (version.description or "") or name in (version.name, version.display_name):
            return version
    return None


def _create_pipeline(connection: Connection, name: str, text: str) -> str | None:
    """Create pipeline `name` without any version; None if the name got taken meanwhile."""
    import kfp_server_api
    from kfp_server_api.exceptions import ApiException

    body = kfp_server_api.V2beta1Pipeline(
        name=name, display_name=name, description=text, namespace=connection.namespace
    )
    with connection.call(f"creating pipeline '{name}'"):
        try:
            created = connection.client._pipelines_api.pipeline_service_create_pipeline(body)
        except ApiException as exc:
            if api_status(exc) != 409:
                raise
            return None
    return str(created.pipeline_id)


def _create_version(connection: Connection, path: str, pipeline_id: str, name: str,
                    text: str) -> Any:
    """Upload a new version; None if one of that name appeared meanwhile."""
    from kfp_server_api.exceptions import ApiException

    with connection.call(f"uploading version {name}"):
        try:
            return connection.client.upload_pipeline_version(
                path, name, pipeline_id=pipeline_id, description=text
            )
        except ApiException as exc:
            if api_status(exc) != 409:
                raise
            return None
