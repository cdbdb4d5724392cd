"""Compile time of unip-kfp against a hand-written KFP DSL pipeline of the same shape.

1. In process, for N = 1, 10, 100, 500 chained stages (each stage has its own image and
   command, one artifact in and one out):
   - unip-kfp: `unip_kfp.load(folder).compile()` on generated manifests. This covers
     reading, validating, planning, building the components and the pipeline, and compiling.
   - KFP DSL: N `@dsl.container_component`s with one `Input[Artifact]` and one
     `Output[Artifact]` each, an importer feeding the first stage, and
     `compiler.Compiler().compile`.
   It prints the best of several runs for both and their ratio. Target: ratio <= 1.2 at N = 500.
2. A cold start of `unip-kfp compile examples/train-test/manifests` as a subprocess, best
   of 5. Target: < 1.5 s.

It prints PASS/FAIL for each target and exits 1 when a target is missed. On a miss (or with
`--profile`), it times unip-kfp's phases at the largest N; `--profile` adds cProfile tables
(cumulative and own time).

    python bench/bench_compile.py [--sizes 1,10,100,500] [--runs 3] [--profile]
"""

# No `from __future__ import annotations`: kfp reads the DSL components' annotations at run
# time.

import argparse
import cProfile
import gc
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "train-test" / "manifests"
RATIO_TARGET = 1.2
RATIO_AT = 500
COLD_TARGET_S = 1.5
HEADER = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: bench-{n}
  namespace: bench
spec:
  connectedBoxes:
    - name: data-box
      path: /mnt/data
      default: true
      mountS3Box:
        s3BoxName: bench-box
  vars:
"""
STAGE = """\
    - name: stage-{i}
      image:
        existingImageName: registry.example.com/bench/stage-{i}:1
      inputs:
        - name: v{i}
      outputs:
        - name: v{j}
      entryPoint:
        cmd: [python3, stage_{i}.py, --step, "{i}"]
"""


def write_manifest(folder: Path, n: int) -> Path:
    """An N-stage chain: stage i reads v<i> and writes v<i+1>; v0 is the input."""
    text = HEADER.format(n=n)
    text += "".join(f"    - name: v{i}\n" for i in range(n + 1))
    text += "  stages:\n" + "".join(STAGE.format(i=i, j=i + 1) for i in range(n))
    path = folder / f"bench-{n}" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.parent


def compile_unip(folder: Path) -> int:
    import unip_kfp

    (package,) = unip_kfp.load(str(folder), user="bench").compile()
    return len(package.content)


def compile_dsl(n: int, scratch: Path) -> int:
    """The same shape written by hand with the KFP DSL, compiled to a file."""
    from kfp import compiler, dsl
    from kfp.dsl import Artifact, Input, Output

    def make(i: int) -> Callable:
        def stage(source: Input[Artifact], result: Output[Artifact]):
            return dsl.ContainerSpec(
                image=f"registry.example.com/bench/stage-{i}:1",
                command=["sh", "-c", f'python3 stage_{i}.py --step {i} "$0" "$1"'],
                args=[source.path, result.path],
            )

        stage.__name__ = f"stage_{i}"
        return dsl.container_component(stage)

    components = [make(i) for i in range(n)]

    @dsl.pipeline(name=f"dsl-{n}")
    def chain(v0: str) -> Artifact:
        previous = dsl.importer(artifact_uri=v0, artifact_class=dsl.Artifact).output
        for component in components:
            previous = component(source=previous).outputs["result"]
        return previous

    path = scratch / f"dsl-{n}.yaml"
    compiler.Compiler().compile(chain, str(path))
    return path.stat().st_size


def best_of(runs: int, func: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "unip-kfp"
    found = str(script) if script.exists() else shutil.which("unip-kfp")
    return [found] if found else [sys.executable, "-m", "unip_kfp"]


def cold_start(runs: int, scratch: Path) -> float:
    best = float("inf")
    command = [*cli_command(), "compile", str(EXAMPLE), "-o", str(scratch / "cold"), "--user", "b"]
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        best = min(best, elapsed)
    return best


def phases(folder: Path, runs: int) -> None:
    """Where unip-kfp's time goes, phase by phase (best of RUNS each)."""
    import yaml
    from kfp import compiler

    from unip_kfp.components import stage_component
    from unip_kfp.loader import load_project
    from unip_kfp.pipeline import CompileOptions, build_pipeline
    from unip_kfp.plan import build_plan

    manifests = load_project([str(folder)])
    plan = build_plan(manifests, user="bench").pipelines[0]
    graph = build_pipeline(plan, CompileOptions())
    target = folder.parent / f"{folder.name}-phases.yaml"  # outside the manifest folder
    compiler.Compiler().compile(graph, str(target))
    doc = yaml.safe_load(target.read_text())
    short = yaml.safe_load(target.read_text())
    for executor in short["deploymentSpec"]["executors"].values():
        if "container" in executor:
            executor["container"]["command"] = ["sh", "-c", "x", "unip-stage"]
    figures = {
        "read manifests (loader.load_project)": lambda: load_project([str(folder)]),
        "validate + plan (plan.build_plan)": lambda: build_plan(manifests, user="bench"),
        "stage components (components.stage_component)": lambda: [
            stage_component(plan, s) for s in plan.stages
        ],
        "pipeline IR (pipeline.build_pipeline, kfp GraphComponent)": lambda: build_pipeline(
            plan, CompileOptions()
        ),
        "write package (kfp Compiler.compile: yaml.dump)": lambda: compiler.Compiler().compile(
            graph, str(target)
        ),
        "  yaml.dump of the same spec": lambda: yaml.dump(doc, sort_keys=True),
        "  yaml.dump, wrapper script replaced by 'x'": lambda: yaml.dump(short, sort_keys=True),
    }
    print(f"\n--- unip-kfp phases at {folder.name} (best of {runs}) ---")
    for label, func in figures.items():
        print(f"{best_of(runs, func) * 1000:>9.1f} ms  {label}")


