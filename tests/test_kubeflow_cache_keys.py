"""`run --cache` on Kubeflow: each stage carries a content key that the 2.17 fingerprint
covers (an input parameter), and the key changes with the objects' ETags."""

from __future__ import annotations

import copy
import functools
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.kubeflow_env import DATA_BUCKET, HookedKfpServer, cli
from support.s3_server import S3Endpoint

import unip_kfp
from unip_kfp.kubeflow.cache_keys import KEY_PARAMETER, keyed_spec
from unip_kfp.launch.prepared import Prepared, prepare

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

_TRAIN = f"s3://{DATA_BUCKET}/cache/train.csv"
_TEST = f"s3://{DATA_BUCKET}/cache/test.csv"


def _put(env: S3Endpoint, uri: str, data: bytes) -> None:
    key = uri.split("/", 3)[3]
    env.minio().put_object(DATA_BUCKET, key, io.BytesIO(data), len(data))


def _keys(kfp: HookedKfpServer) -> dict[str, str | None]:
    """Each stage's key as the run's IR carries it; None where caching is off."""
    spec = kfp.last_run().body["pipeline_spec"]
    found: dict[str, str | None] = {}
    for name in ("stage1", "stage2"):
        task = spec["root"]["dag"]["tasks"][name]
        key = task.get("inputs", {}).get("parameters", {}).get(KEY_PARAMETER, {}).get(
            "runtimeValue", {})
        options = task.get("cachingOptions", {})
        if key:
            assert options == {"enableCache": True, "cacheKey": key["constant"]}
            component = spec["components"][task["componentRef"]["name"]]
            assert KEY_PARAMETER in component["inputDefinitions"]["parameters"]
        else:
            assert not options.get("enableCache")
        found[name] = key.get("constant")
    return found


def _run(module: Path, kfp: HookedKfpServer, *extra: str) -> Any:
    return cli("run", module / "manifests", "--host", kfp.url, "--cache", "--no-wait",
               "-i", f"xy_train={_TRAIN}", "-i", f"xy_test={_TEST}", *extra)


def test_the_key_reaches_the_ir_and_changes_with_an_etag(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    _put(env, _TRAIN, b"a,target\n1,0\n")
    _put(env, _TEST, b"a,target\n2,1\n")
    first = _run(module, kfp)
    assert first.exit_code == 0, first.output
    assert "is a tag" in first.stderr  # the example's image is a tag, not a digest
    keys = _keys(kfp)
    assert _run(module, kfp).exit_code == 0 and _keys(kfp) == keys  # nothing changed
    _put(env, _TEST, b"a,target\n3,1\n")  # the same path, new content
    assert _run(module, kfp).exit_code == 0
    changed = _keys(kfp)
    assert changed["stage1"] == keys["stage1"] and changed["stage2"] != keys["stage2"]
    _put(env, _TRAIN, b"a,target\n1,1\n")  # stage1 reads it; stage2 reads stage1's model
    assert _run(module, kfp).exit_code == 0
    again = _keys(kfp)
    assert again["stage1"] != keys["stage1"] and again["stage2"] not in (keys["stage2"],
                                                                           changed["stage2"])
    assert "pipeline_version_reference" not in (kfp.last_run().body or {})  # embedded


def test_an_unreadable_object_turns_caching_off_downstream(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    _put(env, _TEST, b"a,target\n2,1\n")  # _TRAIN does not exist
    result = _run(module, kfp)
    assert result.exit_code == 0, result.output
    assert f"cannot read {_TRAIN}" in result.stderr
    assert _keys(kfp) == {"stage1": None, "stage2": None}


def test_cache_is_refused_for_uploaded_versions(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    result = _run(module, kfp, "--from-version", "my-pipeline:v1")
    assert result.exit_code == 2 and "uploaded versions run without caching" in result.stderr
    assert not kfp.runs


@functools.lru_cache(maxsize=1)
def _example() -> Prepared:
    return prepare(unip_kfp.load(str(Path(__file__).parent.parent / "examples" / "train-test"
                                     / "manifests")), cache=True)


_PARAMS = {"xy_train": _TRAIN, "xy_test": _TEST}


def _stage_keys(spec: dict[str, Any], etags: dict[str, str]) -> dict[str, str]:
    keyed = keyed_spec(spec, _PARAMS, etags.get, _example().plan.sentinel_uri, lambda _: None)
    tasks = keyed["root"]["dag"]["tasks"]
    return {n: tasks[n]["cachingOptions"]["cacheKey"] for n in ("stage1", "stage2")}


def _edit(spec: dict[str, Any], part: str, text: str) -> dict[str, Any]:
    edited = copy.deepcopy(spec)
    container = edited["deploymentSpec"]["executors"]["exec-stage1"]["container"]
    if part == "image":
        container["image"] += text
    elif part == "command":
        container["command"][-1] += " " + text
    elif part == "env":
        container["env"][0]["value"] += text
    elif part == "limits":
        container["resources"]["resourceMemoryLimit"] = text
    return edited


@settings(max_examples=10, deadline=None, derandomize=True)
@given(part=st.sampled_from(["image", "command", "env", "limits", "etag"]),
       text=st.text(alphabet="abc123", min_size=1, max_size=5))
def test_each_part_changes_the_key_and_only_downstream(part: str, text: str) -> None:
    etags = {_TRAIN: "e-train", _TEST: "e-test"}
    before = _stage_keys(_example().spec, etags)
    if part == "etag":
        after = _stage_keys(_example().spec, {**etags, _TRAIN: "e-train" + text})
    else:
        after = _stage_keys(_edit(_example().spec, part, text), etags)
    assert after["stage1"] != before["stage1"] and after["stage2"] != before["stage2"]
    other = copy.deepcopy(_example().spec)  # a change to stage2 alone leaves stage1's key
    other["deploymentSpec"]["executors"]["exec-stage2"]["container"]["image"] += text
    assert _stage_keys(other, etags)["stage1"] == before["stage1"]
    assert _stage_keys(_example().spec, {**etags, _TEST: text})["stage1"] == before["stage1"]


def test_uploaded_versions_keep_caching_off(kfp: HookedKfpServer, env: S3Endpoint,
                                            module: Path) -> None:
    from unip_kfp.kubeflow.versions import upload

    with pytest.raises(unip_kfp.UsageError, match="run --cache"):
        upload(unip_kfp.load(str(module / "manifests")), host=kfp.url, cache=True)
    assert cli("upload", module / "manifests", "--host", kfp.url, "--cache").exit_code == 2
    assert not kfp.pipelines
