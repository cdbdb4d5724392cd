"""Secrets off the command line and TLS for on-prem installs, through the real `kfp.Client`.

The KFP API test server checks bearer tokens; for HTTPS it sits behind a TLS front whose
certificate a CA made in the test signs (tests/support/tls_server.py), as behind an ingress with a
private CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.kfp_api_server import KfpApiServer
from support.tls_server import TestCA, TlsFront

from unip_kfp.cli import main
from unip_kfp.kubeflow.access import TOKEN_ARGV_WARNING

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "examples" / "train-test" / "manifests"
TOKEN = "s3cr3t-t0ken"

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def cli(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


@pytest.fixture(name="kfp")
def kfp_fixture(kfp_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KfpApiServer]:
    for name in ("UNIP_KFP_TOKEN", "SSL_CERT_FILE", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNIP_KFP_CONNECT_TIMEOUT", "3")
    with KfpApiServer() as server:
        server.require_token = TOKEN
        yield server


def upload(host: str, *args: str | Path, stdin: str | None = None) -> Result:
    return cli("upload", MANIFESTS, "--host", host, "--user", "tester", *args, stdin=stdin)


def bearer_tokens(server: KfpApiServer) -> set[str]:
    return {r.authorization or "" for r in server.requests if not r.path.endswith("/healthz")}


def test_token_file_is_read_and_never_shown(kfp: KfpApiServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    result = upload(kfp.url, "--token-file", token_file)
    assert result.exit_code == 0, result.output
    assert bearer_tokens(kfp) == {f"Bearer {TOKEN}"}
    assert TOKEN not in result.output


def test_token_from_stdin_and_from_the_environment(kfp: KfpApiServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert upload(kfp.url, "--token-file", "-", stdin=TOKEN + "\n").exit_code == 0
    monkeypatch.setenv("UNIP_KFP_TOKEN", TOKEN)
    result = upload(kfp.url)
    assert result.exit_code == 0, result.output
    assert bearer_tokens(kfp) == {f"Bearer {TOKEN}"}


def test_token_on_the_command_line_warns(kfp: KfpApiServer) -> None:
    result = upload(kfp.url, "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert TOKEN_ARGV_WARNING == (
        "warning: --token puts the token in your shell history and in the process list; use "
        "--token-file FILE, --token-file - (stdin or a prompt) or UNIP_KFP_TOKEN")
    assert result.stderr.startswith(TOKEN_ARGV_WARNING + "\n")


def test_missing_or_wrong_token(kfp: KfpApiServer, tmp_path: Path) -> None:
    missing = upload(kfp.url, "--token-file", tmp_path / "nope")
    assert missing.exit_code == 2
    assert f"unip-kfp: --token-file {tmp_path / 'nope'}: no such file" in missing.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("other")
    refused = upload(kfp.url, "--token-file", wrong)
    assert refused.exit_code == 5
    assert (f"unip-kfp: Kubeflow at {kfp.url} refused looking up pipeline 'my-pipeline' "
            "(403: the bearer token is not authorized)\n    hint: ") in refused.stderr
    assert "other" not in refused.stderr


@pytest.fixture(name="https")
def https_fixture(kfp: KfpApiServer, tmp_path: Path) -> Iterator[tuple[str, TestCA]]:
    ca = TestCA.create(tmp_path / "pki")
    with TlsFront(kfp.port, *ca.issue()) as front:
        yield front.url, ca


def test_unknown_ca_is_refused_with_the_fix(https: tuple[str, TestCA], tmp_path: Path) -> None:
    url, _ = https
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    result = upload(url, "--token-file", token_file)
    assert result.exit_code == 5
    assert (
        f"unip-kfp: TLS to Kubeflow at {url} failed with the system's CAs: unable to get local "
        "issuer certificate\n    hint: pass the CA that signed its certificate: --ca-cert FILE "
        "(or KF_PIPELINES_SSL_CA_CERT, kubeflow.caCert)"
    ) in result.stderr


def test_ca_bundle_from_option_environment_or_config(
    https: tuple[str, TestCA], kfp: KfpApiServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, ca = https
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    result = upload(url, "--token-file", token_file, "--ca-cert", ca.ca_pem)
    assert result.exit_code == 0, result.output
    # the pipeline is created, then its first version uploaded (named by its hash)
    assert [r.method for r in kfp.requests if r.path.endswith("/upload_version")] == ["POST"]
    monkeypatch.setenv("KF_PIPELINES_SSL_CA_CERT", str(ca.ca_pem))
    assert upload(url, "--token-file", token_file).exit_code == 0
    monkeypatch.delenv("KF_PIPELINES_SSL_CA_CERT")
    config = tmp_path / "unip-kfp.yaml"
    config.write_text(f"kubeflow: {{caCert: {ca.ca_pem}}}\n")
    assert upload(url, "--token-file", token_file, "--config", config).exit_code == 0


def test_a_missing_ca_file_is_a_usage_error(kfp: KfpApiServer, tmp_path: Path) -> None:
    result = upload(kfp.url, "--ca-cert", tmp_path / "ca.pem")
    assert result.exit_code == 2
    assert (f"unip-kfp: CA bundle {tmp_path / 'ca.pem'}: no such file (--ca-cert, "
            "KF_PIPELINES_SSL_CA_CERT, kubeflow.caCert)") in result.stderr
