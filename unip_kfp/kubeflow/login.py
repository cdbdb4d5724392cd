"""Log in to the standard Kubeflow platform: oauth2-proxy in front of Dex (passwords or LDAP).

The flow is the browser's, followed request by request (nothing scraped beyond Dex's own
form fields), as the Kubeflow manifests set it up (common/oauth2-proxy/base/oauth2_proxy.cfg)
and as Dex v2.41 serves it (server/handlers.go, web/templates/password.html):

1. `GET <origin>/oauth2/start?rd=<API path>`: oauth2-proxy sets its CSRF cookie and redirects
   to Dex's `/auth` with the client id, `redirect_uri`, scopes, state and a PKCE challenge.
2. Dex `/auth` redirects to the only connector (`/auth/<id>`), or lists several (we take
   `connector`, else the only password connector); `/auth/<id>` redirects to the password
   form `/auth/<id>/login?back=&state=<request>`.
3. `POST` the form's `login` and `password` to its action. Wrong credentials: Dex answers 401
   with the form again ("Invalid Email Address and password."). Right ones: a redirect to the
   client's callback with a code, or first to `/approval`, whose form we approve.
4. `GET /oauth2/callback?code&state`: oauth2-proxy redeems the code at Dex's token endpoint,
   checks the ID token, sets its session cookie and redirects to `rd`: the KFP healthz, whose
   JSON proves that the session works.

The session is the cookies oauth2-proxy set (all but its CSRF cookie); its expiry is theirs.
"""

from __future__ import annotations

import html.parser
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from typing import Any

from ..errors import UnreachableError, UsageError
from .access import API_PREFIX, ssl_context, tls_failure
from .sessions import Session, origin

MAX_STEPS = 20


class LoginRefused(UnreachableError):
    """The identity provider refused the credentials, or the flow broke (exit 5)."""


class _Form(html.parser.HTMLParser):
    """Dex's pages: forms (action, method, fields), links, and the login error text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[tuple[str, str]] = []  # (href, classes of the link's first icon)
        self.error = ""
        self._in_error = False
        self._link: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self._link = a["href"]
            self.links.append((a["href"], ""))
        elif tag == "span" and self._link and "dex-btn-icon--" in a.get("class", ""):
            self.links[-1] = (self._link, a["class"])
        elif tag == "div" and a.get("id") == "login-error":
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._in_error = False
        elif tag == "a":
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data


class _Browser:
    """Requests without automatic redirects, with cookies kept per origin."""

    def __init__(self, ca_cert: str | None, timeout: float):
        self.timeout = timeout
        self.ca_cert = ca_cert
        self.jar: dict[str, dict[str, tuple[str, float | None]]] = {}
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirect(),
            urllib.request.HTTPSHandler(context=ssl_context(ca_cert)),
        )

    def request(self, url: str, data: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body)
        cookies = self.jar.get(origin(url), {})
        if cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, (v, _) in cookies.items()))
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, headers, content = exc.code, exc.headers, exc.read() if exc.fp else b""
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if "CERTIFICATE_VERIFY_FAILED" in str(reason):
                raise LoginRefused(tls_failure(origin(url), reason, self.ca_cert)) from None
            raise LoginRefused(f"cannot reach {origin(url)} while logging in: {reason}") from None
        self._keep(url, headers.get_all("Set-Cookie") or [])
        return status, headers, content

    def _keep(self, url: str, values: list[str]) -> None:
        cookies = self.jar.setdefault(origin(url), {})
        for value in values:
            parsed = SimpleCookie()
            parsed.load(value)
            for name, morsel in parsed.items():
                expires = _expiry(morsel)
                if expires is not None and expires <= time.time():
                    cookies.pop(name, None)
                else:
                    cookies[name] = (morsel.value, expires)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _expiry(morsel: Any) -> float | None:
    if morsel["max-age"]:
        return time.time() + int(morsel["max-age"])
    if morsel["expires"]:
        try:
            return parsedate_to_datetime(morsel["expires"]).timestamp()
        except (TypeError, ValueError):
            return None
    return None


def login(host: str, username: str, password: str, *, ca_cert: str | None = None,
          connector: str | None = None, timeout: float = 10.0) -> Session:
    """Log in through oauth2-proxy and Dex; the session for `host`'s origin (not stored)."""
    browser = _Browser(ca_cert, timeout)
    base = origin(host)
    rd = urllib.parse.urlsplit(host).path.rstrip("/") + API_PREFIX + "/healthz"
    url = f"{base}/oauth2/start?" + urllib.parse.urlencode({"rd": rd})
    status, headers, content = browser.request(url)
    if status == 404:
        raise LoginRefused(
            f"{base} has no oauth2-proxy login (GET /oauth2/start: 404)\n    hint: this "
            "install takes tokens: --token-file FILE (e.g. from kubectl create token)")
    data: dict[str, str] | None = None
    for _ in range(MAX_STEPS):
        if status in (301, 302, 303, 307, 308):
            url, data = urllib.parse.urljoin(url, headers.get("Location", "")), None
        elif url.startswith(base) and urllib.parse.urlsplit(url).path == rd and status == 200:
            return _session(browser, base, content)
        else:
            url, data = _next_step(url, status, content, username, password, connector)
        status, headers, content = browser.request(url, data)
    raise LoginRefused(f"login at {base} did not finish after {MAX_STEPS} steps (at {url})")


