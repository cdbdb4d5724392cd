"""`unip-kfp login` / `logout` through the real oauth2-proxy, in front of the KFP API test
server, with the Dex test server (tests/support/dex_server.py) as the identity provider.

The servers start once per module (per xdist worker); each test has its own HOME, so its
sessions file and kfp's context.json are its own.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from support.dex_server import CLIENT_ID, USER_EMAIL, USER_PASSWORD, AuthRequest, DexServer
from support.kfp_api_server import KfpApiServer
from support.oauth2_proxy import COOKIE, OAuth2Proxy

from unip_kfp.cli import main

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "examples" / "train-test" / "manifests"
INPUTS = ("-i", "xy_train=minio://mlpipeline/unip/x.csv", "-i", "xy_test=minio://mlpipeline/y.csv")

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


@pytest.fixture(scope="module")
def dex() -> Iterator[DexServer]:
    with DexServer() as server:
        yield server


@pytest.fixture(scope="module")
def kfp() -> Iterator[KfpApiServer]:
    with KfpApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(dex: DexServer, kfp: KfpApiServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Proxy]:
    with OAuth2Proxy(dex, kfp.url, tmp_path_factory.mktemp("oauth2-proxy")) as running:
        yield running


@pytest.fixture(name="home")
def home_fixture(kfp_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("XDG_CONFIG_HOME", "UNIP_KFP_TOKEN", "KF_PIPELINES_SSL_CA_CERT", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNIP_KFP_POLL_INTERVAL", "0.02")
    monkeypatch.setenv("UNIP_KFP_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("UNIP_KFP_USER", "tester")
    from kfp.client.client import Client

    # kfp fixes the path when it is imported, not per call: point it at this HOME.
    monkeypatch.setattr(Client, "_LOCAL_KFP_CONTEXT", str(context_file(kfp_home)))
    return kfp_home


def cli(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


def login(url: str, password: str = USER_PASSWORD, *args: str) -> Result:
    return cli("login", "--host", url, "--username", USER_EMAIL, *args, stdin=password + "\n")


def sessions_file(home: Path) -> Path:
    return home / ".config" / "unip-kfp" / "sessions.json"


def context_file(home: Path) -> Path:
    return home / ".config" / "kfp" / "context.json"


def read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def get(url: str, cookie: str | None = None, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if cookie:
        request.add_header("Cookie", cookie)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- the identity provider follows Dex (checked where oauth2-proxy does not look)


def test_dex_discovery_and_keys(dex: DexServer) -> None:
    with urllib.request.urlopen(dex.issuer + "/.well-known/openid-configuration") as response:
        discovery = json.loads(response.read())
    assert discovery["issuer"] == dex.issuer
    assert discovery["token_endpoint"] == dex.issuer + "/token"
    assert discovery["jwks_uri"] == dex.issuer + "/keys"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert discovery["code_challenge_methods_supported"] == ["S256", "plain"]
    with urllib.request.urlopen(dex.issuer + "/keys") as response:
        assert response.headers["Cache-Control"].startswith("max-age=")
        [key] = json.loads(response.read())["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", dex.kid)


def test_dex_token_endpoint_refusals(dex: DexServer) -> None:
    def post(fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = urllib.parse.urlencode(fields).encode()
        try:
            with urllib.request.urlopen(dex.issuer + "/token", data=body) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post({"grant_type": "authorization_code", "client_id": CLIENT_ID,
                 "client_secret": "wrong", "code": "x"}) == (
        401, {"error": "invalid_client", "error_description": "Invalid client credentials."})
    assert post({"grant_type": "password"}) == (400, {"error": "unsupported_grant_type"})


def test_dex_id_tokens_are_rs256_with_the_subject_of_dex(dex: DexServer) -> None:
    request = AuthRequest("r", CLIENT_ID, "s", "n", ["openid", "email", "profile"], "/cb",
                          "local", "", "plain", False,
                          claims={"user_id": "15841185641784", "username": "user",
                                  "email": USER_EMAIL})
    token = dex.id_token(request, access_token="at", code="c")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "kid": dex.kid}
    claims = dex.verify(token)
    assert claims is not None and claims["email"] == USER_EMAIL and claims["aud"] == CLIENT_ID
    # sub: base64url of the protobuf IDTokenSubject{user_id, conn_id} (server/internal)
    assert claims["sub"] == "Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw"
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "nonce", "at_hash", "c_hash",
                           "email", "email_verified", "name"}


# --- login, the session per host, run, logout


def test_login_run_logout_through_oauth2_proxy(proxy: OAuth2Proxy, kfp: KfpApiServer,
                                               home: Path) -> None:
    assert cli("run", MANIFESTS, "--host", proxy.url, *INPUTS).exit_code == 5  # not logged in
    result = login(proxy.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"logged in to {proxy.url} as {USER_EMAIL}; the session expires ")
    assert result.stdout.endswith(", in 24 h\n")
    assert USER_PASSWORD not in result.output
    sessions = read(sessions_file(home))["sessions"]
    assert list(sessions) == [proxy.url]
    assert sessions[proxy.url]["cookie"].startswith(f"{COOKIE}=")
    assert stat.S_IMODE(sessions_file(home).stat().st_mode) == 0o600
    assert stat.S_IMODE(sessions_file(home).parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(context_file(home).stat().st_mode) == 0o600
    assert read(context_file(home))["client_authentication_cookie"] == (
        sessions[proxy.url]["cookie"])
    before = len(kfp.requests)
    run = cli("run", MANIFESTS, "--host", proxy.url, *INPUTS)
    assert run.exit_code == 0, run.output
    assert any(r.path.endswith("/runs") and r.method == "POST" for r in kfp.requests[before:])
    out = cli("logout", "--host", proxy.url)
    assert out.exit_code == 0, out.output
    assert out.stdout == (f"logged out of {proxy.url}: removed its session (and the cookie "
                          "login put into kfp's context.json, if it was still there)\n")
    assert read(sessions_file(home))["sessions"] == {}
    assert "client_authentication_cookie" not in read(context_file(home))
    again = cli("run", MANIFESTS, "--host", proxy.url, *INPUTS)
    assert again.exit_code == 5
    assert again.stderr == (
        f"unip-kfp: Kubeflow at {proxy.url} refused us (401 Unauthorized)\n    hint: log in: "
        f"unip-kfp login --host {proxy.url} (Kubeflow with Dex), or pass a token: "
        "--token-file FILE\n")


def test_kfp_client_and_notebooks_reuse_the_session(proxy: OAuth2Proxy, home: Path) -> None:
    import kfp

    assert login(proxy.url).exit_code == 0
    client = kfp.Client(host=proxy.url)  # reads ~/.config/kfp/context.json, as a notebook does
    assert client.list_experiments().experiments is not None


def test_a_session_is_never_sent_to_another_host(proxy: OAuth2Proxy, home: Path) -> None:
    assert login(proxy.url).exit_code == 0
    with KfpApiServer() as other:
        result = cli("upload", MANIFESTS, "--host", other.url)
        assert result.exit_code == 0, result.output
        assert other.requests and all("Cookie" not in r.headers for r in other.requests)


def test_login_merges_into_context_and_logout_restores_it(proxy: OAuth2Proxy,
                                                           home: Path) -> None:
    context_file(home).parent.mkdir(parents=True)
    context_file(home).write_text(json.dumps({
        "namespace": "team-a", "client_authentication_cookie": "mine=1", "other": [1]}))
    assert login(proxy.url).exit_code == 0
    merged = read(context_file(home))
    assert merged["namespace"] == "team-a" and merged["other"] == [1]
    assert merged["client_authentication_cookie"].startswith(f"{COOKIE}=")
    assert login(proxy.url).exit_code == 0  # logging in again keeps what to restore
    assert cli("logout", "--host", proxy.url).exit_code == 0
    assert read(context_file(home)) == {"namespace": "team-a",
                                        "client_authentication_cookie": "mine=1", "other": [1]}


def test_logout_leaves_a_cookie_it_did_not_write(proxy: OAuth2Proxy, home: Path) -> None:
    assert login(proxy.url).exit_code == 0
    context = read(context_file(home))
    context["client_authentication_cookie"] = "changed-since=1"
    context_file(home).write_text(json.dumps(context))
    assert cli("logout", "--host", proxy.url).exit_code == 0
    assert read(context_file(home))["client_authentication_cookie"] == "changed-since=1"
    assert cli("logout", "--host", proxy.url).stdout == (
        f"not logged in to {proxy.url} (nothing to remove)\n")


def test_dex_refuses_a_wrong_password(proxy: OAuth2Proxy, home: Path) -> None:
    result = login(proxy.url, "wrong-password")
    assert result.exit_code == 5
    assert result.stderr == (
        f"unip-kfp: Dex at {proxy.url} refused the login of {USER_EMAIL}: Invalid Email "
        "Address and password.\n    hint: check the user name and password (a static "
        "password, or the LDAP account, as Dex is configured)\n")
    assert "wrong-password" not in result.output
    assert not sessions_file(home).exists()


def test_the_password_never_comes_from_argv(proxy: OAuth2Proxy, home: Path) -> None:
    result = cli("login", "--host", proxy.url, "--username", USER_EMAIL, "--password", "x")
    assert result.exit_code == 2
    assert "No such option '--password'" in result.stderr
    empty = cli("login", "--host", proxy.url, "--username", USER_EMAIL, stdin="")
    assert empty.exit_code == 2
    assert "no password on stdin" in empty.stderr


def test_a_refused_session_says_log_in_again(proxy: OAuth2Proxy, home: Path) -> None:
    assert login(proxy.url).exit_code == 0
    data = read(sessions_file(home))
    data["sessions"][proxy.url]["cookie"] = f"{COOKIE}=tampered"
    sessions_file(home).write_text(json.dumps(data))
    result = cli("upload", MANIFESTS, "--host", proxy.url)
    assert result.exit_code == 5
    assert f"unip-kfp: Kubeflow at {proxy.url} refused us (401 Unauthorized)" in result.stderr
    assert (f"hint: the login session as {USER_EMAIL} (unip-kfp login; expires ") in (
        result.stderr)
    assert (f"was refused: it expired or was signed out on the server; log in again: "
            f"unip-kfp login --host {proxy.url}") in result.stderr


def test_an_expired_session(dex: DexServer, kfp: KfpApiServer, home: Path,
                            tmp_path: Path) -> None:
    with OAuth2Proxy(dex, kfp.url, tmp_path, cookie_expire="3s") as short:
        result = login(short.url)
        assert result.exit_code == 0, result.output
        assert "the session expires" in result.stdout and "in 1 min" in result.stdout
        session = read(sessions_file(home))["sessions"][short.url]
        cookie = session["cookie"]
        assert get(f"{short.url}/apis/v2beta1/experiments", cookie) == 200
        time.sleep(max(0.0, session["expires"] - time.time()) + 0.3)
        assert get(f"{short.url}/apis/v2beta1/experiments", cookie) == 401  # oauth2-proxy
        expired = cli("upload", MANIFESTS, "--host", short.url)
    assert expired.exit_code == 5
    assert expired.stderr.startswith(
        f"unip-kfp: your Kubeflow session for {short.url} expired ")
    assert expired.stderr.endswith(
        f"\n    hint: log in again: unip-kfp login --host {short.url}\n")


def test_approval_screen_and_several_connectors(proxy: OAuth2Proxy, dex: DexServer,
                                                home: Path) -> None:
    dex.skip_approval = False
    dex.connectors = [("ldap", "LDAP", "ldap"), ("github", "GitHub", "github")]
    try:
        result = login(proxy.url)
        assert result.exit_code == 0, result.output
        assert any(path == "/dex/approval" and code == 200 for _, path, code in dex.log)
        dex.connectors.append(("local", "Email", "local"))
        ambiguous = login(proxy.url)
        assert ambiguous.exit_code == 2
        assert "offers several logins (github, ldap, local): choose one with --connector ID" in (
            ambiguous.stderr)
        assert login(proxy.url, USER_PASSWORD, "--connector", "local").exit_code == 0
    finally:
        dex.skip_approval, dex.connectors = True, [("local", "Email", "local")]


def test_login_with_oidc_discovery(dex: DexServer, kfp: KfpApiServer, home: Path,
                                   tmp_path: Path) -> None:
    with OAuth2Proxy(dex, kfp.url, tmp_path, discovery=True) as discovering:
        result = login(discovering.url)
        assert result.exit_code == 0, result.output + discovering.log()
    assert any(path == "/dex/.well-known/openid-configuration" for _, path, _ in dex.log)


def test_a_host_without_oauth2_proxy(kfp: KfpApiServer, home: Path) -> None:
    result = login(kfp.url)
    assert result.exit_code == 5
    assert result.stderr == (
        f"unip-kfp: {kfp.url} has no oauth2-proxy login (GET /oauth2/start: 404)\n    hint: "
        "this install takes tokens: --token-file FILE (e.g. from kubectl create token)\n")


def test_bearer_tokens_the_platform_trusts_pass_oauth2_proxy(proxy: OAuth2Proxy,
                                                             dex: DexServer, home: Path,
                                                             tmp_path: Path) -> None:
    """As `kubectl create token` tokens pass Kubeflow's oauth2-proxy (ENABLE_M2M_TOKENS)."""
    request = AuthRequest("m2m", CLIENT_ID, "", "", ["openid", "email"], "/oauth2/callback",
                          "local", "", "plain", False,
                          claims={"user_id": "1", "username": "ci", "email": "ci@example.com"})
    token = tmp_path / "token"
    token.write_text(dex.id_token(request))
    result = cli("upload", MANIFESTS, "--host", proxy.url, "--token-file", token)
    assert result.exit_code == 0, result.output
    assert not sessions_file(home).exists() or read(sessions_file(home))["sessions"] == {}
    assert os.environ.get("UNIP_KFP_TOKEN") is None