def profile(folder: Path, limit: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    compile_unip(folder)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(limit)
        print(f"\n--- cProfile of unip-kfp at {folder.name}, sorted by {order} ---")
        print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,500")
    parser.add_argument("--runs", type=int, default=3, help="best of RUNS per figure")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest N")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as temp:
        scratch = Path(temp)
        folders = {n: write_manifest(scratch, n) for n in sizes}
        compile_unip(folders[sizes[0]])  # warm up imports (kfp, kfp-kubernetes) for both
        compile_dsl(1, scratch)
        print(f"compile time, in process, best of {options.runs} (python {sys.version.split()[0]})")
        print(f"{'N':>5} {'unip-kfp':>11} {'KFP DSL':>11} {'ratio':>7}  package sizes")
        for n in sizes:
            unip = best_of(options.runs, lambda n=n: compile_unip(folders[n]))
            dsl = best_of(options.runs, lambda n=n: compile_dsl(n, scratch))
            sizes_kb = (
                f"{compile_unip(folders[n]) / 1024:.0f} KiB vs "
                f"{compile_dsl(n, scratch) / 1024:.0f} KiB"
            )
            verdict = ""
            if n == RATIO_AT:
                ok = unip / dsl <= RATIO_TARGET
                failed |= not ok
                verdict = f"  {'PASS' if ok else 'FAIL'} (target <= {RATIO_TARGET}x)"
            print(
                f"{n:>5} {unip * 1000:>9.1f}ms {dsl * 1000:>9.1f}ms {unip / dsl:>6.2f}x  "
                f"{sizes_kb}{verdict}"
            )
        if RATIO_AT not in sizes:
            print(f"(no N = {RATIO_AT}: ratio target not checked)")
        cold = cold_start(options.cold_runs, scratch)
        ok = cold < COLD_TARGET_S
        failed |= not ok
        print(
            f"cold start: unip-kfp compile examples/train-test/manifests: {cold:.3f} s "
            f"(best of {options.cold_runs})  {'PASS' if ok else 'FAIL'} "
            f"(target < {COLD_TARGET_S} s)"
        )
        if failed or options.profile:
            phases(folders[max(sizes)], options.runs)
        if options.profile:
            profile(folders[max(sizes)])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
