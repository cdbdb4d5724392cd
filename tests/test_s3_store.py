"""The S3 test store refuses what a real store refuses, and leaves nothing behind.

Every refusal here passes through against moto's emulator (measured with moto 5.2.5: a wrong
secret, an unknown key, anonymous listing and writes into a missing bucket all succeed), which
is why the S3 tests run against SeaweedFS. With `-m s3_endpoint` they hold any other store
(a real MinIO, say) to the same rules.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from minio.error import S3Error
from support.s3_server import (
    ACCESS_ENV,
    ENDPOINT_ENV,
    SECRET_ENV,
    S3Endpoint,
    create_bucket,
    external_endpoint,
    grpc_sockets,
    start_seaweedfs,
    sweep_stale,
)


def _code(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except S3Error as exc:
        return str(exc.code)
    return "accepted"


def _listing(client: object, bucket: str) -> object:
    return lambda: list(client.list_objects(bucket, recursive=True))  # type: ignore[attr-defined]


def test_a_wrong_secret_is_refused(s3_server: S3Endpoint) -> None:
    create_bucket(s3_server, "bucket")
    client = s3_server.minio(secret_key="not-" + s3_server.secret_key)
    assert _code(_listing(client, "bucket")) == "SignatureDoesNotMatch"


def test_an_unknown_access_key_is_refused(s3_server: S3Endpoint) -> None:
    create_bucket(s3_server, "bucket")
    client = s3_server.minio(access_key="nobody-knows-me")
    assert _code(_listing(client, "bucket")) == "InvalidAccessKeyId"


def test_anonymous_callers_are_refused(s3_server: S3Endpoint) -> None:
    create_bucket(s3_server, "bucket")
    client = s3_server.anonymous()
    assert _code(_listing(client, "bucket")) == "AccessDenied"
    put = lambda: client.put_object("bucket", "k", io.BytesIO(b"x"), 1)  # noqa: E731
    assert _code(put) == "AccessDenied"


def test_a_write_into_a_missing_bucket_is_refused(s3_server: S3Endpoint) -> None:
    client = s3_server.minio()
    put = lambda: client.put_object("no-such-bucket", "k", io.BytesIO(b"x"), 1)  # noqa: E731
    assert _code(put) == "NoSuchBucket"
    assert not client.bucket_exists("no-such-bucket")  # not created on the way


def test_read_only_keys_read_but_do_not_write(s3_server: S3Endpoint) -> None:
    if s3_server.read_only is None:
        pytest.skip("this store has no read-only keys for the tests")
    admin = create_bucket(s3_server, "bucket")
    admin.put_object("bucket", "k", io.BytesIO(b"x"), 1)
    keys = s3_server.read_only
    reader = s3_server.minio(keys.access_key, keys.secret_key)
    assert [o.object_name for o in reader.list_objects("bucket")] == ["k"]
    assert _code(lambda: reader.put_object("bucket", "j", io.BytesIO(b"y"), 1)) == "AccessDenied"


def test_every_test_starts_with_no_buckets(s3_server: S3Endpoint) -> None:
    client = s3_server.minio()
    assert client.list_buckets() == []
    for bucket in ("mlpipeline", "unip-data"):
        create_bucket(client, bucket).put_object(bucket, "a/b", io.BytesIO(b"x"), 1)
    s3_server.reset()
    assert client.list_buckets() == []


def test_another_store_is_used_only_when_it_is_empty(
    s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, s3_server.url)
    monkeypatch.setenv(ACCESS_ENV, s3_server.access_key)
    monkeypatch.setenv(SECRET_ENV, s3_server.secret_key)
    assert external_endpoint() == S3Endpoint(
        s3_server.host, s3_server.port, s3_server.access_key, s3_server.secret_key
    )
    create_bucket(s3_server, "someones-data")
    with pytest.raises(RuntimeError, match=r"holds buckets \(someones-data\); the S3 tests"):
        external_endpoint()
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(RuntimeError, match=f"needs {ACCESS_ENV} and {SECRET_ENV}"):
        external_endpoint()
    monkeypatch.delenv(ENDPOINT_ENV)
    assert external_endpoint() is None


# --------------------------------------------------------------------------- the process


def _listeners(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets `pid` listens on (Linux: /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                ip = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                found.append((ip if len(address) == 8 else address, int(port, 16)))
    return sorted(found)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_store_listens_on_loopback_only_and_leaves_nothing_behind() -> None:
    store = start_seaweedfs()
    try:
        pid, base = store.process.pid, store.base
        secret, folder = store.endpoint.secret_key, store.folder
        http = list(range(base, base + 5))
        expected = [("127.0.0.1", p) for p in [*http, *(p + 10000 for p in http)]]
        deadline = time.monotonic() + 10  # the admin server starts last, after S3 answers
        while (found := _listeners(pid)) != expected and time.monotonic() < deadline:
            assert set(found) <= set(expected)
            time.sleep(0.1)
        assert found == expected
        for name in ("cmdline", "environ"):  # the keys are in the -s3.config file only
            assert secret.encode() not in Path(f"/proc/{pid}/{name}").read_bytes()
        assert (folder / "s3.json").stat().st_mode & 0o077 == 0
        assert (folder / "s3.sock").exists() and all(map(os.path.exists, grpc_sockets(base)))
    finally:
        store.stop()
    assert store.process.returncode is not None
    assert not folder.exists() and not any(map(os.path.lexists, grpc_sockets(base)))


def test_what_a_killed_test_process_leaves_is_swept_by_the_next_start() -> None:
    store = start_seaweedfs()
    try:
        gone = subprocess.Popen([sys.executable, "-c", ""])  # its pid is free once reaped
        gone.wait()
        owner = store.folder / "owner.json"
        owner.write_text(json.dumps({**json.loads(owner.read_text()), "owner": gone.pid}))
        assert store.folder in sweep_stale()  # the live stores of test processes are kept
        assert store.process.wait(timeout=10) == -signal.SIGKILL  # an orphan is killed
        assert not store.folder.exists()
        assert not any(map(os.path.lexists, grpc_sockets(store.base)))
    finally:
        store.stop()
