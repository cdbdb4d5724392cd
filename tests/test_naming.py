"""Name rules: env vars, KFP input/parameter names, task names, DNS-1123 labels (SPEC §1-§3)."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unip_kfp.checks.cross_manifest import check_manifests
from unip_kfp.errors import Severity
from unip_kfp.manifests.loader import load_project
from unip_kfp.naming import ENV_PREFIX, env_name, io_name, is_dns1123_label, is_env_name, task_name

# --- env var names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "expected"),
    [
        ("xy_train", "UNIP_PIPELINE_XY_TRAIN"),
        ("example_field", "UNIP_PIPELINE_EXAMPLE_FIELD"),  # the platform docs' example
        ("my-var.x y", "UNIP_PIPELINE_MY_VAR_X_Y"),
        ("Model2", "UNIP_PIPELINE_MODEL2"),
        ("a--b", "UNIP_PIPELINE_A__B"),  # one '_' per character, runs are not collapsed
        ("_x_", "UNIP_PIPELINE__X_"),
        ("1st", "UNIP_PIPELINE_1ST"),
        ("данные", "UNIP_PIPELINE_______"),  # six Cyrillic letters -> six '_'
        ("café", "UNIP_PIPELINE_CAF_"),
        ("x€y", "UNIP_PIPELINE_X_Y"),
        ("数据", "UNIP_PIPELINE___"),
    ],
)
def test_env_name(var: str, expected: str) -> None:
    assert env_name(var) == expected
    assert is_env_name(env_name(var))


def test_env_prefix() -> None:
    assert ENV_PREFIX == "UNIP_PIPELINE_"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_env_name_is_always_exportable(var: str) -> None:
    name = env_name(var)
    assert name.startswith(ENV_PREFIX)
    assert re.fullmatch(r"UNIP_PIPELINE_[A-Z0-9_]*", name), name
    assert is_env_name(name)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", max_size=20)
)
def test_env_name_of_plain_names_is_upper_case(var: str) -> None:
    assert env_name(var) == ENV_PREFIX + var.upper()


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("MY_VAR", True),
        ("_private", True),
        ("a1", True),
        ("lower_case", True),
        ("1BAD", False),
        ("MY-VAR", False),
        ("MY VAR", False),
        ("", False),
        ("É", False),
        ("A.B", False),
    ],
)
def test_is_env_name(name: str, ok: bool) -> None:
    assert is_env_name(name) is ok


# --- KFP names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "expected"),
    [
        ("xy_train", "xy_train"),
        ("XY-Train", "xy_train"),
        ("a--b", "a_b"),  # runs of other characters become one '_'
        ("a.b c", "a_b_c"),
        ("_x_", "x"),
        ("1st", "v_1st"),  # must start with a letter
        ("-", "v_"),
        ("", "v_"),
        ("данные", "v_"),
        ("model2", "model2"),
    ],
)
def test_io_name(var: str, expected: str) -> None:
    assert io_name(var) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_io_name_is_a_lower_case_identifier(var: str) -> None:
    name = io_name(var)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    assert name.isidentifier()
    assert not keyword.iskeyword(name), name


@pytest.mark.parametrize(
    ("var", "expected"),
    [("class", "class_"), ("for", "for_"), ("lambda", "lambda_"), ("Import", "import_")],
)
def test_io_name_is_never_a_python_keyword(var: str, expected: str) -> None:
    # Pipeline parameters become Python parameters (pipeline.py builds an inspect.Signature).
    assert io_name(var) == expected
    assert not keyword.iskeyword(io_name(var))


@pytest.mark.parametrize("var", keyword.kwlist)
def test_io_name_of_every_keyword_is_an_identifier(var: str) -> None:
    name = io_name(var)
    assert name.isidentifier() and not keyword.iskeyword(name), name


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("stage1", "stage1"),
        ("Stage 1", "stage-1"),
        ("train_model", "train-model"),
        ("--a--", "a"),
        ("a..b", "a-b"),
        ("", "stage"),
        ("___", "stage"),
        ("обучение", "stage"),
    ],
)
def test_task_name(stage: str, expected: str) -> None:
    assert task_name(stage) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_task_name_shape(stage: str) -> None:
    name = task_name(stage)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


# --- DNS-1123 labels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("my-pipeline", True),
        ("a", True),
        ("0", True),
        ("pu-username-pa-bm99", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("", False),
        ("-a", False),
        ("a-", False),
        ("My-pipeline", False),
        ("my_pipeline", False),
        ("my.pipeline", False),
        ("my pipeline", False),
        ("é", False),
    ],
)
def test_is_dns1123_label(name: str, ok: bool) -> None:
    assert is_dns1123_label(name) is ok


# '$' also matches before a final newline: the checks must match the whole name.


def test_dns1123_rejects_trailing_newline() -> None:
    assert is_dns1123_label("abc") is True
    assert is_dns1123_label("abc\n") is False


def test_env_name_check_rejects_trailing_newline() -> None:
    assert is_env_name("MY_VAR") is True
    assert is_env_name("MY_VAR\n") is False


# --- collisions are rejected by validation ---------------------------------------------------

PIPELINE = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: p
  namespace: ns
spec:
  vars:
    - name: {v1}
    - name: {v2}
  stages:
    - name: {s1}
      image:
        existingImageName: img
      outputs:
        - name: {v1}
      entryPoint:
        cmd: [run]
    - name: {s2}
      image:
        existingImageName: img
      outputs:
        - name: {v2}
      entryPoint:
        cmd: [run]
"""


