"""Shared input/output helpers for the stage scripts `training.py` and `testing.py`.

The platform hands every pipeline variable to a stage as an environment variable
`UNIP_PIPELINE_<NAME>` that holds a local path: a file or a folder for inputs, a folder
for outputs. An optional input that the caller did not give is an absent variable.
Standard library and numpy only.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

TARGET = "target"


class InputError(Exception):
    """A problem with the stage's inputs that the user can fix; the message says how."""


def env_path(name: str) -> Path:
    """The path held by the required variable `name`."""
    value = os.environ.get(name)
    if not value:
        raise InputError(
            f"the environment variable {name} is not set; the pipeline sets it for this "
            "stage (to run the script by hand, set it to a local path)"
        )
    return Path(value)


def optional_env_path(name: str) -> Path | None:
    """The path held by the optional variable `name`, or None when it is absent."""
    value = os.environ.get(name)
    return Path(value) if value else None


def output_dir(name: str) -> Path:
    """The output folder held by the required variable `name`, created if missing."""
    path = env_path(name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def single_file(path: Path, pattern: str) -> Path:
    """`path` itself if it is a file, else the only file matching `pattern` in the folder."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise InputError(f"{path} does not exist")
    found = sorted(p for p in path.glob(pattern) if p.is_file())
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise InputError(f"the folder {path} must hold exactly one {pattern} file (found: {names})")
    return found[0]


def read_xy(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a CSV table with a header: the feature names, X (float) and y (int).

    The target column is `target`; every other column is a numeric feature.
    """
    csv_path = single_file(path, "*.csv")
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise InputError(f"{csv_path} is empty; expected a header row and data rows")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    if TARGET not in header:
        raise InputError(f"{csv_path} has no '{TARGET}' column (columns: {', '.join(header)})")
    if not body:
        raise InputError(f"{csv_path} has a header but no data rows")
    t = header.index(TARGET)
    features = [h for i, h in enumerate(header) if i != t]
    x_rows, y = [], []
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(f"{csv_path}:{line}: {len(row)} fields, expected {len(header)}")
        try:
            x_rows.append([float(v) for i, v in enumerate(row) if i != t])
            y.append(int(float(row[t])))
        except ValueError as e:
            raise InputError(f"{csv_path}:{line}: not a number ({e})") from None
    return features, np.array(x_rows, dtype=float), np.array(y, dtype=int)


def read_json(path: Path) -> Any:
    """Parse a JSON file, or the only `*.json` file in a folder."""
    json_path = single_file(path, "*.json")
    try:
        return json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{json_path} is not valid JSON: {e}") from None
