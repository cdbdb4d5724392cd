"""The wire side of the fake KFP API server: recorded requests, filters, pages, multipart.

grpc-gateway answers with ``UseProtoNames`` and ``EmitUnpopulated=false``: empty lists and a
zero ``total_size`` are omitted (``list_runs().runs`` is ``None``, not ``[]``).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from .kfp_fake_errors import invalid_input

# Predicate operations, by number (what kfp.Client sends) and by name (protojson also accepts).
_OPS = {
    1: "EQUALS",
    2: "NOT_EQUALS",
    3: "GREATER_THAN",
    5: "GREATER_THAN_EQUALS",
    6: "LESS_THAN",
    7: "LESS_THAN_EQUALS",
    8: "IN",
    9: "IS_SUBSTRING",
}
_DEFAULT_PAGE_SIZE = 20


@dataclass
class MultipartPart:
    """One part of a ``multipart/form-data`` body; ``data`` holds the exact bytes."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request exactly as the client sent it, kept so tests can assert on the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    parts: list[MultipartPart] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)

    @property
    def authorization(self) -> str | None:
        return self.header("Authorization")

    @property
    def files(self) -> dict[str, MultipartPart]:
        """Multipart parts that carry a filename, by form field name (``uploadfile``)."""
        return {p.name or "": p for p in self.parts if p.filename is not None}


def page(items: list[dict[str, Any]], q: dict[str, str], key: str) -> dict[str, Any]:
    """Sort, paginate and shape a list response (``EmitUnpopulated=false``)."""
    sort_by = q.get("sort_by", "").split()
    if sort_by:
        items = sorted(
            items, key=lambda i: str(i.get(sort_by[0], "")), reverse=sort_by[-1:] == ["desc"]
        )
    size = int(q.get("page_size") or 0) or _DEFAULT_PAGE_SIZE
    start = int(q.get("page_token") or 0)
    out: dict[str, Any] = {}
    if items[start : start + size]:
        out[key] = copy.deepcopy(items[start : start + size])
    if items:
        out["total_size"] = len(items)
    if start + size < len(items):
        out["next_page_token"] = str(start + size)
    return out


def matches_filter(obj: dict[str, Any], filter_json: str | None) -> bool:
    """Evaluate a v2beta1 ``Filter`` (all predicates AND-ed) against a resource's JSON."""
    if not filter_json:
        return True
    try:
        predicates = json.loads(filter_json).get("predicates") or []
    except (ValueError, AttributeError) as e:
        raise invalid_input(f"Invalid filter: {filter_json}") from e
    for p in predicates:
        op = p.get("operation")
        op = _OPS.get(op, op) if isinstance(op, int) else op
        key = p.get("key", "")
        actual = obj.get(key)
        value = next(
            (
                p[k]
                for k in (
                    "string_value",
                    "stringValue",
                    "int_value",
                    "intValue",
                    "long_value",
                    "longValue",
                    "timestamp_value",
                    "timestampValue",
                )
                if k in p
            ),
            None,
        )
        values = next(
            (
                p[k].get("values", [])
                for k in ("string_values", "stringValues", "int_values", "intValues")
                if k in p
            ),
            [],
        )
        if op == "EQUALS":
            ok = actual == value or str(actual) == str(value)
        elif op == "NOT_EQUALS":
            ok = not (actual == value or str(actual) == str(value))
        elif op == "IN":
            ok = actual in values or str(actual) in map(str, values)
        elif op == "IS_SUBSTRING":
            ok = str(value) in str(actual or "")
        elif op in ("GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS"):
            if actual is None:
                return False
            a, v = (
                (float(actual), float(value))
                if isinstance(actual, (int, float))
                else (str(actual), str(value))
            )
            ok = {
                "GREATER_THAN": a > v,
                "GREATER_THAN_EQUALS": a >= v,
                "LESS_THAN": a < v,
                "LESS_THAN_EQUALS": a <= v,
            }[op]
        else:
            raise invalid_input(f"Invalid filter operation: {p.get('operation')!r}")
        if not ok:
            return False
    return True


def parse_multipart(content_type: str, body: bytes) -> list[MultipartPart]:
    """Split a multipart/form-data body exactly (no newline or charset rewriting)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return []
    parts = []
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("Content-Disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        parts.append(
            MultipartPart(
                name.group(1) if name else None,
                filename.group(1) if filename else None,
                headers.get("Content-Type"),
                data,
            )
        )
    return parts