def _next_step(url: str, status: int, content: bytes, username: str, password: str,
               connector: str | None) -> tuple[str, dict[str, str] | None]:
    """Where a page of the flow leads: a connector link, the password or approval form."""
    page = _Form()
    page.feed(content.decode("utf-8", "replace"))
    if status == 401 and page.error.strip():
        raise LoginRefused(
            f"Dex at {origin(url)} refused the login of {username}: "
            f"{' '.join(page.error.split())}\n    hint: check the user name and password "
            "(a static password, or the LDAP account, as Dex is configured)")
    for form in page.forms:
        fields = form["fields"]
        target = urllib.parse.urljoin(url, form["action"] or url)
        if "login" in fields and "password" in fields:
            return target, {"login": username, "password": password}
        if fields.get("approval") == "approve":
            return target, dict(fields)
    links = [(h, c) for h, c in page.links if "/auth/" in urllib.parse.urlsplit(h).path]
    if status == 200 and links:
        return urllib.parse.urljoin(url, _choose(links, connector, url)), None
    raise LoginRefused(
        f"login at {origin(url)} stopped at {urllib.parse.urlsplit(url).path} "
        f"(HTTP {status}){_page_text(content)}")


def _choose(links: list[tuple[str, str]], connector: str | None, url: str) -> str:
    """Dex's login page lists its connectors: the one asked for, else the password one."""
    by_id = {urllib.parse.urlsplit(h).path.rstrip("/").rsplit("/", 1)[-1]: (h, c)
             for h, c in links}
    if connector:
        if connector not in by_id:
            raise UsageError(f"--connector {connector}: Dex at {origin(url)} offers "
                             f"{', '.join(sorted(by_id))}")
        return by_id[connector][0]
    passwords = [h for h, c in by_id.values() if c.endswith(("--local", "--ldap"))]
    if len(by_id) == 1 or len(passwords) == 1:
        return passwords[0] if passwords else next(iter(by_id.values()))[0]
    raise UsageError(f"Dex at {origin(url)} offers several logins ({', '.join(sorted(by_id))}):"
                     " choose one with --connector ID")


def _page_text(content: bytes) -> str:
    """A short text of an error page (Dex's `errmsg`, oauth2-proxy's message), if any."""
    text = " ".join(html_text(content).split())
    return f": {text[:200]}" if text else ""


def html_text(content: bytes) -> str:
    class Text(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self._skip = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            self._skip += tag in ("script", "style", "title", "head")

        def handle_endtag(self, tag: str) -> None:
            self._skip -= tag in ("script", "style", "title", "head") and self._skip > 0

        def handle_data(self, data: str) -> None:
            if not self._skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(content.decode("utf-8", "replace"))
    return " ".join(parser.parts)


def _session(browser: _Browser, base: str, content: bytes) -> Session:
    """The cookies oauth2-proxy set (not its CSRF cookie), checked by the healthz answer."""
    try:
        json.loads(content)
    except ValueError:
        raise LoginRefused(f"logged in at {base}, but the KFP API did not answer with JSON "
                           "behind it (is this the Kubeflow Pipelines host?)") from None
    cookies = {k: v for k, v in browser.jar.get(base, {}).items() if not k.endswith("_csrf")}
    if not cookies:
        raise LoginRefused(f"login at {base} set no session cookie")
    header = "; ".join(f"{k}={v}" for k, (v, _) in sorted(cookies.items()))
    ends = [e for _, e in cookies.values() if e is not None]
    status, _, info = browser.request(f"{base}/oauth2/userinfo")
    user = None
    if status == 200:
        try:
            found = json.loads(info)
            user = found.get("email") or found.get("user") or None
        except (ValueError, AttributeError):
            user = None
    return Session(base, header, min(ends) if ends else None, user, time.time())


def sign_out(session: Session, *, ca_cert: str | None = None, timeout: float = 3.0) -> bool:
    """Tell oauth2-proxy (it ends server-side sessions where it keeps any); best effort."""
    browser = _Browser(ca_cert, timeout)
    browser.jar[session.origin] = {
        k: (v, None) for k, _, v in (p.strip().partition("=") for p in session.cookie.split(";"))
    }
    try:
        status, _, _ = browser.request(f"{session.origin}/oauth2/sign_out")
    except (LoginRefused, OSError):
        return False
    return status in (200, 302)
