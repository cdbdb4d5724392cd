"""An S3 store that refuses us, or is not there: one exact message per cause, and exit 5.

Both ways unip-kfp reads and writes S3 from this machine are covered: a local run reading an
`s3://` input, and a Kubeflow run uploading a local input to its box. The store is SeaweedFS
(`s3_server`), which checks keys as MinIO does. Against moto's emulator (`-m s3_endpoint`)
the wrong-secret and unknown-key cases fail: moto accepts any secret and any key.

Why the messages differ from what the client first sees: a refused HEAD request (minio's
`bucket_exists`, `stat_object`) has no body, so every refusal arrives as `AccessDenied`;
`unip_kfp.s3` then asks the store once more with a GET, whose answer names the cause.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from support.kubeflow_env import BOX, DATA_BUCKET, HookedKfpServer, cli, free_port
from support.local_runs import copy_case, isolate
from support.s3_server import S3Endpoint, create_bucket

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")

SECRET = (
    "the secret key does not match the access key (SignatureDoesNotMatch)\n"
    "    hint: set AWS_SECRET_ACCESS_KEY (or MINIO_SECRET_KEY) to the secret of "
    "AWS_ACCESS_KEY_ID on this store\n"
)
UNKNOWN_KEY = (
    "the store does not know the access key (InvalidAccessKeyId)\n"
    "    hint: AWS_ACCESS_KEY_ID (or MINIO_ACCESS_KEY) is not a key of this store; "
    "is the S3 endpoint the right one?\n"
)
UNREACHABLE_HINT = (
    "    hint: check --s3-endpoint / UNIP_KFP_S3_ENDPOINT / s3.endpoint (a port-forward "
    "running?)\n"
)


def _keys(monkeypatch: pytest.MonkeyPatch, store: S3Endpoint, cause: str) -> None:
    """The caller's S3 settings, spoiled as `cause` says."""
    for name, value in store.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", store.url)
    if cause == "wrong secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-" + store.secret_key)
    elif cause == "unknown key":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody-knows-me")


def _no_secret_shown(store: S3Endpoint, *texts: str) -> None:
    for text in texts:
        assert store.secret_key not in text and "Traceback" not in text


# --------------------------------------------------------------------- local run, s3:// inputs


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint) -> Path:
    """The `chain` case and its inputs in bucket `data`."""
    isolate(tmp_path, monkeypatch)
    client = create_bucket(s3_server, "data")
    for key, data in {"in/table.csv": b"h\n1\n", "in/folder/one.txt": b"x"}.items():
        client.put_object("data", key, io.BytesIO(data), len(data))
    return copy_case("chain", tmp_path)


def _run_chain(module: Path, bucket: str = "data") -> tuple[int, str, str]:
    result = cli("run", module / "manifests", "-i", f"table=s3://{bucket}/in/table.csv",
                 "-i", f"folder=s3://{bucket}/in/folder", "-o", f"result={module / 'out'}")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("cause", "message"), [("wrong secret", SECRET), ("unknown key", UNKNOWN_KEY)]
)
def test_local_run_with_bad_keys(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch, cause: str,
    message: str,
) -> None:
    _keys(monkeypatch, s3_server, cause)
    code, out, err = _run_chain(chain)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {s3_server.url} refused reading s3://data/in/folder for import-"
        f"folder: {message}"
    )
    assert not (chain / "out").exists()
    _no_secret_shown(s3_server, out, err)


def test_local_run_from_a_missing_bucket(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch, s3_server, "right keys")
    code, out, err = _run_chain(chain, bucket="no-such-bucket")
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {s3_server.url}: bucket 'no-such-bucket' does not exist (reading "
        "s3://no-such-bucket/in/folder for import-folder)\n"
        "    hint: check the bucket (the host part of the URI, or of the box's URI: --box, "
        "unip-kfp.yaml) and the S3 endpoint\n"
    )
    _no_secret_shown(s3_server, out, err)


def test_local_run_with_nothing_listening(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch, s3_server, "right keys")
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", url)
    code, out, err = _run_chain(chain)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: cannot reach S3 at {url} while reading s3://data/in/folder for import-"
        f"folder: connection refused (nothing listens there)\n{UNREACHABLE_HINT}"
    )
    _no_secret_shown(s3_server, out, err)


def test_local_run_against_something_that_is_not_s3(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch, kfp: HookedKfpServer
) -> None:
    _keys(monkeypatch, s3_server, "right keys")
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", kfp.url)  # the Kubeflow host, by mistake
    code, out, err = _run_chain(chain)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: {kfp.url} does not answer like S3 while reading s3://data/in/folder "
        "for import-folder (HTTP 404); is --s3-endpoint the S3 API (not a console)?\n"
    )


def test_local_run_without_keys_is_a_usage_error(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch, s3_server, "right keys")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    code, _, err = _run_chain(chain)
    assert code == 2
    assert err.endswith(
        "unip-kfp: S3 transfers need S3 keys (credentials): set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY and MINIO_SECRET_KEY) in the environment\n"
    )


# ------------------------------------------------------------------- local run, -o to S3


