"""Stage `stage2`: score the model from `model` on `xy_test`, write `testing_results`.

Reads:
  UNIP_PIPELINE_MODEL             the folder written by training.py (model.pkl, features.json)
  UNIP_PIPELINE_XY_TEST           CSV file (or a folder with one *.csv); class column `target`
  UNIP_PIPELINE_EXTRA_PARAMETERS  optional; only logged (the grid that training used)
Writes, into the folder UNIP_PIPELINE_TESTING_RESULTS:
  metrics.csv    header `metric,value`; rows accuracy, f1, precision, recall (macro
                 averages) and n_test

Exit status: 0 on success, 1 on an input problem (the message says what to fix).
"""

from __future__ import annotations

import csv
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
from dataio import InputError, env_path, optional_env_path, output_dir, read_json, read_xy
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score


def load_model(model_path: Path) -> tuple[Any, list[str] | None]:
    """The pickled estimator and, if recorded, its feature column order."""
    model_dir = model_path if model_path.is_dir() else model_path.parent
    pkl = model_dir / "model.pkl" if model_path.is_dir() else model_path
    if not pkl.is_file():
        raise InputError(f"no model at {pkl}; run training.py first")
    with pkl.open("rb") as f:
        model = pickle.load(f)
    features_file = model_dir / "features.json"
    features = (
        json.loads(features_file.read_text(encoding="utf-8")) if features_file.is_file() else None
    )
    return model, features


def align(x: np.ndarray, columns: list[str], features: list[str] | None) -> np.ndarray:
    """Reorder the test columns into the training order."""
    if features is None or columns == features:
        return x
    missing = [f for f in features if f not in columns]
    if missing:
        raise InputError(f"xy_test lacks the training feature columns: {', '.join(missing)}")
    return x[:, [columns.index(f) for f in features]]


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> list[tuple[str, str]]:
    """The metric rows; scores with 6 decimals."""
    scores = {
        "accuracy": accuracy_score(y_true, y_pred),
        "f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "precision": precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall": recall_score(y_true, y_pred, average="macro", zero_division=0),
    }
    rows = [(name, f"{float(value):.6f}") for name, value in scores.items()]
    return [*rows, ("n_test", str(len(y_true)))]


def write_metrics(path: Path, rows: list[tuple[str, str]]) -> None:
    """Write the metrics table as CSV."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["metric", "value"])
        writer.writerows(rows)


def main() -> int:
    try:
        model, features = load_model(env_path("UNIP_PIPELINE_MODEL"))
        columns, x, y = read_xy(env_path("UNIP_PIPELINE_XY_TEST"))
        results_dir = output_dir("UNIP_PIPELINE_TESTING_RESULTS")
        extra = optional_env_path("UNIP_PIPELINE_EXTRA_PARAMETERS")
        if extra is None:
            print("testing: extra_parameters not given")
        else:
            print(f"testing: extra_parameters used in training: {json.dumps(read_json(extra))}")
        print(f"testing: {len(y)} rows, model {type(model).__name__}")
        rows = compute_metrics(y, model.predict(align(x, columns, features)))
        write_metrics(results_dir / "metrics.csv", rows)
    except InputError as e:
        print(f"testing: error: {e}", file=sys.stderr)
        return 1
    print("testing: " + ", ".join(f"{name}={value}" for name, value in rows))
    print(f"testing: metrics written to {results_dir / 'metrics.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
