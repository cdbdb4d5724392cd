"""The invariant of the one rule layer (issue 11, SPEC §2), as a property:

    `validate` exits 0  <=>  `plan` and `compile` succeed, with the same options,

and `compile` never reports a manifest problem that `validate` did not. The generated
projects mix what the rules look at: resources (quantities, one or two accelerator kinds),
mounts from boxes, box Secrets and URIs in `unip-kfp.yaml`, `--box` overrides that may name
no box, per-stage settings that may name no stage, launcher credentials and `--strict`.

`UNIP_KFP_FUZZ_EXAMPLES` raises the number of examples for a longer local run.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from unip_kfp.cli import main

EXAMPLES = int(os.environ.get("UNIP_KFP_FUZZ_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VARS = ["a", "b", "c", "d"]
STAGES = ["s1", "s2", "s3"]
BOXES = ["box", "shared"]
ISSUE_LINE = re.compile(r"^(?P<where>\S*): (?:error|warning): (?P<what>.*)$")


@dataclass(frozen=True)
class Project:
    pipeline: dict[str, Any]
    api: dict[str, Any] | None
    config: dict[str, Any]
    options: tuple[str, ...]


def often(usual: list[Any], rare: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly one of `usual`, sometimes one of `rare` (the values rules refuse)."""
    return st.sampled_from(usual * (12 // len(usual) + 1) + rare)


def _box_ref() -> st.SearchStrategy[dict[str, Any]]:
    name = often([None, "box", "shared"], ["nope"])
    return st.builds(
        lambda n, p: {"box": {**({"name": n} if n else {}), "boxPath": p}},
        name,
        st.sampled_from(["sets/x", "", "sets/y/z"]),
    )


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    limits: dict[str, Any] = {}
    cpu = draw(often([None, "500m", "1", "0.5", 2, 1.5], ["lots", "1e3"]))
    memory = draw(often([None, "1Gi", "256M", 512], ["1GB", "0.5Gi"]))
    if cpu is not None:
        limits["cpu"] = cpu
    if memory is not None:
        limits["memory"] = memory
    accelerators = [[], ["nvidia.com/gpu"], ["amd.com/gpu"]]
    for key in draw(often(accelerators, [["nvidia.com/gpu", "amd.com/gpu"]])):
        limits[key] = draw(often([1, "2"], [0]))
    return limits


@st.composite
def stage(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Stage i reads var i and writes var i+1 (a chain), with the odd change."""
    extra = [[], [VARS[0]], [VARS[index]]]
    reads = [VARS[index]] + draw(often(extra, [[VARS[min(index + 1, 3)]], ["zz"]]))
    writes = draw(often([[VARS[index + 1]]], [[], [VARS[0]]]))
    inputs = []
    for name in dict.fromkeys(reads):
        entry: dict[str, Any] = {"name": name}
        # Mostly the pipeline's first var (no stage writes it) comes from a box.
        if draw(often([name == VARS[0], False], [True])):
            entry["mountFrom"] = draw(_box_ref())
        inputs.append(entry)
    built: dict[str, Any] = {
        "name": draw(often([STAGES[index]], STAGES)),
        "image": {"existingImageName": "img"},
        "inputs": inputs,
        "outputs": [{"name": n} for n in writes],
        "entryPoint": {"cmd": ["python3", "run.py"]},
    }
    limits = draw(resources())
    if limits is not None:
        built["resourceLimits"] = limits
    return built


@st.composite
def projects(draw: st.DrawFn) -> Project:
    count = draw(st.integers(1, 3))
    stages = [draw(stage(i)) for i in range(count)]
    variables: list[dict[str, Any]] = []
    for name in VARS[: count + 1]:
        var: dict[str, Any] = {"name": name}
        if draw(often([name == VARS[0], False], [True])):
            var["mountFrom"] = draw(_box_ref())
        variables.append(var)
    defaults = draw(often([(True, False), (False, True)], [(False, False), (True, True)]))
    s3_names = draw(st.sampled_from([("box", "shared"), ("box", "box")]))
    boxes = [
        {"name": n, "default": d, "mountS3Box": {"s3BoxName": s}}
        for n, d, s in zip(BOXES, defaults, s3_names, strict=True)
    ]
    pipeline = {
        "apiVersion": "unified-platform.cs.hse.ru/v1",
        "kind": "ExperimentPipeline",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"vars": variables, "stages": stages, "connectedBoxes": boxes},
    }
    return Project(pipeline, draw(api(count)), draw(config()), draw(options()))


@st.composite
def api(draw: st.DrawFn, count: int) -> dict[str, Any] | None:
    """Mostly: the first var is the input, the last one the output."""
    if draw(st.booleans()):
        return None
    datatypes = often([["FILE"], ["FILE", "str"]], [["str"], ["INT32"]])
    inputs = [{"name": n, "type": {"datatypes": draw(datatypes)}}
              for n in draw(often([[VARS[0]]], [[], [VARS[1]]]))]
    outputs = [{"name": n} for n in draw(often([[VARS[count]]], [[], [VARS[0]]]))]
    return {
        "apiVersion": "unified-platform.cs.hse.ru/v1",
        "kind": "APIComponent",
        "metadata": {"name": "p-api", "namespace": "ns"},
        "spec": {"experimentPipeline": {"name": "p"},
                 "apiSpec": {"inputs": inputs, "outputs": outputs}},
    }


@st.composite
def config(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    configured = draw(often([[], ["s1"]], [["s9"], ["s3"]]))
    if configured:
        data["stages"] = {n: {"nodeSelector": {"pool": "gpu"}} for n in configured}
    boxes = {}
    for name in BOXES:
        entry: dict[str, Any] = {}
        uri = draw(st.sampled_from([None, f"s3://team/{name}", "s3://team/same", "s3://other/x"]))
        secret = draw(st.sampled_from([None, f"{name}-s3", "one-s3"]))
        if uri:
            entry["uri"] = uri
        if secret:
            entry["secret"] = secret
        if entry:
            boxes[name] = entry
    if boxes:
        data["boxes"] = boxes
    if draw(st.booleans()):
        data["kubeflow"] = {"credentials": "launcher",
                            "pipelineRoot": draw(st.sampled_from(["s3://team/root",
                                                                  "minio://mlpipeline/v2"]))}
    return data


@st.composite
def options(draw: st.DrawFn) -> tuple[str, ...]:
    found: list[str] = []
    for name in draw(often([[], ["box"], ["shared"], ["box", "shared"]], [["nope"]])):
        found += ["--box", f"{name}=" + draw(st.sampled_from(["s3://team/o", "s3://else/o"]))]
    if draw(st.booleans()):
        found.append("--strict")
    return (*found, "--user", "tester")


def write(project: Project, root: Path) -> Path:
    folder = root / "manifests"
    folder.mkdir()
    documents = [project.pipeline] + ([project.api] if project.api else [])
    (folder / "pipeline.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    if project.config:
        (root / "unip-kfp.yaml").write_text(yaml.safe_dump(project.config, sort_keys=False))
    return folder


def reported(stderr: str) -> set[tuple[str, str]]:
    """(location, field and message) of each issue line, whatever its severity."""
    found = set()
    for line in stderr.splitlines():
        match = ISSUE_LINE.match(line.removeprefix("unip-kfp: ").strip())
        if match:
            found.add((match["where"], match["what"]))
    return found


@PROPERTY
@given(projects())
def test_validate_passes_exactly_when_plan_and_compile_do(project: Project) -> None:
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as root:
        folder = write(project, Path(root))
        validate = runner.invoke(main, ["validate", str(folder), *project.options])
        plan = runner.invoke(main, ["plan", str(folder), *project.options])
        compiled = runner.invoke(
            main, ["compile", str(folder), "-o", str(Path(root) / "p.yaml"), *project.options]
        )
    codes = (validate.exit_code, plan.exit_code, compiled.exit_code)
    event(f"exit codes {codes}")  # --hypothesis-show-statistics: both verdicts are common
    context = f"{codes}\nvalidate:\n{validate.output}\ncompile:\n{compiled.output}"
    assert codes in ((0, 0, 0), (3, 3, 3)), context
    missing = reported(compiled.stderr) - reported(validate.stderr)
    assert not missing, f"compile reported what validate did not: {missing}\n{context}"
    assert reported(plan.stderr) <= reported(validate.stderr), context


QUANTITY_TEXT = st.one_of(
    st.from_regex(r"[0-9.]{0,4}[a-zA-Z]{0,2}", fullmatch=True),
    st.integers(-2, 5000),
    st.floats(min_value=0, max_value=64, allow_nan=False),
    st.booleans(),
)


@settings(PROPERTY, max_examples=max(EXAMPLES // 3, 10))
@given(cpu=QUANTITY_TEXT, memory=QUANTITY_TEXT, count=st.sampled_from([1, "1", 0, "x", 2.5]))
def test_resources_validate_as_compile_refuses(cpu: Any, memory: Any, count: Any) -> None:
    """The one refusal compile keeps for itself (kfp's quantity checks) is validation's too."""
    limits = {"cpu": cpu, "memory": memory, "nvidia.com/gpu": count}
    project = Project(
        {
            "apiVersion": "unified-platform.cs.hse.ru/v1",
            "kind": "ExperimentPipeline",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "vars": [{"name": "a"}, {"name": "b"}],
                "stages": [{"name": "s1", "image": {"existingImageName": "img"},
                            "inputs": [{"name": "a"}], "outputs": [{"name": "b"}],
                            "entryPoint": {"cmd": ["run"]}, "resourceLimits": limits}],
            },
        },
        None, {}, ("--user", "tester"),
    )
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as root:
        folder = write(project, Path(root))
        validate = runner.invoke(main, ["validate", str(folder)])
        compiled = runner.invoke(main, ["compile", str(folder), "-o", str(Path(root) / "p.yaml")])
    codes = (validate.exit_code, compiled.exit_code)
    assert codes in ((0, 0), (3, 3)), f"{codes}\n{validate.output}\n{compiled.output}"
