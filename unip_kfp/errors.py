"""Error types and the CLI's exit-code contract.

Every error the product raises on purpose is a `UnipKfpError`; its `exit_code` is what the
CLI returns, so one table below is the whole contract:

    0 ok, 1 run failed, 2 usage, 3 invalid manifests, 4 compile error,
    5 Kubeflow/S3 unreachable or refused, 70 internal error (a bug of ours; not a
    `UnipKfpError`: the CLI's last handler gives it), 124 wait timed out.

Exit 4 is only for Kubeflow Pipelines' own refusals (`compile/refusals.py` tells them apart).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_COMPILE = 4
EXIT_UNREACHABLE = 5
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug of ours, never mistaken for a failed run
EXIT_TIMEOUT = 124


class Severity(str, Enum):
    """How bad a finding is: errors stop the work, warnings are shown (`--strict` promotes them)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One finding about the manifests, located as precisely as the input allows."""

    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    hint: str | None = None

    @property
    def location(self) -> str:
        """`file:line` (or the parts that are known), for the start of a message."""
        parts = [p for p in (self.file, str(self.line) if self.line else None) if p]
        return ":".join(parts) or "<input>"

    def format(self) -> str:
        """Render as `file:line: severity: field: message (hint)`, one line per finding."""
        text = f"{self.location}: {self.severity.value}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        """Plain data for `--format json`."""
        return {
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


class UnipKfpError(Exception):
    """Base of every error the product raises on purpose; carries its CLI exit code."""

    exit_code = EXIT_RUN_FAILED


class UsageError(UnipKfpError):
    """The command line itself is wrong (an option value that cannot be parsed)."""

    exit_code = EXIT_USAGE


class ManifestError(UnipKfpError):
    """The manifests are invalid; holds every problem found, not just the first."""

    exit_code = EXIT_INVALID

    def __init__(self, issues: Sequence[Issue]):
        self.issues = tuple(issues)
        errors = [i for i in self.issues if i.severity is Severity.ERROR]
        shown = errors or list(self.issues)
        summary = f"{len(errors)} error(s) in the manifests"
        super().__init__(summary + ":\n" + "\n".join(i.format() for i in shown))


class CompileError(UnipKfpError):
    """Kubeflow Pipelines rejected what the manifests translate to (names the stage)."""

    exit_code = EXIT_COMPILE


class RunFailedError(UnipKfpError):
    """A run ended in a state other than success (a stage failed, the run was canceled)."""

    exit_code = EXIT_RUN_FAILED


class UnreachableError(UnipKfpError):
    """Kubeflow or S3 could not be reached, or refused us (auth, namespace)."""

    exit_code = EXIT_UNREACHABLE


class WaitTimeoutError(UnipKfpError):
    """We stopped waiting; the run itself keeps going."""

    exit_code = EXIT_TIMEOUT


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A close spelling among `choices`, for error hints."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in choices}
        return lowered.get(word.lower())
    return found[0]
