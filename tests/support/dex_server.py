"""An identity provider for tests that follows Dex v2.41.1's local-password login exactly.

Dex is what the Kubeflow manifests deploy (v2.41.1), but its current versions are not served
by the Go module proxy, so this server reproduces what oauth2-proxy and a browser see of it,
read in Dex's source (tag v2.41.1, mirrored at /work/.mirror/dexidp+dex):

* routes, under the issuer path (`server/server.go` `newServer`): `/.well-known/openid-
  configuration`, `/token`, `/keys`, `/userinfo`, `/auth`, `/auth/{connector}`,
  `/auth/{connector}/login`, `/approval`, `/healthz`;
* discovery document fields and values (`server/handlers.go` `discoveryHandler`);
* `/auth`: one connector redirects (302) to `/auth/{id}` with the same query, several show
  the connector list (`handleAuthorization`, `web/templates/login.html`);
* `/auth/{id}`: checks the request (`server/oauth2.go` `parseAuthorizationRequest`: client,
  registered redirect_uri, `openid` scope, response type, PKCE method), stores it and
  redirects (302) to `/auth/{id}/login?back=&state=<request id>` (`handleConnectorLogin`);
* `/auth/{id}/login`: the form of `web/templates/password.html` (fields `login` and
  `password`, posted to the page's own URL); a wrong password renders it again with 401 and
  "Invalid Email Address and password." (`handlePasswordLogin`, `server/templates.go`);
  right credentials redirect (303) to the client with `code` and `state`, or, without
  `skipApprovalScreen`, to `/approval?req=&hmac=` first (`finalizeLogin`, `handleApproval`,
  `web/templates/approval.html`: fields `req` and `approval=approve`);
* `/token`: `authorization_code` with client_secret_basic or _post, PKCE S256/plain,
  redirect_uri check, one use per code; answers `access_token`, `token_type`, `expires_in`,
  `id_token` with no-store headers (`handleToken`, `handleAuthCode`, `writeAccessToken`);
  errors as `{"error","error_description"}` (`oauth2.go` `tokenErr`);
* ID tokens: RS256 JWS with the key's `kid`, claims of `oauth2.go` `newIDToken` (`sub` is the
  base64url protobuf `IDTokenSubject{user_id, conn_id}`, `at_hash`, `c_hash`, `email`,
  `email_verified`, `groups`, `name`, `preferred_username` by scope); the access token is a
  signed token of the same kind (`newAccessToken`); JWKS at `/keys`;
* static passwords (`storage/static.go`, `server/server.go` `passwordDB`): email, bcrypt hash,
  username, userID; the connector is `local`, prompting "Email Address".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import bcrypt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .loopback import LoopbackServer

CLIENT_ID = "kubeflow-oidc-authservice"
CLIENT_SECRET = "pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok"  # the Kubeflow manifests' example secret
USER_EMAIL = "user@example.com"
USER_PASSWORD = "12341234"  # Kubeflow's documented default user
SCOPES = {"openid", "email", "groups", "profile", "offline_access", "federated:id"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_id() -> str:
    """`storage.NewID`: a letter, then base32 (Dex's lower-case alphabet) of 15 random bytes."""
    raw = secrets.token_bytes(16)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    bits = "".join(f"{b:08b}" for b in raw[1:])
    body = "".join(alphabet[int(bits[i:i + 5].ljust(5, "0"), 2)] for i in range(0, len(bits), 5))
    return chr(ord("a") + raw[0] % 26) + body


def _proto_string(number: int, value: str) -> bytes:
    data = value.encode()
    return bytes([number << 3 | 2, len(data)]) + data if data else b""


@dataclass
class StaticPassword:
    email: str
    password: str
    username: str
    user_id: str
    hash: bytes = b""

    def __post_init__(self) -> None:
        self.hash = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(10))  # Dex: cost >= 10


@dataclass
class AuthRequest:
    id: str
    client_id: str
    state: str
    nonce: str
    scopes: list[str]
    redirect_uri: str
    connector_id: str
    code_challenge: str
    code_challenge_method: str
    force_approval: bool
    hmac_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    claims: dict[str, Any] | None = None
    expiry: float = field(default_factory=lambda: time.time() + 24 * 3600)


