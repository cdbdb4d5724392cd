"""`run --cache` on Kubeflow: a content key per stage, so a changed object never hits.

KFP 2.17's driver decides a cache hit by a fingerprint (backend/src/v2/driver/cache.go,
`getFingerPrint`; backend/src/v2/cacheutils/cache.go, `GenerateCacheKey`) over the
task's input parameter values, the *names* of its input artifacts, its output specs, the
image string, command and args, and PVC names. Not the bytes behind an artifact's URI (an
importer with `reimport=False` hands on the artifact already recorded for that URI, so a
file replaced at the same path is a stale hit), and not the container's env. The task
spec's `cachingOptions.cacheKey` (`set_caching_options(..., cache_key=...)` in the SDK) is
compiled into the IR, but the 2.17 backend never reads it: `backend/src/v2` consults only
`GetCachingOptions().GetEnableCache()`. So the key is folded into what the fingerprint
does cover: an input parameter, `unip_cache_key`, of every stage's component, given to
the task as a constant. `cacheKey` is set to the same value for backends that honour it.

A stage's key is the sha256 over: its image (a digest where the manifest gives
`name@sha256:...`; a tag is warned about, as what is behind it can change), command, args,
env and resources; the values of its input parameters; for every input artifact, either
the ETag, version id and size of each object behind an importer's URI (read from S3 now),
or the producing stage's key. An object that cannot be read turns caching off for the
stages that read it and those after them, with a warning. Keys are computed only here, at
submission, for the package embedded in this run: an uploaded version or a schedule starts
runs nobody computes a key for, so they keep caching off.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from ..errors import UnipKfpError
from ..launch.prepared import Prepared
from ..s3 import S3, Location

__all__ = ["KEY_PARAMETER", "ObjectVersions", "keyed", "keyed_spec"]

KEY_PARAMETER = "unip_cache_key"
_KEY_DOC = ("unip-kfp's content key of this stage (image, command, env, input objects' "
            "ETags): a changed input never reuses a cached result")
Versions = Callable[[str], "str | None"]
_UNKNOWN = "\0unknown"


def _digest(material: Any) -> str:
    text = json.dumps(material, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class ObjectVersions:
    """What identifies the content behind a URI now: ETag, version id and size of the
    object, or of every object under it as a folder; None (with a warning) if unreadable."""

    def __init__(self, storage: Callable[[], S3], say: Callable[[str], None]):
        self.storage = storage
        self.say = say
        self.known: dict[str, str | None] = {}

    def __call__(self, uri: str) -> str | None:
        if uri not in self.known:
            self.known[uri] = self._read(uri)
        return self.known[uri]

    def _read(self, uri: str) -> str | None:
        try:
            location = Location.parse(uri)
            store = self.storage()
            with store.errors(f"reading the version of {uri} for --cache"):
                objects = _objects(store.client, location)
        except UnipKfpError as exc:
            self._off(uri, str(exc).splitlines()[0])
            return None
        if not objects:
            self._off(uri, "no object there")
            return None
        return _digest(objects)

    def _off(self, uri: str, reason: str) -> None:
        self.say(f"unip-kfp: warning: --cache: cannot read {uri} ({reason}); caching is off "
                 "for the stages that read it and those after them")


def _objects(client: Any, location: Location) -> list[list[Any]]:
    """[name, etag, version id, size] of the object, else of each object under the prefix."""
    from minio.error import S3Error

    if location.key:
        try:
            info = client.stat_object(location.bucket, location.key)
            return [["", info.etag, info.version_id, info.size]]
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                raise
    prefix = location.prefix
    found = [[o.object_name[len(prefix):], o.etag, o.version_id, o.size]
             for o in client.list_objects(location.bucket, prefix, recursive=True)
             if not o.is_dir]
    return sorted(found)


def keyed(prepared: Prepared, params: Mapping[str, Any], versions: Versions,
          say: Callable[[str], None]) -> Prepared:
    """`prepared` with its package's stages keyed (see the module doc)."""
    spec = keyed_spec(prepared.spec, params, versions, prepared.plan.sentinel_uri, say)
    documents = [d for d in yaml.safe_load_all(prepared.content) if d is not None]
    content = yaml.safe_dump_all([spec, *documents[1:]], sort_keys=False, width=10**9)
    return dataclasses.replace(prepared, spec=spec, content=content.encode("utf-8"))


def keyed_spec(spec: Mapping[str, Any], params: Mapping[str, Any], versions: Versions,
               sentinel: str, say: Callable[[str], None]) -> dict[str, Any]:
    """A copy of the pipeline spec whose container tasks carry their content keys."""
    result = copy.deepcopy(dict(spec))
    tracer = _Tracer(result, versions, sentinel)
    defaults = {name: d.get("defaultValue") for name, d in
                result["root"].get("inputDefinitions", {}).get("parameters", {}).items()}
    tracer.dag(result["root"], {**defaults, **params}, {})
    for image in sorted(tracer.images):
        if "@sha256:" not in image:
            say(f"unip-kfp: warning: --cache: image {image} is a tag; the key sees the tag, "
                "not what it points to, so a tag pushed again can reuse results of the old "
                "image (give name@sha256:... in the manifest)")
    for dag, name, key in tracer.keys:
        _apply(result, dag["tasks"][name], key)
    return result


