"""The example modules (seeds 000 and 001) load, validate and plan to the roles they describe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import unip_kfp
from unip_kfp.checks.cross_manifest import check_manifests
from unip_kfp.checks.roles import Role
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_INVALID, EXIT_USAGE, ManifestError, Severity
from unip_kfp.manifests.loader import load_project
from unip_kfp.plan.model import Kind, PipelinePlan

ROOT = Path(__file__).resolve().parent.parent
TRAIN_TEST = ROOT / "examples" / "train-test" / "manifests"
MOUNTED = ROOT / "examples" / "train-test-mounted" / "manifests"
NAMESPACE = "pu-username-pa-bm99"
DEFAULT_BOX = f"minio://mlpipeline/unip/{NAMESPACE}/mymodule-data-box"
GLOBAL_BOX = f"minio://mlpipeline/unip/{NAMESPACE}/my-global-data-box"


@pytest.fixture(autouse=True)
def _fixed_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file-API user must not depend on who runs the tests."""
    monkeypatch.setenv("UNIP_KFP_USER", "tester")


def only(project: unip_kfp.Project) -> PipelinePlan:
    assert len(project.pipelines) == 1
    return project.pipelines[0]


def roles_of(plan: PipelinePlan) -> dict[str, Role]:
    return {v.name: v.role for v in plan.variables}


def stage_input(plan: PipelinePlan, stage: str, var: str):
    chosen = next(s for s in plan.stages if s.name == stage)
    return next(b for b in chosen.inputs if b.var == var)


# --- loading and validation -------------------------------------------------------------------


@pytest.mark.parametrize("folder", [TRAIN_TEST, MOUNTED], ids=["train-test", "mounted"])
def test_example_validates_without_errors_or_warnings(folder: Path) -> None:
    manifests = load_project([str(folder)])
    assert manifests.issues == ()
    kinds = sorted(m.model.kind for m in manifests.manifests)
    assert kinds.count("ExperimentPipeline") == 1
    assert kinds.count("APIComponent") == 2  # the pipeline's API and the general pipelines API
    assert "DataBox" in kinds
    issues = check_manifests(manifests)
    assert issues == [], [i.format() for i in issues]


@pytest.mark.parametrize("folder", [TRAIN_TEST, MOUNTED], ids=["train-test", "mounted"])
def test_example_loads_without_warnings(folder: Path) -> None:
    project = unip_kfp.load(str(folder))
    assert project.warnings == ()
    assert not any(i.severity is Severity.ERROR for i in project.manifests.issues)


# --- train-test (seed 000) ------------------------------------------------------------------


def test_train_test_roles() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    assert plan.name == "my-pipeline"
    assert plan.namespace == NAMESPACE
    assert plan.api_component == "api-pipeline-train-validate"
    assert roles_of(plan) == {
        "xy_train": Role.INPUT,
        "xy_test": Role.INPUT,
        "extra_parameters": Role.INPUT,
        "model": Role.INTERNAL,
        "testing_results": Role.OUTPUT,
    }
    # Pipeline parameters: required first, then the optional one.
    assert [v.name for v in plan.inputs] == ["xy_train", "xy_test", "extra_parameters"]
    for name in ("xy_train", "xy_test"):
        var = plan.variable(name)
        assert var.required is True
        assert var.kind is Kind.FILE
        assert var.default is None
        assert var.mount_uri is None
        assert var.datatypes == ("FILE",)
        assert var.content_types == ("text/csv",)
    extra = plan.variable("extra_parameters")
    assert extra.required is False
    assert extra.kind is Kind.FILE
    assert extra.default is None
    assert extra.content_types == ("application/json",)
    assert "param_grid" in extra.description
    assert [v.name for v in plan.outputs] == ["testing_results"]
    assert plan.variable("testing_results").kind is Kind.FILE
    assert plan.variable("model").required is False


def test_train_test_env_var_names_and_params() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    assert {v.name: v.env for v in plan.variables} == {
        "xy_train": "UNIP_PIPELINE_XY_TRAIN",
        "xy_test": "UNIP_PIPELINE_XY_TEST",
        "extra_parameters": "UNIP_PIPELINE_EXTRA_PARAMETERS",
        "model": "UNIP_PIPELINE_MODEL",
        "testing_results": "UNIP_PIPELINE_TESTING_RESULTS",
    }
    assert {v.name: v.param for v in plan.variables} == {n: n for n in roles_of(plan)}


