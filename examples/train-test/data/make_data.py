"""Generate the example data sets `xy_train.csv` and `xy_test.csv` next to this script.

Four numeric features `x1`..`x4` and an integer class `target` (0 or 1). The class
follows a noisy linear rule of `x1`..`x3`; `x4` is pure noise. Only the standard
library is used and the seed is fixed, so the files are the same on every machine:

    python3 data/make_data.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20240531
N_TRAIN = 300
N_TEST = 100
FEATURES = ("x1", "x2", "x3", "x4")
WEIGHTS = (1.5, -1.0, 0.75, 0.0)
NOISE = 0.6


def make_row(rng: random.Random) -> list[str]:
    """One row: the features rounded to 4 decimals, then the class."""
    x = [round(rng.gauss(0.0, 1.0), 4) for _ in FEATURES]
    score = sum(w * v for w, v in zip(WEIGHTS, x, strict=True)) + rng.gauss(0.0, NOISE)
    return [f"{v:.4f}" for v in x] + [str(int(score > 0.0))]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Write a header and the rows with Unix line endings."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*FEATURES, "target"])
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    rows = [make_row(rng) for _ in range(N_TRAIN + N_TEST)]
    here = Path(__file__).resolve().parent
    write_csv(here / "xy_train.csv", rows[:N_TRAIN])
    write_csv(here / "xy_test.csv", rows[N_TRAIN:])
    print(f"wrote {N_TRAIN} training and {N_TEST} test rows to {here}")


if __name__ == "__main__":
    main()