def _apply(spec: dict[str, Any], task: dict[str, Any], key: str | None) -> None:
    if key is None:
        task["cachingOptions"] = {}
        return
    component = spec["components"][task["componentRef"]["name"]]
    definitions = component.setdefault("inputDefinitions", {}).setdefault("parameters", {})
    definitions[KEY_PARAMETER] = {"parameterType": "STRING", "description": _KEY_DOC}
    inputs = task.setdefault("inputs", {}).setdefault("parameters", {})
    inputs[KEY_PARAMETER] = {"runtimeValue": {"constant": key}}
    task["cachingOptions"] = {"enableCache": True, "cacheKey": key}


class _Tracer:
    """Follows the DAGs from the run's parameters to each container task's key."""

    def __init__(self, spec: dict[str, Any], versions: Versions, sentinel: str):
        self.components = spec.get("components", {})
        self.executors = spec.get("deploymentSpec", {}).get("executors", {})
        self.versions = versions
        self.sentinel = sentinel
        self.keys: list[tuple[dict[str, Any], str, str | None]] = []
        self.images: set[str] = set()

    def dag(self, component: dict[str, Any], params: Mapping[str, Any],
            arts: Mapping[str, str | None]) -> dict[str, str | None]:
        """The DAG's output artifacts, each as the material it stands for (None: unknown)."""
        dag = component["dag"]
        tasks = dag.get("tasks", {})
        done: dict[str, dict[str, str | None]] = {}

        def outputs(name: str) -> dict[str, str | None]:
            if name not in done:
                done[name] = self._task(dag, name, tasks[name], params, arts, outputs)
            return done[name]

        for name in sorted(tasks):
            outputs(name)
        result: dict[str, str | None] = {}
        for output, selectors in dag.get("outputs", {}).get("artifacts", {}).items():
            found = [outputs(s["producerSubtask"]).get(s["outputArtifactKey"])
                     for s in selectors.get("artifactSelectors", [])]
            result[output] = None if None in found else _digest(["one of", found])
        return result

    def _task(self, dag: dict[str, Any], name: str, task: dict[str, Any], params: Mapping[str, Any],
              arts: Mapping[str, str | None],
              outputs: Callable[[str], dict[str, str | None]]) -> dict[str, str | None]:
        component = self.components[task["componentRef"]["name"]]
        values = _parameters(task, component, params)
        inputs: dict[str, str | None] = {}
        for key, spec in task.get("inputs", {}).get("artifacts", {}).items():
            if "taskOutputArtifact" in spec:
                producer = spec["taskOutputArtifact"]
                inputs[key] = outputs(producer["producerTask"]).get(producer["outputArtifactKey"])
            else:
                inputs[key] = arts.get(spec.get("componentInputArtifact", ""))
        if "dag" in component:
            return self.dag(component, values, inputs)
        executor = self.executors[component["executorLabel"]]
        names = list(component.get("outputDefinitions", {}).get("artifacts", {}))
        if "importer" in executor:
            uri = executor["importer"]["artifactUri"]
            given = values.get(uri["runtimeParameter"]) if "runtimeParameter" in uri else (
                uri.get("constant"))
            material = self._object(given)
            return dict.fromkeys(names, material)
        container = executor["container"]
        self.images.add(str(container.get("image", "")))
        known = None not in inputs.values() and _UNKNOWN not in values.values()
        key = _digest({"container": container, "values": values, "inputs": inputs}) if (
            known) else None
        self.keys.append((dag, name, key))
        return {o: None if key is None else _digest([key, o]) for o in names}

    def _object(self, uri: Any) -> str | None:
        if not isinstance(uri, str) or not uri:
            return "no input"
        if uri == self.sentinel:
            return "absent"
        version = self.versions(uri)
        return None if version is None else _digest(["object", version])


def _parameters(task: dict[str, Any], component: dict[str, Any],
                params: Mapping[str, Any]) -> dict[str, Any]:
    """The task's input parameter values: from the enclosing DAG, constants, or defaults."""
    values: dict[str, Any] = {}
    for key, spec in task.get("inputs", {}).get("parameters", {}).items():
        if "componentInputParameter" in spec:
            values[key] = params.get(spec["componentInputParameter"])
        elif "runtimeValue" in spec:
            values[key] = spec["runtimeValue"].get("constant")
        else:
            values[key] = _UNKNOWN  # another task's output parameter: not known here
    for key, definition in component.get("inputDefinitions", {}).get("parameters", {}).items():
        if key not in values and "defaultValue" in definition:
            values[key] = definition["defaultValue"]
    return values
