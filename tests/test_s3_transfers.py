"""What unip-kfp moves through S3, against a real store (SeaweedFS): multipart uploads, names
that need escaping, and one name used as both a file and a folder.

S3 keys are flat, so `k/f` and `k/f/g` can both exist. Stores disagree on what that shows:
SeaweedFS and AWS keep both, MinIO hides `k/f/g` while `k/f` exists, versitygw refuses the
second write. unip-kfp therefore never reads such a name (either meaning could be wrong) and
never writes outputs below an object (it would be invisible on MinIO). Its own uploads cannot
produce the pair: they copy a local tree (where a name is a file or a folder, not both) into
a run folder named afresh for each submission.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from support.kfp_api_server import RunRecord
from support.kubeflow_env import BOX, DATA_BUCKET, USER, HookedKfpServer, cli, put_output
from support.local_runs import copy_case, isolate
from support.s3_server import S3Endpoint, create_bucket

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

FILE_GROUPS = f"unip/data-box/users/{USER}/file_groups"
ODD_NAMES = ["a b/c d.txt", "ü/ñ – €.txt", "plus+and&.txt", "percent%20.txt", "q?x=1.txt"]


def _put(client: object, bucket: str, key: str, data: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(data), len(data))  # type: ignore[attr-defined]


def _read(store: S3Endpoint, bucket: str, key: str) -> bytes:
    response = store.minio().get_object(bucket, key)
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def _keys(store: S3Endpoint, bucket: str, prefix: str) -> list[str]:
    return sorted(o.object_name for o in store.minio().list_objects(bucket, prefix, True))


def _both_kept(store: S3Endpoint, bucket: str, key: str) -> None:
    """`key` and `key/x` are objects (skips on a store that cannot hold both)."""
    client = store.minio()
    _put(client, bucket, key, b"a file")
    try:
        _put(client, bucket, f"{key}/x", b"under it")
    except Exception as exc:  # versitygw refuses the second name
        pytest.skip(f"this store refuses {key}/x next to {key}: {exc}")
    if _keys(store, bucket, key) != [key, f"{key}/x"]:
        pytest.skip(f"this store hides one of {key} and {key}/x")


# ----------------------------------------------------------------------- uploads (Kubeflow)


def test_a_large_input_is_uploaded_in_parts(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    big = module / "data" / "big.bin"
    data = os.urandom(1 << 20) * 6  # 6 MiB: minio's client sends parts of 5 MiB or more
    big.write_bytes(data)
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "--no-wait", "-i", f"xy_train={big}", "-i", "xy_test=s3://b/v.csv")
    assert result.exit_code == 0, result.output
    uri = kfp.last_run().body["runtime_config"]["parameters"]["xy_train"]
    key = uri.removeprefix(f"s3://{DATA_BUCKET}/")
    stat = env.minio().stat_object(DATA_BUCKET, key)
    assert stat.size == len(data) and stat.etag.endswith("-2")  # two parts
    assert hashlib.sha256(_read(env, DATA_BUCKET, key)).digest() == hashlib.sha256(data).digest()


def test_names_that_need_escaping_go_up_and_come_back(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = module / "data" / "odd"
    for name in ODD_NAMES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name, encoding="utf-8")
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "--no-wait", "-i", f"xy_train={folder}", "-i", "xy_test=s3://b/v.csv")
    assert result.exit_code == 0, result.output
    uri = kfp.last_run().body["runtime_config"]["parameters"]["xy_train"]
    prefix = uri.removeprefix(f"s3://{DATA_BUCKET}/") + "/"
    assert _keys(env, DATA_BUCKET, prefix) == sorted(prefix + n for n in ODD_NAMES)

    # ... and a local run reads that folder back from S3 (the `chain` case lists it)
    isolate(tmp_path, monkeypatch)
    for name, value in env.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", env.url)
    _put(env.minio(), DATA_BUCKET, "in/table.csv", b"h\n1\n")
    chain = copy_case("chain", tmp_path, folder="chain")
    out = tmp_path / "out"
    local = cli("run", chain / "manifests", "-i", f"table=s3://{DATA_BUCKET}/in/table.csv",
                "-i", f"folder={uri}", "-o", f"result={out}")
    assert local.exit_code == 0, local.output
    listed = (out / "listing").read_text(encoding="utf-8").splitlines()
    assert listed == sorted(f"./{n}" for n in ODD_NAMES)


# ------------------------------------------------------------- one name, a file and a folder


def test_a_local_run_does_not_read_a_name_that_is_a_file_and_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    isolate(tmp_path, monkeypatch)
    create_bucket(s3_server, "data")
    _both_kept(s3_server, "data", "in/table.csv")
    _put(s3_server.minio(), "data", "in/folder/one.txt", b"x")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", s3_server.url)
    module = copy_case("chain", tmp_path)
    result = cli("run", module / "manifests", "-i", "table=s3://data/in/table.csv",
                 "-i", "folder=s3://data/in/folder")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "unip-kfp: s3://data/in/table.csv is both an object and a folder (objects under "
        "s3://data/in/table.csv/); S3 stores differ on which one they show (MinIO hides the "
        "folder), so unip-kfp reads neither: rename one of them (reading "
        "s3://data/in/table.csv for import-table)\n"
    )


def test_a_local_run_does_not_write_outputs_below_an_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    isolate(tmp_path, monkeypatch)
    _put(create_bucket(s3_server, "results"), "results", "runs", b"a file named runs")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", s3_server.url)
    module = copy_case("chain", tmp_path)
    (module / "in" / "folder").mkdir(parents=True)
    (module / "in" / "table.csv").write_text("h\n1\n")
    (module / "in" / "folder" / "one.txt").write_text("x")
    result = cli("run", module / "manifests", "-i", f"table={module / 'in' / 'table.csv'}",
                 "-i", f"folder={module / 'in' / 'folder'}", "-o", "result=s3://results/runs/1")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "unip-kfp: s3://results/runs/1/ cannot hold outputs: s3://results/runs is an object (a "
        "file), and a name that is both a file and a folder is hidden or refused by some S3 "
        "stores (MinIO hides the folder); choose another destination\n"
    )
    assert not (module / ".unip-kfp" / "runs").exists()  # refused before the run
    assert _keys(s3_server, "results", "") == ["runs"]


def _writes_outputs(kfp: HookedKfpServer, env: S3Endpoint) -> None:
    def hook(run: RunRecord) -> None:
        put_output(env, run, {"metrics.csv": b"m", "plots/roc.txt": b"roc"})

    kfp.on_run.append(hook)


def test_outputs_are_not_copied_below_an_object(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    _writes_outputs(kfp, env)
    _put(env.minio(), DATA_BUCKET, f"{FILE_GROUPS}/results", b"a file named results")
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v",
                 "-o", "testing_results=results/run-1")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"fetching its outputs failed: {BOX}/users/{USER}/file_groups/results/run-1/ cannot "
        f"hold outputs: {BOX}/users/{USER}/file_groups/results is an object (a file), and a "
        "name that is both a file and a folder is hidden or refused by some S3 stores "
        "(MinIO hides the folder); choose another destination\n"
    )
    assert _keys(env, DATA_BUCKET, f"{FILE_GROUPS}/results") == [f"{FILE_GROUPS}/results"]


def test_outputs_are_not_copied_onto_an_object(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    _writes_outputs(kfp, env)
    _put(env.minio(), DATA_BUCKET, f"{FILE_GROUPS}/results", b"a file named results")
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v",
                 "-o", "testing_results=results", "--force")
    assert result.exit_code == 2
    assert f"file_groups/results/ cannot hold outputs: {BOX}/users/{USER}/file_groups/" \
        "results is an object (a file)" in result.stderr
    assert _keys(env, DATA_BUCKET, f"{FILE_GROUPS}/results") == [f"{FILE_GROUPS}/results"]


# --------------------------------------------------------------- outputs with read-only keys


def test_read_only_keys_download_outputs_but_cannot_copy_them(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env.read_only is None:
        pytest.skip("this store has no read-only keys for the tests")
    _writes_outputs(kfp, env)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", env.read_only.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", env.read_only.secret_key)
    inputs = ("-i", "xy_train=s3://b/t", "-i", "xy_test=s3://b/v")
    local = cli("run", module / "manifests", "--host", kfp.url, *inputs,
                "-o", f"testing_results={tmp_path / 'r'}")
    assert local.exit_code == 0, local.output
    assert (tmp_path / "r" / "plots" / "roc.txt").read_bytes() == b"roc"

    copied = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 *inputs, "-o", "testing_results=results/run-1")
    assert copied.exit_code == 5
    assert f"refused copying s3://{DATA_BUCKET}/" not in copied.stderr  # the source is mlpipeline
    assert f"/testing_results/metrics.csv to {BOX}/users/{USER}/file_groups/results/run-1/" \
        "metrics.csv: the keys may not do this (AccessDenied)" in copied.stderr
    assert env.read_only.secret_key not in copied.output
