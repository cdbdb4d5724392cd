"""Cold-start time of `unip-kfp validate` and `unip-kfp plan` on the example module.

Each command runs as a fresh process (`python -m unip_kfp ...` with this interpreter), so the
figure includes interpreter start-up and every import: what a user waits for at the prompt.
The children cache bytecode as users' installs do (`user_environment.py`), after one
uncounted warm-up run.
Prints the best of 5 runs in ms against the target; exits 1 when a figure misses it.

    python bench/bench_validate.py [--runs N] [--target-ms MS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from user_environment import child_environment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "train-test" / "manifests"
TARGET_MS = 300.0

COMMANDS = {
    "validate": ["validate", str(EXAMPLE)],
    "plan": ["plan", str(EXAMPLE)],
    "plan --format json": ["plan", str(EXAMPLE), "--format", "json"],
}


def time_command(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall-clock milliseconds of each run after a warm-up; a failing command aborts."""
    timings = []
    for run in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "unip_kfp", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise SystemExit(
                f"unip-kfp {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
            )
        if run:  # run 0 writes the bytecode caches
            timings.append(elapsed)
    return timings


def interpreter_baseline(runs: int, env: dict[str, str]) -> float:
    """Best time of a bare `python -c pass`: the part no code of ours can save."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    options = parser.parse_args()

    print(f"python: {sys.executable}")
    print(f"example: {EXAMPLE.relative_to(ROOT)}")
    print(
        f"runs per command: {options.runs} (best is reported), target < {options.target_ms:.0f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="unip-kfp-bench-") as scratch:
        env = child_environment(scratch)
        print(f"baseline  python -c pass: {interpreter_baseline(options.runs, env):7.1f} ms")
        return report(options, env)


def report(options: argparse.Namespace, env: dict[str, str]) -> int:
    failed = False
    for label, args in COMMANDS.items():
        timings = time_command(args, options.runs, env)
        best = min(timings)
        verdict = "PASS" if best < options.target_ms else "FAIL"
        failed |= verdict == "FAIL"
        median = sorted(timings)[len(timings) // 2]
        print(
            f"{verdict}  unip-kfp {label:<18} best {best:7.1f} ms  median {median:7.1f} ms  "
            f"(target < {options.target_ms:.0f} ms)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
