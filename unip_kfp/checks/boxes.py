"""Where each connected box is, and which boxes each stage reads (SPEC §4).

The plan needs this to build URIs, and the rules need it to know which box Secrets a stage's
pod must hold: one answer, kept here, so that validation and compilation agree.
A box is `--box NAME=URI`, else its `unip-kfp.yaml` entry, else
`minio://mlpipeline/unip/<namespace>/<s3BoxName>`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..manifests import models
from ..manifests.project_config import BoxConfig, Settings
from .roles import Role, is_value, roles, usages

DEFAULT_BOX_ROOT = "minio://mlpipeline/unip"
"""Where a box with no URI lives: `<root>/<namespace>/<s3BoxName>` (the platform's layout)."""


@dataclass(frozen=True)
class Box:
    """A connected box with its base URI and the Secret configured for it.

    Resolved once here, for the rules; the plan carries the same objects (`plan.model.Box`).
    """

    name: str
    s3_box_name: str
    uri: str
    container_path: str | None
    default: bool
    secret: str | None = None
    secret_keys: tuple[tuple[str, str], ...] = ()

    def holds(self, uri: str) -> bool:
        return uri == self.uri or uri.startswith(self.uri + "/")


@dataclass(frozen=True)
class Place:
    """Where a URI lives for KFP's launcher: scheme, bucket and key prefix ending in '/'."""

    scheme: str
    bucket: str
    prefix: str

    @classmethod
    def of(cls, uri: str) -> Place | None:
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme not in ("s3", "minio", "gs") or not parts.netloc:
            return None
        key = parts.path.strip("/")
        return cls(parts.scheme, parts.netloc, f"{key}/" if key else "")

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"


def box_places(
    pipeline: models.ExperimentPipeline, settings: Settings, overrides: Mapping[str, str]
) -> tuple[Box, ...]:
    """The pipeline's connected boxes, each with its URI and Secret."""
    return tuple(
        _place(box, pipeline.metadata.namespace, settings, overrides)
        for box in pipeline.spec.connected_boxes
    )


def _place(
    box: models.ConnectedBox,
    namespace: str | None,
    settings: Settings,
    overrides: Mapping[str, str],
) -> Box:
    s3_name = box.mount_s3_box.s3_box_name
    known = settings.config.boxes
    configured: BoxConfig | None = known.get(box.name) or known.get(s3_name)
    uri = (
        overrides.get(box.name)
        or overrides.get(s3_name)
        or (configured.uri if configured else None)
        or f"{DEFAULT_BOX_ROOT}/{namespace}/{s3_name}"
    )
    secret = configured.secret if configured else None
    keys = tuple(sorted(configured.secret_keys.items())) if configured and secret else ()
    return Box(box.name, s3_name, uri.rstrip("/"), box.path, box.default, secret, keys)


def mount_uri(mount: models.MountFrom, boxes: Sequence[Box]) -> str | None:
    """The URI a `mountFrom` names; None when its box is not there (a rule says so)."""
    name = mount.box.name
    box = next((b for b in boxes if (b.name == name if name else b.default)), None)
    if box is None:
        return None
    path = mount.box.box_path.strip("/")
    return f"{box.uri}/{path}" if path else box.uri


def var_mount_uris(spec: models.PipelineSpec, boxes: Sequence[Box]) -> dict[str, str | None]:
    """Each variable's own mount: its declaration's, else the first stage entry's.

    Never fails on manifests that break other rules (a var declared twice, a missing box).
    """
    declared = {v.name: v for v in spec.vars}
    found: dict[str, str | None] = {}
    for name, use in usages(spec).items():
        decl = declared.get(name)
        mount = decl.mount_from if decl else None
        if mount is None and use.mounted:
            entries = (r for s in spec.stages for r in s.inputs if r.name == name)
            mount = next((r.mount_from for r in entries if r.mount_from), None)
        found[name] = mount_uri(mount, boxes) if mount is not None else None
    return found


@dataclass(frozen=True)
class StageReads:
    """What a stage's pod downloads: mounted URIs, file-parameter defaults, caller's files."""

    uris: tuple[str, ...]
    file_params: bool  # it reads a caller's file (found under the default box)


def stage_reads(
    spec: models.PipelineSpec, api: models.ApiSpec | None, boxes: Sequence[Box]
) -> list[StageReads]:
    """Per stage, in order, the box data its inputs come from (as the plan binds them)."""
    role_of = roles(spec, api)
    api_vars = {v.name: v for v in (api.inputs + api.outputs)} if api else {}
    var_uris = var_mount_uris(spec, boxes)
    reads = []
    for stage in spec.stages:
        uris: list[str] = []
        file_params = False
        for ref in stage.inputs:
            if role_of.get(ref.name) is Role.INPUT:
                if not is_value(api_vars.get(ref.name)):
                    file_params = True
                    uris.append(var_uris.get(ref.name) or "")  # its default, if mounted
            elif ref.mount_from is not None:
                uris.append(mount_uri(ref.mount_from, boxes) or "")
            elif var_uris.get(ref.name):
                uris.append(var_uris[ref.name] or "")
        reads.append(StageReads(tuple(uris), file_params))
    return reads


def boxes_read(boxes: Sequence[Box], reads: Sequence[StageReads]) -> list[Box]:
    """The boxes holding what `reads` download; a caller's file comes from the default box."""
    uris = [u for r in reads for u in r.uris]
    found = [b for b in boxes if any(b.holds(u) for u in uris)]
    default = next((b for b in boxes if b.default), None)
    if any(r.file_params for r in reads) and default is not None and default not in found:
        found.append(default)
    return found