class DexServer(LoopbackServer):
    """Dex on 127.0.0.1 with one static client and static passwords.

    `issuer_path` is `/dex` as in Kubeflow; `redirect_uris` are the client's registered
    callbacks (Kubeflow registers the relative `/oauth2/callback`).
    """

    def __init__(self, *, redirect_uris: list[str] | None = None, skip_approval: bool = True,
                 connectors: list[tuple[str, str, str]] | None = None,
                 id_tokens_valid_for: float = 24 * 3600) -> None:
        self.redirect_uris = redirect_uris or ["/oauth2/callback"]
        self.skip_approval = skip_approval
        self.connectors = connectors or [("local", "Email", "local")]
        self.valid_for = id_tokens_valid_for
        self.passwords = {
            USER_EMAIL: StaticPassword(USER_EMAIL, USER_PASSWORD, "user", "15841185641784")
        }
        self.requests: dict[str, AuthRequest] = {}
        self.codes: dict[str, tuple[AuthRequest, float]] = {}
        self.log: list[tuple[str, str, int]] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(20)
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    @property
    def issuer(self) -> str:
        return self.url + "/dex"

    # ---- tokens

    def sign(self, claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "RS256", "kid": self.kid}).encode())
        payload = b64url(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                  hashes.SHA256())
        return f"{header}.{payload}.{b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed and that has not expired, else None."""
        from cryptography.exceptions import InvalidSignature

        try:
            header, payload, signature = token.split(".")
            self.key.public_key().verify(
                base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, InvalidSignature):
            return None
        if claims.get("iss") != self.issuer or claims.get("exp", 0) < time.time():
            return None
        return dict(claims)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {"keys": [{"use": "sig", "kty": "RSA", "kid": self.kid, "alg": "RS256",
                          "n": b64url(numbers.n.to_bytes(size, "big")),
                          "e": b64url(numbers.e.to_bytes(3, "big"))}]}

    def id_token(self, request: AuthRequest, *, access_token: str = "", code: str = "") -> str:
        """`newIDToken`: the claims the scopes allow, signed with the current key."""
        claims = request.claims or {}
        now = int(time.time())
        subject = b64url(_proto_string(1, claims["user_id"]) + _proto_string(2, "local"))
        token: dict[str, Any] = {"iss": self.issuer, "sub": subject, "aud": request.client_id,
                                 "exp": now + int(self.valid_for), "iat": now}
        if request.nonce:
            token["nonce"] = request.nonce
        for name, value in (("at_hash", access_token), ("c_hash", code)):
            if value:
                token[name] = b64url(hashlib.sha256(value.encode()).digest()[:16])
        if "email" in request.scopes:
            token.update(email=claims["email"], email_verified=True)
        if "groups" in request.scopes:
            token["groups"] = claims.get("groups") or None
        if "profile" in request.scopes:
            token["name"] = claims["username"]
        return self.sign({k: v for k, v in token.items() if v is not None})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/keys",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "device_authorization_endpoint": self.issuer + "/device/code",
            "introspection_endpoint": self.issuer + "/token/introspect",
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "urn:ietf:params:oauth:grant-type:device_code",
                                      "urn:ietf:params:oauth:grant-type:token-exchange"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": ["openid", "email", "groups", "profile", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "email", "email_verified",
                                 "locale", "name", "preferred_username", "at_hash"],
        }


def _handler(dex: DexServer) -> type[BaseHTTPRequestHandler]:
    from .dex_pages import Routes

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, content = Routes(dex, self.command, self.path, self.headers,
                                              body).dispatch()
            dex.log.append((self.command, self.path.split("?")[0], status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

    return Handler


def page(title: str, body: str) -> bytes:
    """Dex's `header.html`/`footer.html` frame around a template body."""
    return (f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
            f'</title>\n</head>\n<body class="theme-body">\n<div class="theme-container">\n{body}'
            "\n</div>\n</body>\n</html>\n").encode()


def form_fields(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))


def mac(request: AuthRequest) -> str:
    return b64url(hmac.new(request.hmac_key, request.id.encode(), hashlib.sha256).digest())


ROUTE = re.compile(r"^/dex(/.*)?$")
