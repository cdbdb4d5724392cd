"""One rule layer (issue 11): `validate` runs every rule `plan` and `compile` refuse by.

Each case here used to pass `validate` and fail later (`plan` exit 3, `compile` exit 4), or
to hide problems behind a document's schema errors. Now `checks.check_project` finds them
all in one pass, `validate` takes the options of `plan`, and both give the same verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import unip_kfp
from unip_kfp.checks import check_files, check_project
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_INVALID, ManifestError, Severity
from unip_kfp.manifests import models
from unip_kfp.manifests.loader import load_project
from unip_kfp.manifests.partial_models import annotation_at, placeholder
from unip_kfp.manifests.project_config import Settings

PIPELINE = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: p
  namespace: ns
spec:
  vars:
    - name: data
    - name: ref
      mountFrom:
        box:
          name: shared
          boxPath: sets/ref
    - name: out
  stages:
    - name: train
      image:
        existingImageName: img
      inputs:
        - name: data
        - name: ref
      outputs:
        - name: out
      entryPoint:
        cmd: [python3, train.py]
      resourceLimits:
        cpu: 500m
        memory: 1Gi
  connectedBoxes:
    - name: box
      default: true
      mountS3Box:
        s3BoxName: box
    - name: shared
      mountS3Box:
        s3BoxName: shared
"""

# train reads a caller's file (default box) and a mount of the shared box.
TWO_SECRETS = """\
boxes:
  box: {uri: s3://team/box, secret: box-s3}
  shared: {uri: s3://other/shared, secret: shared-s3}
"""


def module(tmp_path: Path, pipeline: str = PIPELINE, config: str | None = None) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(pipeline)
    if config is not None:
        (tmp_path / "unip-kfp.yaml").write_text(config)
    return folder


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def verdicts(folder: Path, *options: object, out: Path) -> tuple[int, int, int]:
    """Exit codes of validate, plan and compile with the same options."""
    return (
        cli("validate", folder, *options).exit_code,
        cli("plan", folder, *options).exit_code,
        cli("compile", folder, "-o", out, *options).exit_code,
    )


def test_the_valid_module_passes_everywhere(tmp_path: Path) -> None:
    folder = module(tmp_path)
    assert verdicts(folder, out=tmp_path / "p.yaml") == (0, 0, 0)


def test_two_accelerator_keys_are_a_validation_error(tmp_path: Path) -> None:
    folder = module(
        tmp_path,
        PIPELINE.replace("memory: 1Gi\n", 'memory: 1Gi\n        nvidia.com/gpu: 1\n'
                                         '        amd.com/gpu: "1"\n'),
    )
    result = cli("validate", folder)
    assert result.exit_code == EXIT_INVALID
    assert (f"{folder / 'pipeline.yaml'}:30: error: spec.stages[0].resourceLimits.amd.com/gpu: "
            "stage 'train': Kubeflow Pipelines allows one accelerator type per task, got "
            "nvidia.com/gpu, amd.com/gpu") in result.stderr
    assert verdicts(folder, out=tmp_path / "p.yaml") == (3, 3, 3)


def test_an_unknown_configured_stage_is_a_validation_error(tmp_path: Path) -> None:
    folder = module(tmp_path, config="stages:\n  trian: {nodeSelector: {pool: gpu}}\n")
    result = cli("validate", folder, "--format", "json")
    assert result.exit_code == EXIT_INVALID
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["issues"] == [{
        "severity": "error", "file": str(tmp_path / "unip-kfp.yaml"), "line": 2,
        "field": "stages.trian", "message": "no stage named 'trian' in the pipelines",
        "hint": "did you mean 'train'?",
    }]
    assert verdicts(folder, out=tmp_path / "p.yaml") == (3, 3, 3)


def test_two_box_secrets_on_a_stage_are_a_validation_error(tmp_path: Path) -> None:
    folder = module(tmp_path, config=TWO_SECRETS)
    result = cli("validate", folder)
    assert result.exit_code == EXIT_INVALID
    assert (f"{folder / 'pipeline.yaml'}:19: error: spec.stages[0].inputs: stage 'train' reads "
            "from boxes with different Secrets (box-s3, shared-s3)") in result.stderr
    assert "hint: use one Secret for these boxes, or set kubeflow.credentials: launcher" in (
        result.stderr
    )
    assert verdicts(folder, out=tmp_path / "p.yaml") == (3, 3, 3)


def test_launcher_credentials_lift_the_one_secret_rule(tmp_path: Path) -> None:
    config = TWO_SECRETS + "kubeflow: {credentials: launcher, pipelineRoot: s3://team/root}\n"
    folder = module(tmp_path, config=config)
    result = cli("validate", folder)
    assert result.exit_code == 0, result.output
    # The shared box lies outside the pipeline root's bucket: a warning, an error if --strict.
    assert "box 'shared' (s3://other/shared) is outside the pipeline root's bucket" in (
        result.stderr
    )
    assert verdicts(folder, out=tmp_path / "p.yaml") == (0, 0, 0)
    assert verdicts(folder, "--strict", out=tmp_path / "p.yaml") == (3, 3, 3)


