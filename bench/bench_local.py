"""Benchmark of the local runner (`unip-kfp run`, issues #4 and #9). Prints figures; not a test.

1. Per-stage overhead: N stages that each run `true`, chained in manifest order. The
   overhead per stage is the slope of the run's wall time over N (fixed per-run costs such
   as reading the package drop out), minus what spawning `true` itself costs. Measured
   three ways: stages without inputs (no namespace needed), stages that each get the
   previous stage's output (a private mount namespace with one overlay view per stage),
   and the same with a `path:` target (the namespace also chroots into a skeleton root).
2. Handing a 1 GiB internal variable to the next stage: stage 1 writes 1 GiB into its
   output folder and, as its very last step, records the time; stage 2's first step
   records the time. The difference is the handover: stage exit, the runner noticing,
   preparing stage 2's view of the input, starting the wrapper. Measured with overlay
   views (namespaces) and with the copy fallback (`UNIP_KFP_LOCAL_ISOLATION=copy`).
3. For comparison: `kfp.local` running N trivial lightweight components
   (`SubprocessRunner(use_venv=False)`, `install_kfp_package=False`).

Targets: < 30 ms per stage (also with namespaces); handover < 50 ms with overlay views
(the copy fallback has no target: it costs what copying 1 GiB costs here). Exit status 1
when a target is missed.
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
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

import unip_kfp
from unip_kfp.local.runner import run_local
from unip_kfp.local.sandbox import ISOLATION_ENV, choose_isolation

PER_STAGE_TARGET_MS = 30.0
HANDOVER_TARGET_MS = 50.0
GIB = 1024**3


def _module(
    folder: Path, name: str, stages: list[dict[str, object]], paths: dict[str, str] | None = None
) -> str:
    """Write a manifest folder and compile it; returns the package path."""
    manifests = folder / "manifests"
    manifests.mkdir(parents=True)
    variables = [{"name": v, **({"path": paths[v]} if v in (paths or {}) else {})}
                 for v in _vars(stages)]
    pipeline = {
        "apiVersion": "unified-platform.cs.hse.ru/v1",
        "kind": "ExperimentPipeline",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {"vars": variables, "stages": stages},
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


def _chain(count: int, kind: str) -> tuple[list[dict[str, object]], dict[str, str]]:
    """`count` `true` stages: alone, each reading the previous output, or that via a path."""
    if kind == "plain":
        return [_stage(f"s{i}", ["true"]) for i in range(count)], {}
    stages = [_stage("s0", ["true"], outputs=["v0"])]
    stages += [_stage(f"s{i}", ["true"], [f"v{i - 1}"], [f"v{i}"]) for i in range(1, count)]
    paths = {f"v{i}": f"/unip-bench/v{i}" for i in range(count)} if kind == "path" else {}
    return stages, paths


def per_stage_overhead(root: Path, stages: int, repeat: int, kind: str) -> dict[str, float]:
    """Slope of wall time over the number of `true` stages, minus spawning `true`."""
    times: dict[int, list[float]] = {}
    gaps: list[float] = []
    for count in (2, stages):
        folder = root / f"{kind}-{count}"
        chain, paths = _chain(count, kind)
        package = _module(folder, f"{kind}-{count}", chain, paths)
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
    two, many = statistics.median(times[2]), statistics.median(times[stages])
    slope = (many - two) / (stages - 2)
    command = statistics.median(spawn)
    return {
        "run_1_ms": (two - slope) * 1000,
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


def _isolated(mode: str, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """`measure()` with stages kept apart by `mode` ("auto": namespaces, or "copy")."""
    previous = os.environ.get(ISOLATION_ENV)
    os.environ[ISOLATION_ENV] = mode
    try:
        return measure()
    finally:
        if previous is None:
            os.environ.pop(ISOLATION_ENV)
        else:
            os.environ[ISOLATION_ENV] = previous


Row = tuple[str, float, "float | None"]


def _measure(root: Path, stages: int, repeat: int, namespaces: bool) -> tuple[list[Row], float]:
    """Every figure as (label, milliseconds, target or None); and kfp.local's ratio."""
    few = max(1, repeat // 2)
    plain = per_stage_overhead(root, stages, repeat, "plain")
    rows: list[Row] = [
        ("unip-kfp local: run of 1 `true` stage (fixed cost)", plain["run_1_ms"], None),
        (f"unip-kfp local: run of {stages} `true` stages", plain["run_n_ms"], None),
        ("  wall time per extra stage (slope)", plain["slope_ms"], None),
        ("  spawning `true` itself", plain["command_ms"], None),
        ("per-stage overhead, stages without inputs", plain["overhead_ms"], PER_STAGE_TARGET_MS),
        ("  runner gap: stage exit -> next start", plain["gap_ms"], None),
    ]
    if namespaces:
        view = per_stage_overhead(root, stages, repeat, "view")
        path = per_stage_overhead(root, stages, repeat, "path")
        rows += [
            ("per-stage overhead, namespace + 1 overlay view", view["overhead_ms"],
             PER_STAGE_TARGET_MS),
            ("per-stage overhead, + path: target (skeleton root)", path["overhead_ms"],
             PER_STAGE_TARGET_MS),
        ]
        big = _isolated("auto", lambda: handover(root / "overlay", GIB, few))
        rows += [("1 GiB handover, overlay view (namespaces)", big["handover_ms"],
                  HANDOVER_TARGET_MS),
                 ("  runner gap for that handover", big["executor_gap_ms"], None)]
    copied = _isolated("copy", lambda: handover(root / "copy", GIB, few))
    small = handover(root / "small", 1, repeat)
    kfp = kfp_local(root, stages, few)
    rows += [
        ("1 GiB handover, copy fallback (no namespaces)", copied["handover_ms"], None),
        ("1 byte handover (default isolation)", small["handover_ms"], None),
        (f"kfp.local: per trivial component ({stages} chained)", kfp["per_task_ms"], None),
    ]
    return rows, kfp["per_task_ms"] / max(plain["slope_ms"], 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="unip-bench-"))
    os.environ["TMPDIR"] = str(root / "tmp")
    (root / "tmp").mkdir()
    tempfile.tempdir = None
    isolation = choose_isolation(str(root / "probe"))
    try:
        rows, ratio = _measure(root, args.stages, args.repeat, isolation.namespaces)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not isolation.namespaces:
        print(f"no private mount namespaces here ({isolation.reason}): copy fallback only")
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
    print(f"kfp.local costs {ratio:.1f}x the wall time per stage of the unip-kfp local runner")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