def test_train_test_stages_order_and_data_flow() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    assert [s.name for s in plan.stages] == ["stage1", "stage2"]
    stage1, stage2 = plan.stages
    assert stage1.after is None
    assert stage2.after == "stage1"
    assert stage1.needs == ()
    assert stage2.needs == ("stage1",)
    assert [b.var for b in stage1.inputs] == ["xy_train", "extra_parameters"]
    assert [b.var for b in stage1.outputs] == ["model"]
    assert [b.var for b in stage2.inputs] == ["model", "xy_test", "extra_parameters"]
    assert [b.var for b in stage2.outputs] == ["testing_results"]

    model_in = stage_input(plan, "stage2", "model")
    assert model_in.source is not None
    assert (model_in.source.origin, model_in.source.ref, model_in.source.output) == (
        "task",
        "stage1",
        "model",
    )
    assert model_in.env == "UNIP_PIPELINE_MODEL"
    assert model_in.optional is False
    assert plan.producer("model") is stage1
    assert plan.producer("testing_results") is stage2

    train = stage_input(plan, "stage1", "xy_train")
    assert train.source is not None
    assert (train.source.origin, train.source.ref) == ("param", "xy_train")
    assert train.optional is False
    assert train.kind is Kind.FILE
    extra = stage_input(plan, "stage2", "extra_parameters")
    assert extra.source is not None
    assert extra.source.origin == "param"
    assert extra.optional is True


def test_train_test_stage_details() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    stage1, stage2 = plan.stages
    for stage in (stage1, stage2):
        assert stage.image == "registry.example.com/unip/train-test:0.1.0"
        assert stage.cpu == "500m"
        assert stage.memory == "256M"
        assert stage.accelerators == ()
    assert stage1.task == "stage1"
    assert stage1.command == ("python3", "src/training.py")
    assert stage2.command == ("python3", "src/testing.py")
    assert stage1.env == (("MY_VARIABLE", "some_value"), ("ANOTHER_VAR", "2"))
    assert stage2.env == ()
    assert stage1.outputs[0].env == "UNIP_PIPELINE_MODEL"
    assert stage1.outputs[0].target is None


def test_train_test_default_box_uri() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    assert len(plan.boxes) == 1
    box = plan.default_box
    assert box is not None
    assert box.name == "data-box"
    assert box.s3_box_name == "mymodule-data-box"
    assert box.uri == DEFAULT_BOX
    assert box.container_path == "/path/to/mountpoint"
    assert box.secret is None


def test_box_option_overrides_default_uri() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST), boxes={"data-box": "s3://b/p"}))
    assert plan.default_box is not None
    assert plan.default_box.uri == "s3://b/p"
    assert plan.file_api_root() == "s3://b/p/users/tester/file_groups"


def test_box_option_by_databox_name_and_trailing_slash() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST), boxes={"mymodule-data-box": "s3://b/p/"}))
    assert plan.default_box is not None
    assert plan.default_box.uri == "s3://b/p"


def test_box_option_for_unknown_box_is_refused_with_the_other_problems() -> None:
    with pytest.raises(ManifestError, match="no connected box or DataBox named 'nope'") as raised:
        unip_kfp.load(str(TRAIN_TEST), boxes={"nope": "s3://b/p"})
    (issue,) = raised.value.issues
    assert issue.field == "--box nope" and issue.hint


