"""Schedule triggers checked before anything is sent: cron expressions, intervals, times.

KFP 2.17 parses a recurring run's cron with `github.com/robfig/cron` v1.2.0's `cron.Parse`
(`backend/src/apiserver/server/api_converter.go` `toModelJob`, and the ScheduledWorkflow
controller's `crd/controller/scheduledworkflow/util/cron_schedule.go`). That parser reads
six fields, **seconds first**: `sec min hour day-of-month month day-of-week`, the last one
optional (`parser.go`: `Second | Minute | Hour | Dom | Month | DowOptional | Descriptor`).
So a classic five-field crontab line is *accepted and misread*: `0 2 * * *` means second 0
of minute 2 of every hour, not 02:00 every night. Here a five-field expression is read as
crontab does (minute first) and sent with a `0` seconds field in front, and the caller is
told how it was read; six fields are taken as KFP reads them. The field rules are robfig's:
`*` and `?`, `a-b`, `/step` (`n/step` runs to the field's end), lists, month and weekday
names, day of week 0-6 (no 7), descriptors (`@daily`, ...) and `@every <Go duration>`.
Times run in the controller's time zone (UTC in a stock install).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import UsageError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (label, low, high, names, first name's number)
_FIELDS = (
    ("second", 0, 59, (), 0), ("minute", 0, 59, (), 0), ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0), ("month", 1, 12, _MONTHS, 1),
    ("day of week", 0, 6, _DAYS, 0),
)
_DESCRIPTORS = {
    "@yearly": "once a year, at 00:00:00 on 1 January",
    "@annually": "once a year, at 00:00:00 on 1 January",
    "@monthly": "at 00:00:00 on the first day of every month",
    "@weekly": "at 00:00:00 every Sunday",
    "@daily": "at 00:00:00 every day",
    "@midnight": "at 00:00:00 every day",
    "@hourly": "at minute 0 of every hour",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")


@dataclass(frozen=True)
class Cron:
    """A cron expression as KFP will read it, and a note when it was rewritten."""

    expression: str
    note: str | None = None


def parse_cron(text: str) -> Cron:
    """Check `text` as KFP's parser will; five fields are crontab's (minute first)."""
    spec = " ".join(text.split())
    if not spec:
        raise UsageError("--cron: empty expression")
    if spec.startswith("@"):
        return _descriptor(spec)
    fields = spec.split(" ")
    if len(fields) not in (5, 6):
        raise UsageError(
            f"--cron '{spec}': expected 5 fields (minute hour day-of-month month "
            f"day-of-week) or 6 (seconds first, as KFP reads them), found {len(fields)}"
        )
    five = len(fields) == 5
    full = ["0", *fields] if five else fields
    for value, (label, low, high, names, first) in zip(full, _FIELDS, strict=True):
        for part in value.split(","):
            _check_range(spec, label, part, low, high, names, first)
    expression = " ".join(full)
    if not five:
        return Cron(expression)
    return Cron(expression, f"--cron '{spec}' read as crontab does (minute hour day-of-month "
                            f"month day-of-week); sent to Kubeflow as '{expression}' "
                            "(KFP's cron has a seconds field first)")


def _descriptor(spec: str) -> Cron:
    if spec in _DESCRIPTORS:
        return Cron(spec)
    if spec.startswith("@every "):
        raise UsageError(f"--cron '{spec}': use --every {spec[7:].strip()} for a fixed interval")
    raise UsageError(f"--cron '{spec}': unknown descriptor (known: "
                     f"{', '.join(sorted(_DESCRIPTORS))})")


def _check_range(spec: str, label: str, part: str, low: int, high: int,
                 names: tuple[str, ...], first: int) -> None:
    """One `a`, `a-b`, `*`, `?`, with an optional `/step`, as robfig's `getRange` takes it."""
    def fail(why: str) -> UsageError:
        return UsageError(f"--cron '{spec}': {label} '{part}': {why} (allowed {low}-{high}"
                          + (f" or {names[0]}-{names[-1]}" if names else "") + ")")

    span, slash, step_text = part.partition("/")
    if "/" in step_text:
        raise fail("more than one '/'")
    bounds = span.split("-")
    if len(bounds) > 2 or not all(bounds):
        raise fail("not a number or range")
    if bounds[0] in ("*", "?"):
        if len(bounds) > 1:
            raise fail("not a number or range")
        start, end = low, high
    else:
        start = _number(bounds[0], names, first, fail)
        end = _number(bounds[1], names, first, fail) if len(bounds) == 2 else start
        if slash and len(bounds) == 1:
            end = high  # robfig: "n/step" means "n-max/step"
    step = _number(step_text, (), 0, fail) if slash else 1
    if start < low or end > high:
        raise fail("out of range")
    if start > end:
        raise fail(f"range starts after it ends ({start} > {end})")
    if step == 0:
        raise fail("a step must be positive")


def _number(text: str, names: tuple[str, ...], first: int,
            fail: Callable[[str], UsageError]) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + first
    if not text.isdigit():
        raise fail("not a number")
    return int(text)


def parse_every(text: str, option: str = "--every") -> int:
    """An interval such as `30m`, `1h30m`, `90s`, `2d`, `1w` (or plain seconds) in seconds."""
    compact = text.strip().lower().replace(" ", "")
    if compact.isdigit():
        seconds = int(compact)
    else:
        parts = _DURATION.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise UsageError(f"{option} '{text}': expected a duration such as 30m, 1h30m, 90s, "
                             "2d or 1w (units s, m, h, d, w)")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise UsageError(f"{option} '{text}': the interval must be at least one second")
    return seconds


def parse_time(text: str, option: str) -> str:
    """An ISO 8601 date or time (no zone: UTC) as the RFC 3339 UTC string KFP keeps."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} '{text}': expected an ISO 8601 date or time, e.g. "
                         "2026-12-01 or 2026-12-01T02:00:00+01:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_every(seconds: int) -> str:
    """`5400` -> `1h30m`: how an interval reads back."""
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
