"""The rows `unip-kfp doctor` prints, and what the data checks need of a doctor.

Apart from `doctor.py`, so that the S3 and box checks (`doctor_data.py`) and the Kubeflow
checks (`doctor.py`) share them without importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import UnipKfpError
from ..manifests.project_config import Settings

PASS, FAIL, SKIP = "pass", "fail", "skip"
MARKS = {PASS: "✓", FAIL: "✗", SKIP: "–"}


@dataclass
class Check:
    """One row: what was checked, how it went, why, and what to do about it."""

    name: str
    status: str
    detail: str
    fix: str = ""


def from_error(name: str, exc: UnipKfpError) -> Check:
    """Our errors carry `message\\n    hint: fix`: split them into a failed row."""
    detail, _, fix = str(exc).partition("\n    hint: ")
    return Check(name, FAIL, detail.strip(), fix.strip())


class Checkup(Protocol):
    """What the data checks read of a `Doctor`, and where they add their rows."""

    settings: Settings
    namespace: str | None
    s3_endpoint: str | None
    project: Any
    cache: bool
    timeout: float

    def add(self, check: Check) -> Check: ...
