"""Benchmark of `run --reuse` (issue #18). Prints figures; not a test.

1. Hashing cost: a 1 GiB input hashed the first time (read in full) and by a later run
   (a new handle on the module's memo: found by device, inode, size and mtime, not read).
2. The example (examples/train-test): a full run, then the same run with `--reuse` after
   changing only the last stage's script (a comment appended), so only that stage runs.
   The stages' Python is this interpreter (its folder first on PATH), as in the tests.

Usage: python bench/bench_reuse.py [--size-mib N] [--repeat R]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import unip_kfp
from unip_kfp.local.contenthash import HashMemo, content_hash

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train-test"


def hashing(root: Path, size_mib: int) -> tuple[float, float]:
    """Seconds to hash `size_mib` MiB the first time, and again from a later run."""
    data = root / "big.bin"
    block = os.urandom(1 << 20)
    with open(data, "wb") as handle:
        for _ in range(size_mib):
            handle.write(block)
    memo_path = str(root / "cache" / "hashes.sqlite")
    memo = HashMemo(memo_path)
    began = time.perf_counter()
    first = content_hash(str(data), memo)
    cold = time.perf_counter() - began
    memo.close()
    later = HashMemo(memo_path)
    began = time.perf_counter()
    again = content_hash(str(data), later)
    warm = time.perf_counter() - began
    later.close()
    assert first == again
    data.unlink()
    return cold, warm


def _quiet(line: str) -> None:
    del line


def example(root: Path, repeat: int) -> tuple[float, float, list[str]]:
    """Median wall time of a full example run, and of a --reuse run with only the last
    stage's script changed; the statuses of the last such run."""
    full: list[float] = []
    reused: list[float] = []
    statuses: list[str] = []
    for number in range(repeat):
        module = root / f"module-{number}"
        shutil.copytree(EXAMPLE, module, ignore=shutil.ignore_patterns(".unip-kfp", "results"))
        project = unip_kfp.load(str(module / "manifests"))
        inputs = {"xy_train": str(module / "data" / "xy_train.csv"),
                  "xy_test": str(module / "data" / "xy_test.csv")}
        began = time.perf_counter()
        project.run_local(inputs=inputs, reuse=True, echo=_quiet)
        full.append(time.perf_counter() - began)
        script = module / "src" / "testing.py"
        script.write_text(script.read_text() + "\n# changed\n")
        began = time.perf_counter()
        result = project.run_local(inputs=inputs, reuse=True, echo=_quiet)
        reused.append(time.perf_counter() - began)
        statuses = [f"{s.name}: {s.status}" for s in result.stages]
    return statistics.median(full), statistics.median(reused), statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="unip-bench-reuse-"))
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    try:
        cold, warm = hashing(root, args.size_mib)
        full, reused, statuses = example(root, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"hashing {args.size_mib} MiB: first time {cold * 1000:.0f} ms "
          f"({args.size_mib / cold:.0f} MiB/s), again in a later run {warm * 1000:.2f} ms")
    print(f"example, full run:                          {full:.2f} s")
    print(f"example, --reuse, only the last stage changed: {reused:.2f} s "
          f"(saves {full - reused:.2f} s; {', '.join(statuses)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
