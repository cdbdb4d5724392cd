"""Stage `stage1`: fit a classifier on `xy_train` and save it to `model`.

Reads:
  UNIP_PIPELINE_XY_TRAIN          CSV file (or a folder with one *.csv); class column `target`
  UNIP_PIPELINE_EXTRA_PARAMETERS  optional JSON file (or a folder with one *.json): the
                                  `param_grid` of sklearn's GridSearchCV
Writes, into the folder UNIP_PIPELINE_MODEL:
  model.pkl      the best estimator found by the grid search (pickle)
  params.json    its parameters from the grid
  features.json  the feature columns, in the order the model expects them

Exit status: 0 on success, 1 on an input problem (the message says what to fix).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
from dataio import InputError, env_path, optional_env_path, output_dir, read_json, read_xy
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

DEFAULT_PARAM_GRID: dict[str, list[Any]] = {"C": [0.1, 1.0, 10.0]}
CV_FOLDS = 3


def make_estimator() -> LogisticRegression:
    """The estimator whose hyperparameters the grid search tunes."""
    return LogisticRegression(max_iter=1000)


def check_param_grid(grid: Any, estimator: LogisticRegression) -> dict[str, list[Any]]:
    """Validate a user `param_grid` (a JSON object of lists) against the estimator."""
    if not isinstance(grid, dict) or not grid:
        raise InputError(
            "extra_parameters must be a non-empty JSON object such as "
            '{"C": [0.1, 1.0]}, used as GridSearchCV(param_grid=...)'
        )
    known = estimator.get_params()
    unknown = sorted(k for k in grid if k not in known)
    if unknown:
        raise InputError(
            f"extra_parameters names unknown {type(estimator).__name__} parameters: "
            f"{', '.join(unknown)} (valid: {', '.join(sorted(known))})"
        )
    return {k: v if isinstance(v, list) else [v] for k, v in grid.items()}


def load_param_grid(path: Path | None, estimator: LogisticRegression) -> dict[str, list[Any]]:
    """The grid from extra_parameters if given, else the default grid."""
    if path is None:
        print(f"training: extra_parameters not given, default param_grid {DEFAULT_PARAM_GRID}")
        return DEFAULT_PARAM_GRID
    grid = check_param_grid(read_json(path), estimator)
    print(f"training: param_grid from {path}: {json.dumps(grid)}")
    return grid


def fit(x: np.ndarray, y: np.ndarray, grid: dict[str, list[Any]]) -> GridSearchCV:
    """Run the grid search with CV_FOLDS-fold cross-validation on accuracy.

    A grid value the estimator rejects fails the stage instead of being skipped.
    """
    search = GridSearchCV(
        make_estimator(), grid, cv=CV_FOLDS, scoring="accuracy", error_score="raise"
    )
    try:
        search.fit(x, y)
    except ValueError as e:  # an invalid value in the grid, such as C <= 0
        raise InputError(f"the grid search failed, check extra_parameters: {e}") from None
    return search


def save(model_dir: Path, search: GridSearchCV, features: list[str]) -> None:
    """Write model.pkl, params.json and features.json into model_dir."""
    with (model_dir / "model.pkl").open("wb") as f:
        pickle.dump(search.best_estimator_, f)
    (model_dir / "params.json").write_text(
        json.dumps(search.best_params_, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (model_dir / "features.json").write_text(json.dumps(features) + "\n", encoding="utf-8")


def main() -> int:
    try:
        train_path = env_path("UNIP_PIPELINE_XY_TRAIN")
        model_dir = output_dir("UNIP_PIPELINE_MODEL")
        for name in ("MY_VARIABLE", "ANOTHER_VAR"):
            if name in os.environ:
                print(f"training: stage env {name}={os.environ[name]}")
        features, x, y = read_xy(train_path)
        classes = sorted(set(y.tolist()))
        print(f"training: {len(y)} rows, features {', '.join(features)}, classes {classes}")
        estimator = make_estimator()
        grid = load_param_grid(optional_env_path("UNIP_PIPELINE_EXTRA_PARAMETERS"), estimator)
        search = fit(x, y, grid)
        save(model_dir, search, features)
    except InputError as e:
        print(f"training: error: {e}", file=sys.stderr)
        return 1
    print(f"training: best params {search.best_params_}, cv accuracy {search.best_score_:.4f}")
    print(f"training: model saved to {model_dir / 'model.pkl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