def errors_for(tmp_path: Path, v1: str, v2: str, s1: str = "s1", s2: str = "s2") -> list[str]:
    text = PIPELINE.format(v1=f'"{v1}"', v2=f'"{v2}"', s1=f'"{s1}"', s2=f'"{s2}"')
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    issues = check_manifests(load_project([str(tmp_path)]))
    return [f"{i.line}:{i.field}: {i.message}" for i in issues if i.severity is Severity.ERROR]


def test_distinct_names_are_fine(tmp_path: Path) -> None:
    assert errors_for(tmp_path, "x", "y") == []


@pytest.mark.parametrize(
    ("v1", "v2", "env", "io"),
    [
        ("a-b", "a_b", "UNIP_PIPELINE_A_B", "a_b"),
        ("Data", "data", "UNIP_PIPELINE_DATA", "data"),
        ("x.y", "x y", "UNIP_PIPELINE_X_Y", "x_y"),
        ("é", "è", "UNIP_PIPELINE__", "v_"),
    ],
)
def test_env_and_kfp_name_collisions_are_errors(
    tmp_path: Path, v1: str, v2: str, env: str, io: str
) -> None:
    assert errors_for(tmp_path, v1, v2) == [
        f"9:spec.vars[1].name: vars '{v1}' and '{v2}' both become environment variable '{env}'",
        f"9:spec.vars[1].name: vars '{v1}' and '{v2}' both become KFP name '{io}'",
    ]


def test_kfp_name_collision_alone(tmp_path: Path) -> None:
    assert errors_for(tmp_path, "a-b", "a--b") == [
        "9:spec.vars[1].name: vars 'a-b' and 'a--b' both become KFP name 'a_b'"
    ]


def test_kfp_name_collision_with_keyword_suffix(tmp_path: Path) -> None:
    assert errors_for(tmp_path, "class", "class_") == [
        "9:spec.vars[1].name: vars 'class' and 'class_' both become KFP name 'class_'"
    ]


def test_kfp_name_collision_with_prefix(tmp_path: Path) -> None:
    assert errors_for(tmp_path, "1", "v_1") == [
        "9:spec.vars[1].name: vars '1' and 'v_1' both become KFP name 'v_1'"
    ]


def test_task_name_collision(tmp_path: Path) -> None:
    assert errors_for(tmp_path, "x", "y", "Train Model", "train-model") == [
        "18:spec.stages[1].name: stages 'Train Model' and 'train-model' both become KFP task "
        "'train-model'"
    ]


def test_invalid_pipeline_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(
        PIPELINE.format(v1="x", v2="y", s1="s1", s2="s2").replace("name: p\n", "name: P_1\n"),
        encoding="utf-8",
    )
    issues = check_manifests(load_project([str(tmp_path)]))
    assert [(i.line, i.field, i.message) for i in issues] == [
        (4, "metadata.name", "'P_1' is not a valid name")
    ]


def test_collision_of_undeclared_names_is_not_blamed_on_the_first_var(tmp_path: Path) -> None:
    text = PIPELINE.format(v1="x", v2="y", s1="s1", s2="s2").replace(
        "        - name: y\n", "        - name: y\n        - name: q-r\n        - name: q_r\n"
    )
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    issues = check_manifests(load_project([str(tmp_path)]))
    # Undeclared names are errors where the stage uses them; no collision is blamed on a var.
    assert [(i.line, i.field, i.message) for i in issues] == [
        (23, "spec.stages[1].outputs[1].name", "'q-r' is not a declared var"),
        (24, "spec.stages[1].outputs[2].name", "'q_r' is not a declared var"),
    ]


# --- keyword var names compile ------------------------------------------------------------------

KEYWORD_VARS = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata: {name: p, namespace: ns}
spec:
  vars: [{name: class}, {name: for}, {name: lambda}, {name: import}]
  stages:
    - name: s1
      image: {existingImageName: img}
      inputs: [{name: class}, {name: import}]
      outputs: [{name: for}]
      entryPoint: {cmd: [run]}
    - name: s2
      image: {existingImageName: img}
      inputs: [{name: for}]
      outputs: [{name: lambda}]
      entryPoint: {cmd: [run]}
---
apiVersion: unified-platform.cs.hse.ru/v1
kind: APIComponent
metadata: {name: api, namespace: ns}
spec:
  experimentPipeline: p
  apiSpec:
    inputs:
      - name: class
        type: {datatypes: [FILE]}
      - name: import
        type: {datatypes: [str]}
    outputs: [{name: lambda}]
"""


def test_vars_named_like_python_keywords_compile(tmp_path: Path) -> None:
    """Such names used to pass validation and then fail compile with an internal error."""
    import yaml

    import unip_kfp

    (tmp_path / "p.yaml").write_text(KEYWORD_VARS, encoding="utf-8")
    (package,) = unip_kfp.load(str(tmp_path)).compile()
    spec = next(yaml.safe_load_all(package.content))
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"class_", "import_"}
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"lambda_"}
