"""The request handling of the Dex test server (tests/support/dex_server.py), route by route.

Each method names the Dex v2.41.1 function it follows (server/handlers.go, server/oauth2.go)
and renders the template Dex renders (web/templates/*.html), fields and status codes included.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
import urllib.parse
from email.message import Message
from typing import TYPE_CHECKING

import bcrypt

if TYPE_CHECKING:
    from .dex_server import AuthRequest, DexServer

Answer = tuple[int, dict[str, str], bytes]
HTML = {"Content-Type": "text/html; charset=utf-8"}


class Routes:
    def __init__(self, dex: DexServer, method: str, path: str, headers: Message,
                 body: bytes) -> None:
        self.dex, self.method, self.headers, self.body = dex, method, headers, body
        parts = urllib.parse.urlsplit(path)
        self.url, self.path = path, parts.path
        self.query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))

    def dispatch(self) -> Answer:
        from .dex_server import ROUTE

        match = ROUTE.match(self.path)
        sub = (match.group(1) or "") if match else None
        routes = {
            "/.well-known/openid-configuration": self.discovery, "/keys": self.keys,
            "/token": self.token, "/userinfo": self.userinfo, "/auth": self.authorization,
            "/approval": self.approval, "/healthz": self.healthz,
        }
        if sub in routes:
            return routes[sub]()
        parts = (sub or "").strip("/").split("/")
        if sub and parts[0] == "auth" and len(parts) == 2:
            return self.connector_login(urllib.parse.unquote(parts[1]))
        if sub and parts[0] == "auth" and len(parts) == 3 and parts[2] == "login":
            return self.password_login(urllib.parse.unquote(parts[1]))
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"

    # ---- helpers: templates.go err, tokenErr, redirects

    def error(self, status: int, message: str) -> Answer:
        """`renderError` with web/templates/error.html."""
        from http import HTTPStatus

        from .dex_server import page

        body = (f'<div class="theme-panel">\n  <h2 class="theme-heading">'
                f"{HTTPStatus(status).phrase}</h2>\n  <p>{html.escape(message)}</p>\n</div>")
        return status, dict(HTML), page("dex", body)

    @staticmethod
    def token_error(kind: str, description: str, status: int) -> Answer:
        data = {"error": kind, **({"error_description": description} if description else {})}
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    @staticmethod
    def redirect(location: str, status: int = 302) -> Answer:
        return status, {"Location": location, **HTML}, b""

    def form(self) -> dict[str, str]:
        from .dex_server import form_fields

        return {**self.query, **(form_fields(self.body) if self.method == "POST" else {})}

    # ---- discovery, keys, healthz

    def discovery(self) -> Answer:
        return 200, {"Content-Type": "application/json"}, json.dumps(
            self.dex.discovery(), indent=2).encode()

    def keys(self) -> Answer:
        return 200, {"Content-Type": "application/json",
                     "Cache-Control": "max-age=120, must-revalidate"}, json.dumps(
            self.dex.jwks(), indent=2).encode()

    def healthz(self) -> Answer:
        return 200, {"Content-Type": "text/plain"}, b"Health check passed"

    # ---- handleAuthorization

    def authorization(self) -> Answer:
        form = self.form()
        chosen = form.pop("connector_id", "")
        query = urllib.parse.urlencode(sorted(form.items()))  # Go's url.Values.Encode sorts
        ids = [c[0] for c in self.dex.connectors]
        if chosen:
            if chosen not in ids:
                return self.error(400, "Connector ID does not match a valid Connector")
            return self.redirect(f"/dex/auth/{urllib.parse.quote(chosen)}?{query}")
        if len(ids) == 1:
            return self.redirect(f"/dex/auth/{urllib.parse.quote(ids[0])}?{query}")
        from .dex_server import page

        rows = "".join(
            f'\n    <div class="theme-form-row">\n      <a href="/dex/auth/{cid}?'
            f'{html.escape(query)}" target="_self">\n        <button class="dex-btn '
            f'theme-btn-provider">\n          <span class="dex-btn-icon dex-btn-icon--{kind}">'
            f'</span>\n          <span class="dex-btn-text">Log in with {html.escape(name)}'
            "</span>\n        </button>\n      </a>\n    </div>"
            for cid, name, kind in sorted(self.dex.connectors, key=lambda c: c[1]))
        body = (f'<div class="theme-panel">\n  <h2 class="theme-heading">Log in to '
                f"{self.dex.issuer} </h2>\n  <div>{rows}\n  </div>\n</div>")
        return 200, dict(HTML), page("dex", body)

    # ---- parseAuthorizationRequest + handleConnectorLogin

    def connector_login(self, connector: str) -> Answer:
        from .dex_server import CLIENT_ID, SCOPES, AuthRequest, new_id

        q = self.form()
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id != CLIENT_ID:
            return self.error(404, f'Invalid client_id ("{client_id}").')
        if redirect_uri not in self.dex.redirect_uris:
            return self.error(400, f'Unregistered redirect_uri ("{redirect_uri}").')
        scopes, state = q.get("scope", "").split(), q.get("state", "")

        def refuse(kind: str, description: str) -> Answer:
            values = urllib.parse.urlencode(
                {"error": kind, "error_description": description, "state": state})
            return self.redirect(f"{redirect_uri}?{values}", 303)

        method = q.get("code_challenge_method") or "plain"
        if method not in ("S256", "plain"):
            return refuse("invalid_request", f'Unsupported PKCE challenge method ("{method}").')
        if "openid" not in scopes:
            return refuse("invalid_scope", 'Missing required scope(s) ["openid"].')
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            return refuse("invalid_scope", f"Unrecognized scope(s) {json.dumps(unknown)}")
        if q.get("response_type", "").split() != ["code"]:
            return refuse("unsupported_response_type", "only the code flow is served here")
        if connector not in [c[0] for c in self.dex.connectors]:
            return self.error(400, "Requested resource does not exist")
        request = AuthRequest(new_id(), client_id, state, q.get("nonce", ""), scopes,
                              redirect_uri, connector, q.get("code_challenge", ""), method,
                              q.get("approval_prompt") == "force")
        self.dex.requests[request.id] = request
        if self.method != "GET":
            return self.error(400, "Unsupported request method.")
        back = ""
        if len(self.dex.connectors) > 1:
            back = "/dex/auth?" + urllib.parse.urlencode(sorted(self.query.items()))
        query = urllib.parse.urlencode({"back": back, "state": request.id})
        return self.redirect(f"/dex/auth/{connector}/login?{query}")

    # ---- handlePasswordLogin

    def password_login(self, connector: str) -> Answer:
        request = self.dex.requests.get(self.query.get("state", ""))
        if not self.query.get("state"):
            return self.error(400, "User session error.")
        if request is None:
            return self.error(400, "Requested resource does not exist.")
        if connector != request.connector_id:
            return self.error(500, "Requested resource does not exist.")
        if self.method == "GET":
            return self.password_page("", invalid=False)
        if self.method != "POST":
            return self.error(400, "Unsupported request method.")
        fields = self.form()
        username, password = fields.get("login", ""), fields.get("password", "")
        entry = self.dex.passwords.get(username.lower())
        if entry is None or not bcrypt.checkpw(password.encode(), entry.hash):
            return self.password_page(username, invalid=True)
        request.claims = {"user_id": entry.user_id, "username": entry.username,
                          "email": entry.email}
        if self.dex.skip_approval and not request.force_approval:
            return self.send_code(request)
        from .dex_server import mac

        return self.redirect(f"/dex/approval?req={request.id}&hmac={mac(request)}", 303)

    def password_page(self, username: str, *, invalid: bool) -> Answer:
        """web/templates/password.html, with 401 when the last attempt was invalid."""
        from .dex_server import page

        prompt = "Email Address"
        value = f' value="{html.escape(username)}" ' if username else " autofocus "
        error = (f'\n    <div id="login-error" class="dex-error-box">\n      Invalid {prompt} '
                 "and password.\n    </div>\n") if invalid else ""
        back = self.query.get("back", "")
        link = (f'\n  <div class="theme-link-back">\n    <a class="dex-subtle-text" '
                f'href="{html.escape(back)}">Select another login method.</a>\n  </div>'
                ) if back else ""
        body = (
            '<div class="theme-panel">\n  <h2 class="theme-heading">Log in to Your Account</h2>'
            f'\n  <form method="post" action="{html.escape(self.url)}">\n'
            f'    <div class="theme-form-row">\n      <div class="theme-form-label">\n'
            f'        <label for="userid">{prompt}</label>\n      </div>\n'
            f'\t  <input tabindex="1" required id="login" name="login" type="text" '
            f'class="theme-form-input" placeholder="{prompt.lower()}"{value}/>\n    </div>\n'
            '    <div class="theme-form-row">\n      <div class="theme-form-label">\n'
            '        <label for="password">Password</label>\n      </div>\n'
            '\t  <input tabindex="2" required id="password" name="password" type="password" '
            'class="theme-form-input" placeholder="password"'
            f'{" autofocus " if invalid else ""}/>\n    </div>\n{error}\n'
            '    <button tabindex="3" id="submit-login" type="submit" '
            'class="dex-btn theme-btn--primary">Login</button>\n\n  </form>'
            f"{link}\n</div>"
        )
        return 401 if invalid else 200, dict(HTML), page("dex", body)

    # ---- handleApproval

    def approval(self) -> Answer:
        from .dex_server import mac, page

        fields = self.form()
        if not fields.get("hmac"):
            return self.error(401, "Unauthorized request")
        request = self.dex.requests.get(fields.get("req", ""))
        if request is None:
            return self.error(500, "Database error.")
        if request.claims is None:
            return self.error(500, "Login process not yet finalized.")
        if not secrets.compare_digest(fields["hmac"], mac(request)):
            return self.error(401, "Unauthorized request")
        if self.method == "GET":
            forms = "".join(
                f'\n    <div class="theme-form-row">\n      <form method="post">\n'
                f'        <input type="hidden" name="req" value="{request.id}"/>\n'
                f'        <input type="hidden" name="approval" value="{value}">\n'
                f'        <button type="submit" class="dex-btn {style}">\n'
                f'            <span class="dex-btn-text">{label}</span>\n        </button>\n'
                "      </form>\n    </div>"
                for value, style, label in (("approve", "theme-btn--success", "Grant Access"),
                                            ("rejected", "theme-btn-provider", "Cancel")))
            body = ('<div class="theme-panel">\n  <h2 class="theme-heading">Grant Access</h2>'
                    f"\n  <div>{forms}\n  </div>\n</div>")
            return 200, dict(HTML), page("dex", body)
        if fields.get("approval") != "approve":
            return self.error(500, "Approval rejected.")
        return self.send_code(request)

    # ---- sendCodeResponse

    def send_code(self, request: AuthRequest) -> Answer:
        from .dex_server import new_id

        if time.time() > request.expiry:
            return self.error(400, "User session has expired.")
        if self.dex.requests.pop(request.id, None) is None:
            return self.error(400, "User session error.")
        code = new_id()
        self.dex.codes[code] = (request, time.time() + 30 * 60)
        target = urllib.parse.urlsplit(request.redirect_uri)
        query = urllib.parse.parse_qsl(target.query) + [("code", code), ("state", request.state)]
        location = target._replace(query=urllib.parse.urlencode(sorted(query))).geturl()
        return self.redirect(location, 303)

    # ---- handleToken + withClientFromStorage + handleAuthCode

    def token(self) -> Answer:
        from .dex_server import CLIENT_ID, CLIENT_SECRET

        if self.method != "POST":
            return self.token_error("invalid_request", "method not allowed", 400)
        fields = self.form()
        grant = fields.get("grant_type", "")
        if grant != "authorization_code":
            return self.token_error("unsupported_grant_type", "", 400)
        client_id, secret = _basic(self.headers.get("Authorization", ""))
        if client_id is None:
            client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if client_id != CLIENT_ID or not secrets.compare_digest(secret or "", CLIENT_SECRET):
            return self.token_error("invalid_client", "Invalid client credentials.", 401)
        code = fields.get("code", "")
        if not code:
            return self.token_error("invalid_request", "Required param: code.", 400)
        found = self.dex.codes.get(code)
        if found is None or found[1] < time.time() or found[0].client_id != client_id:
            return self.token_error("invalid_grant", "Invalid or expired code parameter.", 400)
        request = found[0]
        problem = _pkce(request, fields.get("code_verifier", ""))
        if problem:
            return self.token_error(*problem)
        if fields.get("redirect_uri", "") != request.redirect_uri:
            return self.token_error(
                "invalid_request", "redirect_uri did not match URI from initial request.", 400)
        del self.dex.codes[code]
        access = self.dex.id_token(request, access_token=secrets.token_hex(16))
        id_token = self.dex.id_token(request, access_token=access, code=code)
        data = {"access_token": access, "token_type": "bearer",
                "expires_in": int(self.dex.valid_for), "id_token": id_token}
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store",
                     "Pragma": "no-cache"}, json.dumps(data).encode()

    # ---- handleUserInfo

    def userinfo(self) -> Answer:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            status, headers, body = self.token_error("access_denied", "Invalid bearer token.",
                                                     401)
            return status, {**headers, "WWW-Authenticate": "Bearer"}, body
        claims = self.dex.verify(auth[7:])
        if claims is None:
            return self.token_error("access_denied", "failed to verify signature", 403)
        return 200, {"Content-Type": "application/json"}, json.dumps(claims).encode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _basic(header: str) -> tuple[str | None, str | None]:
    if not header.lower().startswith("basic "):
        return None, None
    user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    return urllib.parse.unquote(user), urllib.parse.unquote(secret)


def _pkce(request: AuthRequest, verifier: str) -> tuple[str, str, int] | None:
    """RFC 7636 as handleAuthCode checks it."""
    if verifier and request.code_challenge:
        if request.code_challenge_method == "S256":
            digest = hashlib.sha256(verifier.encode()).digest()
            computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        else:
            computed = verifier
        if computed != request.code_challenge:
            return "invalid_grant", "Invalid code_verifier.", 400
        return None
    if verifier:
        return "invalid_request", "No PKCE flow started. Cannot check code_verifier.", 400
    if request.code_challenge:
        return "invalid_grant", "Expecting parameter code_verifier in PKCE flow.", 400
    return None
