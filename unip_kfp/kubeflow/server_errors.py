"""What a Kubeflow Pipelines error answer means, whatever its HTTP status says.

The KFP 2.17 API server (``backend/src/common/util/error.go``) sends a gRPC status whose
message is the whole internal error chain (``"Failed to create a new run: InternalServerError:
... ResourceNotFoundError: PipelineVersion x not found"``) plus a detail with the external
code and message. Its ``NewInternalServerError`` wraps user errors too, so an unknown
pipeline version, an empty run name or experiment name and an invalid pipeline spec all
answer **500**, code 13, external message "Internal Server Error". Only the markers inside
the chain tell them apart from a server that is really failing. A plain Go error answers 500
with ``"Internal error: %+v"``, which holds a Go stack trace, and the pipeline upload routes
(``pipeline_upload_server.go``) answer ``{"error_message", "error_details"}`` with a stack
trace in the details.

So an answer is judged by meaning:

* 401/403 (or codes 16/7): refused us, exit 5;
* a spec the server rejects ("unknown template format", "KFP only supports schema version",
  "invalid v2 pipeline spec", "Failed to compile job"): exit 4;
* a wrong or missing input ("parameter X is not optional, ...", "input parameter X requires
  type ...") or anything not found or invalid: exit 2, with the server's own words;
* a 5xx (or no answer) without such a marker: Kubeflow is failing, exit 5;
* any other refusal (409, ...): the caller's ``refused`` error, which is also used for every
  refusal when it is an ``UnreachableError`` (while connecting, a refusal means "not the
  KFP API").

Only the first line of the server's text is shown; the full answer, stack traces included,
only with ``UNIP_KFP_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from ..errors import CompileError, RunFailedError, UnipKfpError, UnreachableError, UsageError

AUTH_HINT = (
    "check the credentials (--token-file, UNIP_KFP_TOKEN, KF_PIPELINES_SA_TOKEN_PATH, or the "
    "session of `unip-kfp login`) and, on a multi-user install, that this user may use the "
    "namespace (--namespace)"
)
# error.go's internal prefixes, by what they mean; the last one in the chain is the cause.
_MARKERS = (
    ("ResourceNotFoundError: ", "not_found"),
    ("NotFoundError: ", "not_found"),
    ("Invalid input error: ", "invalid"),
    ("InvalidInputError: ", "invalid"),
    ("BadRequestError: ", "invalid"),
    ("FailedPreconditionError: ", "invalid"),
    ("Already exist error: ", "exists"),
    ("PermissionDenied: ", "auth"),
    ("Unauthenticated: ", "auth"),
)
_SPEC = re.compile(
    r"unknown template format|KFP only supports schema version|invalid v2 pipeline spec|"
    r"pipeline spec is invalid|platform spec is invalid|multiple pipeline specs|"
    r"Failed to compile job"
)
_INPUT = re.compile(
    r"parameter \S+ is not optional|input parameter \S+ requires type|"
    r"pipeline requiring input has no parameter|parameter\(s\) provided are not required"
)


class KubeflowUnavailable(UnreachableError):
    """Kubeflow failed or could not be reached (exit 5); `transient` when a retry may help."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Answer:
    """An error answer: its status, gRPC code, the line to show, the whole text, its meaning."""

    status: int
    code: int | None
    message: str
    full: str
    kind: str


def read_answer(status: int, body: Any) -> Answer:
    """Parse a gateway, upload or plain-text error body and judge what it means."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    code, first, external = _parse(text)
    marker, cause = _innermost(first)
    kind = _kind(status, code, first, marker)
    shown = cause or (external if external and code not in (2, 13) else first)
    return Answer(status, code, shown, text, kind)


def _parse(text: str) -> tuple[int | None, str, str | None]:
    """(gRPC code, first line of the message, external detail message) of a body."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        line = _first_line(text)
        return None, ("" if line.startswith("<") else line[:300]), None
    if "error_message" in data:  # upload routes; error_details is a Go stack trace
        return None, _first_line(str(data.get("error_message") or "")), None
    code = data.get("code") if isinstance(data.get("code"), int) else None
    message = _first_line(str(data.get("message") or data.get("error") or ""))
    details = [d for d in data.get("details") or [] if isinstance(d, dict) and d.get("message")]
    external = _first_line(str(details[0]["message"])) if details else None
    return code, message, external


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _innermost(message: str) -> tuple[str | None, str | None]:
    """The meaning and text of the innermost error.go marker in a chain, if any."""
    found = [(message.rfind(m), m, kind) for m, kind in _MARKERS if m in message]
    if not found:
        return None, None
    at, marker, kind = max(found)
    return kind, message[at + len(marker):].strip() or None


def _kind(status: int, code: int | None, message: str, marker: str | None) -> str:
    if status in (401, 403) or code in (7, 16) or marker == "auth":
        return "auth"
    if _SPEC.search(message):
        return "spec"
    if _INPUT.search(message):
        return "input"
    if marker in ("not_found", "invalid", "exists"):
        return str(marker)
    if status >= 500 or status == 0:
        return "unavailable"
    if status == 404 or code == 5:
        return "not_found"
    if status == 400 or code in (3, 9, 11):
        return "invalid"
    return "exists" if status == 409 else "refused"


def api_error(exc: Any, action: str, host: str,
              refused: type[UnipKfpError] = RunFailedError) -> UnipKfpError:
    """One `kfp_server_api` `ApiException` as our error, by meaning (module doc)."""
    status = int(getattr(exc, "status", 0) or 0)
    answer = read_answer(status, getattr(exc, "body", None))
    said = answer.message or str(getattr(exc, "reason", "") or "no message")
    debug = f"\n    server answer ({status}): {answer.full}" if _debug() and answer.full else ""
    kind = answer.kind
    if kind == "auth":
        return UnreachableError(
            f"Kubeflow at {host} refused {action} ({status}: {said})\n    hint: {AUTH_HINT}"
            + debug)
    if issubclass(refused, UnreachableError) and kind != "unavailable":
        # the caller knows a refusal there means we do not talk to the KFP API (connecting)
        return refused(f"Kubeflow at {host} refused {action} ({status}: {said})" + debug)
    if kind == "spec":
        return CompileError(f"Kubeflow rejected the pipeline spec while {action}: {said}"
                            + debug)
    if kind == "input":
        return UsageError(f"Kubeflow refused {action}: {said}\n    hint: give every input the "
                          "pipeline needs (-i NAME=VALUE, or inputs= in Python), with its "
                          "declared type" + debug)
    if kind in ("not_found", "invalid"):
        return UsageError(f"Kubeflow refused {action}: {said}" + debug)
    if kind == "unavailable":
        return KubeflowUnavailable(
            f"Kubeflow at {host} failed while {action} ({status or 'no HTTP status'}: {said})"
            + debug, transient=status >= 500)
    return refused(f"Kubeflow refused {action} ({status}: {said})" + debug)


def server_message(body: Any) -> str | None:
    """The line worth showing from an error body (never a stack trace), if any."""
    return read_answer(0, body).message or None


def api_status(exc: BaseException) -> int:
    return int(getattr(exc, "status", 0) or 0)


def _debug() -> bool:
    return bool(os.environ.get("UNIP_KFP_DEBUG"))
