"""Stage `score`: flag the rows whose largest |z-score| exceeds the threshold.

Reads:
  UNIP_PIPELINE_FEATURES   the folder `prepare` wrote: features.csv
  UNIP_PIPELINE_THRESHOLD  a file holding the number the caller passed (an FP64 input: the
                           platform saves values as text in a file, and passes its path)
Writes, into the folder UNIP_PIPELINE_RESULTS:
  scores.csv    id, score (the largest |z-score| of the row), flagged (true/false)
  summary.json  rows, flagged rows, the threshold and the columns scored

Exit status 0 on success, 1 on an input problem (the message says what to fix).
Standard library only.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path


class InputError(Exception):
    """A problem with an input, reported in one line (exit status 1)."""


def folder(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value or not Path(value).is_dir():
        raise InputError(f"{variable} is not set to a folder")
    return Path(value)


def read_threshold() -> float:
    value = os.environ.get("UNIP_PIPELINE_THRESHOLD")
    if not value:
        raise InputError("UNIP_PIPELINE_THRESHOLD is not set")
    text = Path(value).read_text(encoding="utf-8").strip()
    try:
        return float(text)
    except ValueError:
        raise InputError(f"threshold: {text!r} is not a number") from None


def main() -> int:
    try:
        features = folder("UNIP_PIPELINE_FEATURES")
        results = folder("UNIP_PIPELINE_RESULTS")
        threshold = read_threshold()
        with (features / "features.csv").open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = [name for name in reader.fieldnames or [] if name != "id"]
    except (InputError, OSError) as error:
        print(f"score: error: {error}", file=sys.stderr)
        return 1
    flagged = 0
    with (results / "scores.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score", "flagged"])
        for row in rows:
            score = max(abs(float(row[column])) for column in columns)
            flagged += score > threshold
            writer.writerow([row["id"], f"{score:.4f}", str(score > threshold).lower()])
    summary = {"rows": len(rows), "flagged": flagged, "threshold": threshold, "columns": columns}
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"score: {flagged} of {len(rows)} rows above {threshold} -> {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
