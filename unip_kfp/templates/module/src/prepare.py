"""Stage `prepare`: standardise the dataset's numeric columns into the variable `features`.

Reads:
  UNIP_PIPELINE_DATASET  a CSV file (or a folder holding one *.csv): a header row, an `id`
                         column and numeric columns
  UNIP_PIPELINE_OPTIONS  optional JSON file (or a folder holding one *.json), such as
                         {"columns": ["temperature", "pressure"]}; absent when not given
  ROUND_DIGITS           the stage's `env` in the manifest: digits kept in features.csv
Writes, into the folder UNIP_PIPELINE_FEATURES (it exists, empty, when the stage starts):
  features.csv  `id` and the z-score of each chosen column
  stats.json    the mean and standard deviation of each chosen column

The platform's contract: every input and output is a path in a UNIP_PIPELINE_* variable,
outputs are folders, and exit status 0 means success. Standard library only.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
from pathlib import Path


class InputError(Exception):
    """A problem with an input, reported in one line (exit status 1)."""


def input_file(variable: str, suffix: str, *, optional: bool = False) -> Path | None:
    """The file a variable points to; a folder must hold exactly one `*suffix` file."""
    value = os.environ.get(variable)
    if not value:
        if optional:
            return None
        raise InputError(f"{variable} is not set: the platform passes every input this way")
    path = Path(value)
    if path.is_dir():
        found = sorted(path.glob(f"*{suffix}"))
        if len(found) != 1:
            raise InputError(f"{variable}: the folder {path} must hold one *{suffix} file")
        path = found[0]
    if not path.is_file():
        raise InputError(f"{variable}: no such file {path}")
    return path


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    if "id" not in header or not rows:
        raise InputError(f"{path}: expected a header with an `id` column and some rows")
    return header, rows


def chosen_columns(header: list[str], options: Path | None) -> list[str]:
    """Every column but `id`, or the `columns` the options name."""
    columns = [name for name in header if name != "id"]
    if options is None:
        print("prepare: options not given, using every column")
        return columns
    wanted = json.loads(options.read_text(encoding="utf-8")).get("columns", columns)
    unknown = [name for name in wanted if name not in columns]
    if unknown or not wanted:
        raise InputError(f"options: unknown columns {unknown} (the table has {columns})")
    return list(wanted)


def standardise(rows: list[dict[str, str]], columns: list[str], digits: int) -> dict[str, dict]:
    """Replace each value by its z-score in place; return each column's mean and std."""
    stats = {}
    for column in columns:
        try:
            values = [float(row[column]) for row in rows]
        except ValueError as error:
            raise InputError(f"column {column}: {error}") from None
        mean, std = statistics.fmean(values), statistics.pstdev(values) or 1.0
        stats[column] = {"mean": round(mean, digits), "std": round(std, digits)}
        for index, row in enumerate(rows):
            row[column] = str(round((values[index] - mean) / std, digits))
    return stats


def main() -> int:
    try:
        dataset = input_file("UNIP_PIPELINE_DATASET", ".csv")
        options = input_file("UNIP_PIPELINE_OPTIONS", ".json", optional=True)
        features = Path(os.environ.get("UNIP_PIPELINE_FEATURES") or "")
        if not features.is_dir():
            raise InputError("UNIP_PIPELINE_FEATURES is not an output folder")
        assert dataset is not None
        header, rows = read_table(dataset)
        columns = chosen_columns(header, options)
        stats = standardise(rows, columns, int(os.environ.get("ROUND_DIGITS", "4")))
    except (InputError, json.JSONDecodeError) as error:
        print(f"prepare: error: {error}", file=sys.stderr)
        return 1
    with (features / "features.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", *columns], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (features / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(f"prepare: {len(rows)} rows, columns {', '.join(columns)} -> {features}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
