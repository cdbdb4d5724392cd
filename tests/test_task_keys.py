"""Task keys: stages never take the keys of the steps unip-kfp adds, nor KFP's own names.

An input's steps are keyed (and, for the Kubeflow UI, labelled) `import-<input>`,
`mount-<var>`, `no-<input>`, `optional-<input>`, `<input>-given`, `<input>-not-given`; kfp would
rename a task whose key is taken, so validation refuses every clash, and also the names the
2.17 run reports give to KFP's own steps (`root`, `executor`, `<key>-driver`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import unip_kfp
from unip_kfp.checks.cross_manifest import check_manifests
from unip_kfp.errors import Severity
from unip_kfp.manifests.loader import load_project
from unip_kfp.naming import step_keys


def stage(name: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": {"existingImageName": "img"},
        "inputs": [{"name": v} for v in inputs],
        "outputs": [{"name": v} for v in outputs],
        "entryPoint": {"cmd": ["run"]},
    }


def errors(tmp_path: Path, variables: list[dict[str, Any]], stages: list[dict[str, Any]]) -> list:
    """(field, message) of every error of a pipeline without an API (inputs: read first)."""
    doc = {
        "apiVersion": "unified-platform.cs.hse.ru/v1",
        "kind": "ExperimentPipeline",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "vars": variables,
            "stages": stages,
            "connectedBoxes": [{"name": "box", "default": True,
                                "mountS3Box": {"s3BoxName": "databox"}}],
        },
    }  # fmt: skip
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    issues = check_manifests(load_project([str(tmp_path)]))
    return [(i.field, i.message) for i in issues if i.severity is Severity.ERROR]


def test_the_step_keys_of_an_input() -> None:
    assert step_keys("xy_train") == {
        "import-xy-train", "mount-xy-train", "no-xy-train", "optional-xy-train",
        "xy-train-given", "xy-train-not-given",
    }  # fmt: skip


@pytest.mark.parametrize(
    "name", ["import-xy", "Import XY", "no-xy", "optional-xy", "xy-given", "xy_not_given"]
)
def test_a_stage_named_like_a_step_of_an_input_is_refused(tmp_path: Path, name: str) -> None:
    found = errors(tmp_path, [{"name": "xy"}, {"name": "out"}], [stage(name, ["xy"], ["out"])])
    assert len(found) == 1 and found[0][0] == "spec.stages[0].name", found
    assert "the name of a step of var 'xy'" in found[0][1]


def test_a_stage_named_like_a_mount_step_is_refused(tmp_path: Path) -> None:
    variables = [{"name": "data", "mountFrom": {"box": {"boxPath": "d"}}}, {"name": "out"}]
    for name in ("mount-data", "mount-data-2"):
        found = errors(tmp_path, variables, [stage(name, ["data"], ["out"])])
        assert [f for f, _ in found] == ["spec.stages[0].name"], found


def test_a_stage_whose_driver_would_be_named_like_a_step_is_refused(tmp_path: Path) -> None:
    # var `x_driver` is refused on its own ('-driver'); the stage `import-x` would run a
    # driver named `import-x-driver`, its import step
    found = errors(tmp_path, [{"name": "x_driver"}, {"name": "out"}],
                   [stage("import-x", ["x_driver"], ["out"])])
    assert ("spec.stages[0].name", "stage name 'import-x' gives Kubeflow the task "
            "'import-x-driver', the name of a step of var 'x_driver'") in found
    assert any(f == "spec.vars[0].name" and "ending in '-driver'" in m for f, m in found)


def test_names_only_steps_take_are_free(tmp_path: Path) -> None:
    # `model` is internal (written before it is read): it has no import step
    variables = [{"name": "a"}, {"name": "model"}, {"name": "out"}]
    stages = [stage("train", ["a"], ["model"]), stage("import-model", ["model"], ["out"])]
    assert errors(tmp_path, variables, stages) == []


@pytest.mark.parametrize("name", ["root", "executor", "train-driver", "Train Driver", "importer"])
def test_kfp_and_argo_names_are_refused(tmp_path: Path, name: str) -> None:
    found = errors(tmp_path, [{"name": "a"}, {"name": "out"}], [stage(name, ["a"], ["out"])])
    assert found == [("spec.stages[0].name",
                      f"stage name '{name}' is taken by Kubeflow Pipelines' own tasks")]


def test_inputs_whose_steps_meet_are_refused(tmp_path: Path) -> None:
    # distinct KFP names (a__b, a_b) but one task name: a-b
    variables = [{"name": "a__b"}, {"name": "a_b"}, {"name": "out"}]
    found = errors(tmp_path, variables, [stage("s", ["a__b", "a_b"], ["out"])])
    assert ("spec.vars[1].name", "vars 'a__b' and 'a_b' both give Kubeflow the step "
            "'a-b-given'") in found


def test_every_step_of_the_example_is_keyed_by_its_label() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "train-test" / "manifests"
    [package] = unip_kfp.load(str(example), user="u").compile()
    spec = next(yaml.safe_load_all(package.content))
    root = spec["root"]["dag"]["tasks"]
    assert {k: t["taskInfo"]["name"] for k, t in root.items()} == {
        "import-xy-train": "import-xy-train",
        "import-xy-test": "import-xy-test",
        "optional-extra-parameters": "extra_parameters: given / not given",
        "stage1": "stage1",
        "stage2": "stage2",
    }