def test_a_box_option_decides_the_secret_rule_in_validate_as_in_plan(tmp_path: Path) -> None:
    """Both boxes at one URI: each stage read matches both boxes, hence both Secrets."""
    config = "boxes:\n  box: {secret: box-s3}\n  shared: {secret: shared-s3}\n"
    folder = module(tmp_path, PIPELINE.replace("          name: shared\n", ""), config=config)
    assert verdicts(folder, out=tmp_path / "p.yaml") == (0, 0, 0)  # reads only the default box
    same = ("--box", "box=s3://b/x", "--box", "shared=s3://b/x")
    assert verdicts(folder, *same, out=tmp_path / "p.yaml") == (3, 3, 3)


def test_validate_takes_the_box_option_and_refuses_an_unknown_box(tmp_path: Path) -> None:
    folder = module(tmp_path)
    result = cli("validate", folder, "--box", "shraed=s3://b/x", "--user", "someone")
    assert result.exit_code == EXIT_INVALID
    assert ("error: --box shraed: no connected box or DataBox named 'shraed' (boxes: box, "
            "shared)\n    hint: did you mean 'shared'?") in result.stderr
    assert verdicts(folder, "--box", "shraed=s3://b/x", out=tmp_path / "p.yaml") == (3, 3, 3)
    assert verdicts(folder, "--box", "shared=s3://b/x", out=tmp_path / "p.yaml") == (0, 0, 0)
    assert cli("validate", folder, "--box", "no-equals-sign").exit_code == 2


def test_validate_reads_the_config_option(tmp_path: Path) -> None:
    folder = module(tmp_path)
    config = tmp_path / "elsewhere.yaml"
    config.write_text("stages:\n  nope: {}\n")
    assert verdicts(folder, out=tmp_path / "p.yaml") == (0, 0, 0)
    assert verdicts(folder, "--config", config, out=tmp_path / "p.yaml") == (3, 3, 3)


def test_validate_strict_gives_the_same_verdict_as_plan_strict(tmp_path: Path) -> None:
    folder = module(tmp_path, PIPELINE.replace("    - name: out\n  stages:",
                                               "    - name: out\n    - name: unused\n  stages:"))
    assert verdicts(folder, out=tmp_path / "p.yaml") == (0, 0, 0)
    assert verdicts(folder, "--strict", out=tmp_path / "p.yaml") == (3, 3, 3)


def test_a_bad_project_file_is_reported_with_the_manifests_problems(tmp_path: Path) -> None:
    folder = module(tmp_path, PIPELINE.replace("cpu: 500m", "cpu: lots"),
                    config="tolerations:\n  - {key: a, operator: Maybe}\n")
    issues = check_files([str(folder)])
    assert {(Path(i.file or "").name, i.field) for i in issues} == {
        ("unip-kfp.yaml", "tolerations[0].operator"),
        ("pipeline.yaml", "spec.stages[0].resourceLimits.cpu"),
    }



def test_the_public_check_reports_what_validate_reports_and_never_raises(tmp_path: Path) -> None:
    """`unip_kfp.check` is the API `validate` renders: same issues, and no error means
    `load` with the same options succeeds."""
    folder = module(tmp_path, PIPELINE.replace("cpu: 500m", "cpu: lots"),
                    config="tolerations:\n  - {key: a, operator: Maybe}\n")
    issues = unip_kfp.check(str(folder), boxes={"shared": "s3://b/x"})
    shown = json.loads(cli("validate", folder, "--box", "shared=s3://b/x", "--format",
                           "json").stdout)["issues"]
    assert [i.as_dict() for i in issues] == shown and len(shown) == 2
    with pytest.raises(ManifestError):
        unip_kfp.load(str(folder), boxes={"shared": "s3://b/x"})
    (tmp_path / "good").mkdir()
    good = module(tmp_path / "good")
    assert not [i for i in unip_kfp.check([str(good)]) if i.severity is Severity.ERROR]
    assert unip_kfp.load(str(good)).pipelines

FIVE_PROBLEMS = PIPELINE.replace(
    "      entryPoint:\n        cmd: [python3, train.py]\n"
    "      resourceLimits:\n        cpu: 500m\n        memory: 1Gi\n",
    "      env:\n        - name: EPOCHS\n          value: 2\n"
    "      entryPoint:\n        cmd: python3 train.py\n"
    "      resourceLimits:\n        cpu: lots\n        memory: 1GB\n",
).replace("      default: true\n", '      default: "yes"\n')


