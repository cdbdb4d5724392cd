"""The real oauth2-proxy (v7.15.6), on 127.0.0.1 in front of the KFP API test server.

It runs with the options of the Kubeflow manifests (common/oauth2-proxy/base/
oauth2_proxy.cfg and deployment.yaml): cookie `oauth2_proxy_kubeflow`, 24 h, `api_routes`
answering 401 instead of redirecting, Dex's login under `/dex/` with OIDC discovery skipped,
the relative callback `/oauth2/callback`, PKCE S256, `prompt=none`, and bearer tokens Dex
signed accepted as they are (`ENABLE_M2M_TOKENS` -> `skip_jwt_bearer_tokens`). Kubeflow's
gateway sends `/dex/` to Dex and the rest through oauth2-proxy; here oauth2-proxy is the one
origin and routes `/dex/` itself (`skip_auth_routes`). With `discovery=True` it reads Dex's
discovery document instead, as a setup with a public Dex URL does.

The binary is built once into a cache outside the checkout by
tests/tools/build_oauth2_proxy.sh (.ci/run calls it); a missing binary fails the test.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .dex_server import CLIENT_ID, CLIENT_SECRET, DexServer

VERSION = "v7.15.6"
BUILD_SCRIPT = "tests/tools/build_oauth2_proxy.sh"
COOKIE = "oauth2_proxy_kubeflow"


# Where the build script puts it; read at import, before tests point HOME elsewhere.
CACHE = Path(os.environ.get("UNIP_KFP_TEST_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "unip-kfp-tests"))


def binary() -> Path:
    path = CACHE / f"oauth2-proxy-{VERSION}" / "oauth2-proxy"
    if not os.access(path, os.X_OK):
        pytest.fail(f"oauth2-proxy {VERSION} is not built: run {BUILD_SCRIPT} (needs Go; "
                    f"about a minute), which installs it as {path}", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(dex: DexServer, upstream: str, port: int, cookie_expire: str,
            discovery: bool) -> str:
    lines = {
        "http_address": f'"127.0.0.1:{port}"',
        "provider": '"oidc"',
        "oidc_issuer_url": f'"{dex.issuer}"',
        "client_id": f'"{CLIENT_ID}"',
        "client_secret": f'"{CLIENT_SECRET}"',
        "cookie_secret": f'"{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"',
        "cookie_secure": "false",
        "cookie_name": f'"{COOKIE}"',
        "cookie_expire": f'"{cookie_expire}"',
        "cookie_refresh": '"0s"',
        "scope": '"profile email groups openid"',
        "email_domains": '[ "*" ]',
        "upstreams": f'[ "{upstream.rstrip("/")}/", "{dex.url}/dex/" ]',
        "skip_auth_routes": '[ "^/dex/" ]',
        "api_routes": '[ "/api/", "/apis/", "^/ml_metadata" ]',
        "skip_provider_button": "false",
        "prompt": '"none"',
        "set_authorization_header": "true",
        "set_xauthrequest": "true",
        "code_challenge_method": '"S256"',
        "skip_jwt_bearer_tokens": "true",
        "redirect_url": '"/oauth2/callback"',
        "relative_redirect_url": "true",
        "silence_ping_logging": "true",
    }
    if not discovery:
        lines.update(skip_oidc_discovery="true", login_url='"/dex/auth"',
                     redeem_url=f'"{dex.issuer}/token"', oidc_jwks_url=f'"{dex.issuer}/keys"')
    else:  # Dex's own URL is public: the callback must be absolute, and registered with Dex
        callback = f"http://127.0.0.1:{port}/oauth2/callback"
        dex.redirect_uris.append(callback)
        lines.update(redirect_url=f'"{callback}"', relative_redirect_url="false")
    return "".join(f"{key} = {value}\n" for key, value in lines.items())


class OAuth2Proxy:
    """A running oauth2-proxy; `url` is the Kubeflow origin tests log in to."""

    def __init__(self, dex: DexServer, upstream: str, folder: Path, *,
                 cookie_expire: str = "24h", discovery: bool = False) -> None:
        self.dex, self.upstream, self.folder = dex, upstream, folder
        self.cookie_expire, self.discovery = cookie_expire, discovery
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OAuth2Proxy:
        path = binary()
        for _ in range(3):  # a free port can be taken between choosing and binding it
            self.port = _free_port()
            config = self.folder / f"oauth2_proxy-{self.port}.cfg"
            config.write_text(_config(self.dex, self.upstream, self.port, self.cookie_expire,
                                      self.discovery))
            log = open(self.folder / f"oauth2_proxy-{self.port}.log", "wb")  # noqa: SIM115
            self._process = subprocess.Popen([str(path), f"--config={config}"], stdout=log,
                                             stderr=subprocess.STDOUT)
            log.close()
            if self._ready():
                return self
            self.__exit__()
        raise RuntimeError(f"oauth2-proxy did not start; see {self.folder}/oauth2_proxy-*.log")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                time.sleep(0.02)
        return False

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def log(self) -> str:
        return (self.folder / f"oauth2_proxy-{self.port}.log").read_text(errors="replace")
