"""Login sessions, kept per host, and the one cookie kfp's `context.json` can hold.

`unip-kfp login` stores what oauth2-proxy set (its session cookie) in
`$XDG_CONFIG_HOME/unip-kfp/sessions.json` (default `~/.config/unip-kfp/`), one entry per
origin (`scheme://host:port`), in a file only its owner can read (0600, folder 0700). Every
unip-kfp command sends an origin's cookie to that origin only.

kfp reads a single `client_authentication_cookie` from `~/.config/kfp/context.json` and
sends it to any host. So that `kfp.Client()` and notebooks reuse a login, `login` also
merges the cookie into that file (its other keys untouched, the file made 0600) and
remembers the hash of what it wrote. The cookie then found there is "ours" for one origin:
unip-kfp sends it nowhere else. `logout` removes only what `login` wrote: its entry, and
the context cookie if it is still the one it wrote (putting back a cookie that was there
before, if that one was not ours).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UnreachableError, UsageError

KFP_CONTEXT = "~/.config/kfp/context.json"
COOKIE_KEY = "client_authentication_cookie"


class SessionExpired(UnreachableError):
    """The stored login of a host has expired (exit 5): log in again."""


@dataclass(frozen=True)
class Session:
    """One host's login: the Cookie header value, when it ends, who logged in."""

    origin: str
    cookie: str
    expires: float | None = None
    user: str | None = None
    created: float = 0.0
    replaced: str | None = None  # a context.json cookie login overwrote that was not ours

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= time.time()

    def describe(self) -> str:
        who = f" as {self.user}" if self.user else ""
        return f"login session{who} (unip-kfp login; {until(self.expires)})"


def until(expires: float | None) -> str:
    if expires is None:
        return "no expiry given"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))
    left = expires - time.time()
    if left <= 0:
        return f"expired {stamp}"
    hours = left / 3600
    return f"expires {stamp}, in {hours:.0f} h" if hours >= 1 else (
        f"expires {stamp}, in {max(1, round(left / 60))} min")


def origin(host: str) -> str:
    """`scheme://host[:port]` of a URL: what a login (a cookie of that host) is valid for."""
    parts = urllib.parse.urlsplit(host if "://" in host else f"https://{host}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def sessions_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "unip-kfp", "sessions.json")


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; fix or remove it") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object; fix or remove it")
    return data


def _write_private(path: str, data: dict[str, Any]) -> None:
    """Replace `path` atomically with a 0600 file (its folder 0700 when we create it)."""
    path = os.path.expanduser(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    temporary = os.path.join(folder, f".unip-kfp-{secrets.token_hex(6)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load_sessions() -> dict[str, Session]:
    entries = _read_json(sessions_path()).get("sessions") or {}
    return {o: Session(**{**e, "origin": o}) for o, e in entries.items() if isinstance(e, dict)}


def _save_all(sessions: dict[str, Session]) -> None:
    data = {o: {k: v for k, v in asdict(s).items() if k != "origin"} for o, s in sessions.items()}
    _write_private(sessions_path(), {"version": 1, "sessions": data})


def _context_digests(sessions: dict[str, Session]) -> dict[str, str]:
    return {_digest(s.cookie): o for o, s in sessions.items()}


def save(session: Session, *, kfp_context: bool = True) -> None:
    """Store the session; with `kfp_context`, also make it kfp's context.json cookie."""
    sessions = load_sessions()
    replaced = None
    if kfp_context:
        context = _read_json(KFP_CONTEXT)
        previous = context.get(COOKIE_KEY)
        ours = _context_digests(sessions)
        if isinstance(previous, str) and previous and _digest(previous) not in ours:
            replaced = previous
        elif isinstance(previous, str) and _digest(previous) in ours:
            replaced = sessions[ours[_digest(previous)]].replaced
        context[COOKIE_KEY] = session.cookie
        context.setdefault("namespace", "")  # kfp.Client reads this key unconditionally
        _write_private(KFP_CONTEXT, context)
    sessions[session.origin] = Session(**{**asdict(session), "replaced": replaced})
    _save_all(sessions)


def remove(host: str) -> Session | None:
    """Forget the host's session; undo the context.json cookie if it is still ours."""
    sessions = load_sessions()
    session = sessions.pop(origin(host), None)
    if session is None:
        return None
    context = _read_json(KFP_CONTEXT)
    if context.get(COOKIE_KEY) == session.cookie:
        if session.replaced:
            context[COOKIE_KEY] = session.replaced
        else:
            del context[COOKIE_KEY]
        _write_private(KFP_CONTEXT, context)
    _save_all(sessions)
    return session


def cookie_for(host: str, *, required: bool = True) -> tuple[str | None, Session | None]:
    """The Cookie header for `host`: (cookie, session).

    The host's own login session if there is one (expired: `SessionExpired` when
    `required`); else "" when context.json's cookie is a login of another host (so kfp
    does not send it here); else None, kfp's default (context.json's own cookie).
    """
    sessions = load_sessions()
    session = sessions.get(origin(host))
    if session is not None:
        if session.expired and required:
            raise SessionExpired(
                f"your Kubeflow session for {session.origin} {until(session.expires)}\n"
                f"    hint: log in again: unip-kfp login --host {session.origin}"
            )
        return session.cookie, session
    cookie = _read_json(KFP_CONTEXT).get(COOKIE_KEY)
    if isinstance(cookie, str) and cookie and _digest(cookie) in _context_digests(sessions):
        return "", None
    return None, None