def test_a_document_reports_its_schema_and_field_problems_at_once(tmp_path: Path) -> None:
    folder = module(tmp_path, FIVE_PROBLEMS)
    result = cli("validate", folder, "--format", "json")
    assert result.exit_code == EXIT_INVALID
    found = [(i["line"], i["field"], i["message"]) for i in json.loads(result.stdout)["issues"]]
    assert found == [
        (26, "spec.stages[0].env[0].value", "must be a string, got int 2"),
        (28, "spec.stages[0].entryPoint.cmd", "must be a list, got str 'python3 train.py'"),
        (34, "spec.connectedBoxes[0].default", "must be true or false, got str 'yes'"),
        (30, "spec.stages[0].resourceLimits.cpu", "cpu 'lots' is not a quantity Kubeflow accepts"),
        (31, "spec.stages[0].resourceLimits.memory",
         "memory '1GB' is not a quantity Kubeflow accepts"),
    ]
    with pytest.raises(ManifestError) as raised:
        unip_kfp.load(str(folder))
    assert len(raised.value.issues) == 5


def test_a_refused_field_gets_no_second_issue(tmp_path: Path) -> None:
    """A placeholder ('' for an image, [] for a command) must not add 'is empty' errors."""
    broken = PIPELINE.replace("existingImageName: img", "existingImageName: [img]").replace(
        "cmd: [python3, train.py]", "cmd: {run: train}"
    )
    issues = check_project(load_project([str(module(tmp_path, broken))]))
    assert [(i.field, i.message.split(",")[0]) for i in issues] == [
        ("spec.stages[0].image.existingImageName", "must be a string"),
        ("spec.stages[0].entryPoint.cmd", "must be a list"),
    ]


def test_a_partial_pipeline_still_gets_its_names_checked(tmp_path: Path) -> None:
    broken = PIPELINE.replace("cmd: [python3, train.py]", "cmd: 5").replace(
        "  name: p\n", "  name: P_1\n"
    )
    manifests = load_project([str(module(tmp_path, broken))])
    assert manifests.manifests == () and len(manifests.partial) == 1
    issues = check_project(manifests)
    assert [i.field for i in issues] == ["spec.stages[0].entryPoint.cmd", "metadata.name"]


def test_an_api_naming_a_partial_pipeline_is_not_an_error(tmp_path: Path) -> None:
    folder = module(tmp_path, PIPELINE.replace("cpu: 500m", "cpu: [1]"))
    (folder / "api.yaml").write_text(
        "apiVersion: unified-platform.cs.hse.ru/v1\nkind: APIComponent\n"
        "metadata: {name: p-api, namespace: ns}\nspec: {experimentPipeline: p}\n"
    )
    issues = check_project(load_project([str(folder)]))
    assert [i.field for i in issues] == ["spec.stages[0].resourceLimits.cpu"]


def test_check_project_keeps_warnings_as_warnings() -> None:
    """`--strict` is the caller's: the pass reports severities as they are."""
    manifests = load_project([str(Path(__file__).parent.parent / "examples" / "train-test"
                                  / "manifests")])
    settings = Settings()
    assert all(i.severity is Severity.WARNING for i in check_project(manifests, settings))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("spec", "stages", 0, "env", 0, "value"), 2, "2"),
        (("spec", "stages", 0, "env", 0, "value"), True, "true"),
        (("spec", "stages", 0, "entryPoint", "cmd"), "python3 x.py", ["python3 x.py"]),
        (("spec", "stages", 0, "inputs"), "a", []),
        (("spec", "connectedBoxes", 0, "default"), "yes", False),
        (("spec", "stages", 0, "resourceLimits", "cpu"), [1], None),
        (("spec", "stages", 0, "image"), "img", {}),
        (("kind",), None, "ExperimentPipeline"),
    ],
)
def test_placeholders_have_the_expected_type(path: tuple, value: object, expected: object) -> None:
    assert placeholder(annotation_at(models.ExperimentPipeline, path), value) == expected


def test_the_box_rules_survive_manifests_that_break_other_rules(tmp_path: Path) -> None:
    """A var declared twice, its mount on the first only: reported, never a crash."""
    twice = PIPELINE.replace("    - name: out\n  stages:", "    - name: ref\n    - name: out\n"
                             "  stages:")
    issues = check_files([str(module(tmp_path, twice, TWO_SECRETS))])
    assert [i.message for i in issues] == ["duplicate var 'ref' (first at vars[1])"]


def test_a_wrong_api_version_still_gets_the_data_flow_checked(tmp_path: Path) -> None:
    broken = PIPELINE.replace("apiVersion: unified-platform.cs.hse.ru/v1", "apiVersion: v1")
    broken = broken.replace("        - name: ref\n      outputs:",
                            "      outputs:\n        - name: ref")
    issues = check_project(load_project([str(module(tmp_path, broken))]))
    assert [i.field for i in issues] == ["apiVersion", "spec.stages[0].outputs"]
    assert "'ref' is mounted from a box and also written by a stage" in issues[1].message