def copy_example(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(source, target)
    return target


def test_project_file_overrides_default_uri(tmp_path: Path) -> None:
    folder = copy_example(TRAIN_TEST, tmp_path)
    (folder / "unip-kfp.yaml").write_text(
        "boxes:\n  data-box:\n    uri: s3://cfg-bucket/unip/data-box\n", encoding="utf-8"
    )
    project = unip_kfp.load(str(folder))
    plan = only(project)
    assert plan.default_box is not None
    assert plan.default_box.uri == "s3://cfg-bucket/unip/data-box"
    assert project.settings.file == str(folder / "unip-kfp.yaml")
    # The project file is not a manifest: it is neither read as one nor reported.
    assert all(not m.doc.file.endswith("unip-kfp.yaml") for m in project.manifests.manifests)
    assert project.manifests.issues == ()


def test_box_option_beats_project_file(tmp_path: Path) -> None:
    folder = copy_example(TRAIN_TEST, tmp_path)
    (folder / "unip-kfp.yaml").write_text(
        "boxes:\n  data-box:\n    uri: s3://cfg-bucket/unip/data-box\n", encoding="utf-8"
    )
    plan = only(unip_kfp.load(str(folder), boxes={"data-box": "s3://b/p"}))
    assert plan.default_box is not None
    assert plan.default_box.uri == "s3://b/p"


def test_project_file_in_module_folder_is_found(tmp_path: Path) -> None:
    folder = copy_example(TRAIN_TEST, tmp_path)
    (tmp_path / "unip-kfp.yaml").write_text(
        "user: cfg-user\nboxes:\n  data-box:\n    uri: gs://g/box\n", encoding="utf-8"
    )
    plan = only(unip_kfp.load(str(folder)))
    assert plan.file_api_root() == "gs://g/box/users/cfg-user/file_groups"


def test_file_api_root_uses_the_user() -> None:
    plan = only(unip_kfp.load(str(TRAIN_TEST), user="alice"))
    assert plan.user == "alice"
    assert plan.file_api_root() == f"{DEFAULT_BOX}/users/alice/file_groups"
    # Without --user: UNIP_KFP_USER (set by the autouse fixture).
    plan = only(unip_kfp.load(str(TRAIN_TEST)))
    assert plan.file_api_root() == f"{DEFAULT_BOX}/users/tester/file_groups"


# --- train-test-mounted (seed 001) ------------------------------------------------------------


def test_mounted_roles_and_mount_uri() -> None:
    plan = only(unip_kfp.load(str(MOUNTED)))
    assert plan.name == "my-pipeline-mounted"
    assert roles_of(plan) == {
        "xy_train": Role.MOUNTED,
        "xy_test": Role.INPUT,
        "extra_parameters": Role.INPUT,
        "model": Role.INTERNAL,
        "testing_results": Role.OUTPUT,
    }
    train = plan.variable("xy_train")
    assert train.mount_uri == f"{GLOBAL_BOX}/users/developer/file_groups/my_dataset"
    assert train.path == "/data"
    assert train.required is False
    assert [v.name for v in plan.inputs] == ["xy_test", "extra_parameters"]

    binding = stage_input(plan, "stage1", "xy_train")
    assert binding.source is not None
    assert binding.source.origin == "mount"
    assert binding.source.ref == f"{GLOBAL_BOX}/users/developer/file_groups/my_dataset"
    assert binding.target == "/data"
    assert binding.env == "UNIP_PIPELINE_XY_TRAIN"
    assert {b.name: b.uri for b in plan.boxes} == {
        "data-box": DEFAULT_BOX,
        "global-data-box": GLOBAL_BOX,
    }
    assert plan.default_box is not None and plan.default_box.name == "data-box"


def test_mounted_box_override_moves_the_mount() -> None:
    plan = only(unip_kfp.load(str(MOUNTED), boxes={"global-data-box": "s3://shared/"}))
    assert (
        plan.variable("xy_train").mount_uri == "s3://shared/users/developer/file_groups/my_dataset"
    )
    # The default box (and so the file API root) is unchanged.
    assert plan.file_api_root() == f"{DEFAULT_BOX}/users/tester/file_groups"


# --- a pipeline without APIComponent: roles from the data flow --------------------------------


def test_roles_without_api_component(tmp_path: Path) -> None:
    shutil.copy(TRAIN_TEST / "pipeline.yaml", tmp_path / "pipeline.yaml")
    manifests = load_project([str(tmp_path)])
    assert check_manifests(manifests) == []
    plan = only(unip_kfp.load(str(tmp_path)))
    assert plan.api_component is None
    assert roles_of(plan) == {
        "xy_train": Role.INPUT,
        "xy_test": Role.INPUT,
        "extra_parameters": Role.INPUT,
        "model": Role.INTERNAL,
        "testing_results": Role.OUTPUT,
    }
    # Without an API every input is a required file and there are no descriptions.
    for var in plan.inputs:
        assert var.required is True
        assert var.kind is Kind.FILE
        assert var.description == ""
    assert [v.name for v in plan.outputs] == ["testing_results"]
    model_in = stage_input(plan, "stage2", "model")
    assert model_in.source is not None
    assert model_in.source.origin == "task" and model_in.source.ref == "stage1"


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_plan_text() -> None:
    result = CliRunner().invoke(main, ["plan", str(TRAIN_TEST), "--user", "alice"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "pipeline my-pipeline" in out
    assert "parameters:" in out
    assert "  xy_train: file URI, required" in out
    assert "  xy_test: file URI, required" in out
    assert "  extra_parameters: file URI, optional" in out
    assert "stages (in order):" in out
    assert "  1. stage1\n" in out
    assert "  2. stage2  (after stage1)" in out
    assert "image:   registry.example.com/unip/train-test:0.1.0" in out
    assert "command: python3 src/training.py" in out
    assert "command: python3 src/testing.py" in out
    assert "limits:  cpu 500m, memory 256M" in out
    assert "env:     MY_VARIABLE=some_value" in out
    assert "env:     ANOTHER_VAR=2" in out
    assert "in:  UNIP_PIPELINE_XY_TRAIN <- pipeline parameter 'xy_train'" in out
    assert "in:  UNIP_PIPELINE_MODEL <- output 'model' of stage 'stage1'" in out
    assert (
        "in:  UNIP_PIPELINE_EXTRA_PARAMETERS <- pipeline parameter 'extra_parameters' "
        "(absent when not given)" in out
    )
    assert "out: UNIP_PIPELINE_TESTING_RESULTS" in out
    assert "outputs:\n  testing_results: folder from stage 'stage2'" in out
    assert "internal: model" in out
    assert f"data-box -> {DEFAULT_BOX}  (default)" in out
    assert f"{DEFAULT_BOX}/users/alice/file_groups/" in out
    # The order on the page is the order of the stages.
    assert out.index("1. stage1") < out.index("2. stage2") < out.index("outputs:")


def test_cli_plan_text_mounted() -> None:
    result = CliRunner().invoke(main, ["plan", str(MOUNTED)])
    assert result.exit_code == 0, result.output
    assert (
        "in:  UNIP_PIPELINE_XY_TRAIN at /data <- mounted from "
        f"{GLOBAL_BOX}/users/developer/file_groups/my_dataset" in result.stdout
    )
    assert "  xy_train:" not in result.stdout.split("stages (in order):")[0]


def test_cli_plan_json() -> None:
    result = CliRunner().invoke(
        main, ["plan", str(TRAIN_TEST), "--format", "json", "--box", "data-box=s3://b/p"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (pipeline,) = data["pipelines"]
    assert pipeline["name"] == "my-pipeline"
    assert {v["name"]: v["role"] for v in pipeline["variables"]}["model"] == "internal"
    assert [s["name"] for s in pipeline["stages"]] == ["stage1", "stage2"]
    assert pipeline["boxes"][0]["uri"] == "s3://b/p"
    assert pipeline["user"] == "tester"


@pytest.mark.parametrize("folder", [TRAIN_TEST, MOUNTED], ids=["train-test", "mounted"])
def test_cli_validate_ok(folder: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {folder}\n"
    assert result.stderr == ""


def test_cli_validate_two_modules_are_one_project() -> None:
    """Several paths form one project: the two examples share DataBox and API names."""
    result = CliRunner().invoke(main, ["validate", str(TRAIN_TEST), str(MOUNTED)])
    assert result.exit_code == EXIT_INVALID
    assert "duplicate DataBox 'mymodule-data-box'" in result.stderr


def test_cli_validate_ok_json() -> None:
    result = CliRunner().invoke(main, ["validate", str(TRAIN_TEST), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True, "issues": []}


def test_cli_plan_unknown_pipeline_exits_2() -> None:
    result = CliRunner().invoke(main, ["plan", str(TRAIN_TEST), "--pipeline", "nope"])
    assert result.exit_code == EXIT_USAGE
    assert "no pipeline named 'nope'" in result.stderr
    assert "my-pipeline" in result.stderr
    assert "Traceback" not in result.output


def test_cli_plan_selects_pipeline() -> None:
    result = CliRunner().invoke(main, ["plan", str(TRAIN_TEST), "--pipeline", "my-pipeline"])
    assert result.exit_code == 0
    assert "pipeline my-pipeline" in result.stdout


def test_cli_plan_bad_box_option_exits_2() -> None:
    result = CliRunner().invoke(main, ["plan", str(TRAIN_TEST), "--box", "no-equals-sign"])
    assert result.exit_code == EXIT_USAGE
    assert "NAME=VALUE" in result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output


def test_cli_plan_invalid_manifests_exits_3(tmp_path: Path) -> None:
    folder = copy_example(TRAIN_TEST, tmp_path)
    text = (folder / "pipeline.yaml").read_text(encoding="utf-8")
    (folder / "pipeline.yaml").write_text(text.replace("cpu: 500m", "cpu: 500M", 1))
    result = CliRunner().invoke(main, ["plan", str(folder)])
    assert result.exit_code == EXIT_INVALID
    assert "pipeline.yaml:35: error: spec.stages[0].resourceLimits.cpu" in result.stderr
    assert "Traceback" not in result.output
