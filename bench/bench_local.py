"""Benchmark of the local runner (`unip-kfp run`, issue #4). Prints figures; not a test.

1. Per-stage overhead: N stages that each run `true`, chained in manifest order. The
   overhead per stage is the slope of the run's wall time over N (fixed per-run costs such
   as reading the package drop out), minus what spawning `true` itself costs.
2. Handing a 1 GiB internal variable to the next stage: stage 1 writes 1 GiB into its
   output folder and, as its very last step, records the time; stage 2's first step
   records the time. The difference is the handover: stage exit, the runner noticing,
   resolving stage 2's inputs (the folder itself, no copy), starting the wrapper.
3. For comparison: `kfp.local` running N trivial lightweight components
   (`SubprocessRunner(use_venv=False)`, `install_kfp_package=False`).

Targets: < 30 ms per stage; handover < 50 ms. Exit status 1 when a target is missed.
Usage: python bench/bench_local.py [--stages N] [--repeat R]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

import unip_kfp
from unip_kfp.local import run_local

PER_STAGE_TARGET_MS = 30.0
HANDOVER_TARGET_MS = 50.0
GIB = 1024**3


def _module(folder: Path, name: str, stages: list[dict[str, object]]) -> str:
    """Write a manifest folder and compile it; returns the package path."""
    manifests = folder / "manifests"
    manifests.mkdir(parents=True)
    pipeline = {
        "apiVersion": "unified-platform.cs.hse.ru/v1",
        "kind": "ExperimentPipeline",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {"vars": [{"name": v} for v in _vars(stages)], "stages": stages},
    }
    (manifests / "pipeline.yaml").write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    package = folder / f"{name}.yaml"
    unip_kfp.load(str(manifests)).compile(str(package))
    return str(package)


def _vars(stages: list[dict[str, object]]) -> list[str]:
    names: dict[str, None] = {}
    for stage in stages:
        for key in ("inputs", "outputs"):
            for ref in stage[key]:  # type: ignore[attr-defined]
                names[ref["name"]] = None
    return list(names)


def _stage(
    name: str, cmd: list[str], inputs: Sequence[str] = (), outputs: Sequence[str] = ()
) -> dict[str, object]:
    return {
        "name": name,
        "image": {"existingImageName": "python:3.11-slim"},
        "inputs": [{"name": i} for i in inputs],
        "outputs": [{"name": o} for o in outputs],
        "entryPoint": {"cmd": cmd},
    }


def _quiet(line: str) -> None:
    pass


def _timed_run(package: str, workdir: Path) -> tuple[float, object]:
    began = time.perf_counter()
    result = run_local(package, workdir=str(workdir), echo=_quiet)
    return time.perf_counter() - began, result


def per_stage_overhead(root: Path, stages: int, repeat: int) -> dict[str, float]:
    """Slope of wall time over the number of `true` stages, minus spawning `true`."""
    times: dict[int, list[float]] = {}
    gaps: list[float] = []
    for count in (1, stages):
        folder = root / f"trivial-{count}"
        package = _module(
            folder, f"trivial-{count}", [_stage(f"s{i}", ["true"]) for i in range(count)]
        )
        _timed_run(package, folder)  # warm-up: page cache, imports
        times[count] = []
        for _ in range(repeat):
            seconds, result = _timed_run(package, folder)
            times[count].append(seconds)
            done = result.stages  # type: ignore[attr-defined]
            gaps += [b.started - a.finished for a, b in zip(done, done[1:], strict=False)]
    spawn = []
    for _ in range(max(repeat, 5) * stages):
        began = time.perf_counter()
        subprocess.run(["true"], check=True)
        spawn.append(time.perf_counter() - began)
    one, many = statistics.median(times[1]), statistics.median(times[stages])
    slope = (many - one) / (stages - 1)
    command = statistics.median(spawn)
    return {
        "run_1_ms": one * 1000,
        "run_n_ms": many * 1000,
        "slope_ms": slope * 1000,
        "command_ms": command * 1000,
        "overhead_ms": (slope - command) * 1000,
        "gap_ms": statistics.median(gaps) * 1000,
    }


def handover(root: Path, size: int, repeat: int) -> dict[str, float]:
    """Time from stage 1's last step to stage 2's first step, with `size` bytes handed over."""
    folder = root / f"handover-{size}"
    package = _module(
        folder,
        "handover",
        [
            _stage(
                "write",
                [
                    "sh",
                    "-c",
                    f'\'head -c {size} /dev/zero > "$UNIP_PIPELINE_BIG/blob" '
                    '&& date +%s%N > "$UNIP_PIPELINE_BIG/t_end"\'',
                ],
                outputs=["big"],
            ),
            _stage(
                "read",
                [
                    "sh",
                    "-c",
                    '\'date +%s%N > "$UNIP_PIPELINE_T/t_start" '
                    '&& test $(wc -c < "$UNIP_PIPELINE_BIG/blob") -eq '
                    + str(size)
                    + ' && cp "$UNIP_PIPELINE_BIG/t_end" "$UNIP_PIPELINE_T/"\'',
                ],
                inputs=["big"],
                outputs=["t"],
            ),
        ],
    )
    measured, executor = [], []
    for _ in range(repeat):
        result = run_local(package, workdir=str(folder), keep=True, echo=_quiet)
        out = Path(result.outputs["t"])
        t_end = int((out / "t_end").read_text())
        t_start = int((out / "t_start").read_text())
        measured.append((t_start - t_end) / 1e6)
        write, read = result.stages
        executor.append((read.started - write.finished) * 1000)
        shutil.rmtree(result.run_dir)
    return {
        "handover_ms": statistics.median(measured),
        "executor_gap_ms": statistics.median(executor),
    }


def kfp_local(root: Path, stages: int, repeat: int) -> dict[str, float]:
    """kfp.local: a pipeline of N chained trivial lightweight components."""
    from kfp import dsl, local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "kfp-root"))

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def noop():  # no annotations: kfp reads them as parameter and output types
        pass

    @dsl.pipeline(name="trivial")
    def trivial() -> None:
        previous = None
        for _ in range(stages):
            task = noop()
            if previous is not None:
                task.after(previous)
            previous = task

    times = []
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kfp.local logs every task loudly
    saved = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = devnull
        import logging

        logging.disable(logging.CRITICAL)
        trivial()  # warm-up
        for _ in range(repeat):
            began = time.perf_counter()
            trivial()
            times.append(time.perf_counter() - began)
    finally:
        sys.stdout, sys.stderr = saved
        devnull.close()
    per_task = statistics.median(times) / stages
    return {"per_task_ms": per_task * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="unip-bench-"))
    os.environ["TMPDIR"] = str(root / "tmp")
    (root / "tmp").mkdir()
    tempfile.tempdir = None
    try:
        stage = per_stage_overhead(root, args.stages, args.repeat)
        big = handover(root, GIB, max(1, args.repeat // 2))
        small = handover(root, 1, args.repeat)
        kfp = kfp_local(root, args.stages, max(1, args.repeat // 2))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rows = [
        ("unip-kfp local: run of 1 `true` stage (fixed cost)", stage["run_1_ms"], None),
        (f"unip-kfp local: run of {args.stages} `true` stages", stage["run_n_ms"], None),
        ("  wall time per extra stage (slope)", stage["slope_ms"], None),
        ("  spawning `true` itself", stage["command_ms"], None),
        ("per-stage overhead of the runner", stage["overhead_ms"], PER_STAGE_TARGET_MS),
        ("  runner gap: stage exit -> next start", stage["gap_ms"], None),
        (
            "1 GiB handover: stage 1 last step -> stage 2 first",
            big["handover_ms"],
            HANDOVER_TARGET_MS,
        ),
        ("  runner gap for the 1 GiB handover", big["executor_gap_ms"], None),
        ("1 byte handover (same measure)", small["handover_ms"], None),
        (f"kfp.local: per trivial component ({args.stages} chained)", kfp["per_task_ms"], None),
    ]
    failed = False
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'ms':>9}  {'target':>8}  result")
    for label, value, target in rows:
        verdict, goal = "", ""
        if target is not None:
            ok = value < target
            failed |= not ok
            verdict, goal = ("PASS" if ok else "FAIL"), f"< {target:.0f}"
        print(f"{label.ljust(width)}  {value:9.2f}  {goal:>8}  {verdict}")
    ratio = kfp["per_task_ms"] / max(stage["slope_ms"], 1e-9)
    print(f"kfp.local costs {ratio:.1f}x the wall time per stage of the unip-kfp local runner")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