def _run_chain_into(module: Path, destination: str) -> tuple[int, str, str]:
    (module / "in" / "folder").mkdir(parents=True)
    (module / "in" / "table.csv").write_text("h\n1\n")
    (module / "in" / "folder" / "one.txt").write_text("x")
    result = cli("run", module / "manifests", "-i", f"table={module / 'in' / 'table.csv'}",
                 "-i", f"folder={module / 'in' / 'folder'}", "-o", f"result={destination}")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("cause", "message"), [("wrong secret", SECRET), ("unknown key", UNKNOWN_KEY)]
)
def test_local_run_into_s3_with_bad_keys_stops_before_it_runs(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch, cause: str,
    message: str,
) -> None:
    create_bucket(s3_server, "results")
    _keys(monkeypatch, s3_server, cause)
    code, out, err = _run_chain_into(chain, "s3://results/run-1")
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {s3_server.url} refused checking s3://results/run-1/: {message}"
    )
    assert not (chain / ".unip-kfp" / "runs").exists()
    _no_secret_shown(s3_server, out, err)


def test_local_run_into_a_missing_bucket_stops_before_it_runs(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys(monkeypatch, s3_server, "right keys")
    code, _, err = _run_chain_into(chain, "s3://no-such-bucket/run-1")
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {s3_server.url}: bucket 'no-such-bucket' does not exist (checking "
        "s3://no-such-bucket/run-1/)\n"
        "    hint: check the bucket (the host part of the URI, or of the box's URI: --box, "
        "unip-kfp.yaml) and the S3 endpoint\n"
    )
    assert not (chain / ".unip-kfp" / "runs").exists()


def test_local_run_into_s3_with_keys_that_may_not_write(
    chain: Path, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    if s3_server.read_only is None:
        pytest.skip("this store has no read-only keys for the tests")
    create_bucket(s3_server, "results")
    _keys(monkeypatch, s3_server, "right keys")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.read_only.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.read_only.secret_key)
    code, out, err = _run_chain_into(chain, "s3://results/run-1")
    assert code == 5  # the check may list; the run succeeds; the upload is refused
    assert " refused uploading " in err and err.endswith(
        " to s3://results/run-1/listing: the keys may not do this (AccessDenied)\n"
        "    hint: the store accepted the keys but refuses this request: check the policies "
        "of the keys' user and of bucket 'results'\n"
    )
    assert not list(s3_server.minio().list_objects("results", recursive=True))
    assert s3_server.read_only.secret_key not in out + err


# ------------------------------------------------------------- Kubeflow run, uploaded inputs


def _submit(kfp: HookedKfpServer, module: Path) -> tuple[int, str, str]:
    result = cli("run", module / "manifests", "--host", kfp.url, "--box", f"data-box={BOX}",
                 "--no-wait", "-i", f"xy_train={module / 'data' / 'xy_train.csv'}",
                 "-i", "xy_test=s3://b/v.csv")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("cause", "message"), [("wrong secret", SECRET), ("unknown key", UNKNOWN_KEY)]
)
def test_kubeflow_run_with_bad_keys(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch,
    cause: str, message: str,
) -> None:
    _keys(monkeypatch, env, cause)
    code, out, err = _submit(kfp, module)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {env.url} refused checking bucket '{DATA_BUCKET}': {message}"
    )
    assert not kfp.runs
    _no_secret_shown(env, out, err)


def test_kubeflow_run_with_keys_that_may_not_write(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env.read_only is None:
        pytest.skip("this store has no read-only keys for the tests")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", env.read_only.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", env.read_only.secret_key)
    code, out, err = _submit(kfp, module)
    assert code == 5
    local = module / "data" / "xy_train.csv"
    head, tail = err.rsplit(" refused uploading ", 1)
    assert head.endswith(f"unip-kfp: S3 at {env.url}")
    assert tail.startswith(f"{local} to {BOX}/users/tester/file_groups/my-pipeline-")
    assert tail.endswith(
        "/xy_train/xy_train.csv: the keys may not do this (AccessDenied)\n"
        "    hint: the store accepted the keys but refuses this request: check the "
        f"policies of the keys' user and of bucket '{DATA_BUCKET}'\n"
    )
    assert not kfp.runs
    _no_secret_shown(env, out, err)
    assert env.read_only.secret_key not in out + err


def test_kubeflow_run_into_a_missing_bucket(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path
) -> None:
    env.minio().remove_bucket(DATA_BUCKET)
    code, out, err = _submit(kfp, module)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: S3 at {env.url}: bucket '{DATA_BUCKET}' does not exist\n"
        "    hint: check the box URI (--box, unip-kfp.yaml) and the S3 endpoint\n"
    )
    assert not kfp.runs


def test_kubeflow_run_with_nothing_listening(
    kfp: HookedKfpServer, env: S3Endpoint, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", url)
    code, out, err = _submit(kfp, module)
    assert code == 5
    assert err.endswith(
        f"unip-kfp: cannot reach S3 at {url} while checking bucket '{DATA_BUCKET}': "
        f"connection refused (nothing listens there)\n{UNREACHABLE_HINT}"
    )
    assert not kfp.runs