def test_doctor_shows_the_auth_mode_before_and_after_login(proxy: OAuth2Proxy,
                                                            home: Path) -> None:
    def auth_row() -> dict[str, str]:
        result = cli("doctor", "--host", proxy.url, "--timeout", "2", "--format", "json")
        return next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "auth")

    before = auth_row()
    assert (before["status"], before["detail"]) == ("fail", "no token: refused (401: HTTP 401)")
    assert before["fix"] == (f"log in: unip-kfp login --host {proxy.url} (Dex), or pass a "
                             "token: --token-file FILE (kubectl create token ...)")
    assert login(proxy.url).exit_code == 0
    after = auth_row()
    assert after["status"] == "pass"
    assert after["detail"].startswith(
        f"login session as {USER_EMAIL} (unip-kfp login; expires ")
    assert after["detail"].endswith(", in 24 h): accepted")


def test_login_over_https_with_a_private_ca(proxy: OAuth2Proxy, home: Path,
                                            tmp_path: Path) -> None:
    from support.tls_server import TestCA, TlsFront

    ca = TestCA.create(tmp_path / "pki")
    with TlsFront(proxy.port, *ca.issue()) as front:
        refused = login(front.url)
        assert refused.exit_code == 5
        assert refused.stderr == (
            f"unip-kfp: TLS to {front.url} failed with the system's CAs: unable to get local "
            "issuer certificate\n    hint: pass the CA that signed its certificate: --ca-cert "
            "FILE (or KF_PIPELINES_SSL_CA_CERT, kubeflow.caCert)\n")
        result = login(front.url, USER_PASSWORD, "--ca-cert", str(ca.ca_pem))
        assert result.exit_code == 0, result.output
        assert list(read(sessions_file(home))["sessions"]) == [front.url]
