"""JSON Schemas of the manifests and of unip-kfp.yaml: committed, current, and faithful.

The schemas are generated from the pydantic models that validate
(`unip_kfp.manifests.json_schemas`). These tests check that `schemas/` holds exactly what
the code generates, that every valid manifest we know (examples, compile cases, the seed
documents) passes, that every invalid-catalogue
case whose problem lies inside one document fails the schema where the catalogue points,
that cross-manifest problems (which a schema cannot see) do not fail it, and that each
pattern accepts exactly the values validation accepts.

Regenerate after an intended model change: `unip-kfp schema --write schemas` (or run this
file with UNIP_KFP_REGENERATE_GOLDEN=1).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from support.invalid_cases import CASES, Case

from unip_kfp.checks.pipeline_rules import CPU_QUANTITY, MEMORY_QUANTITY, RESERVED_TASK
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_USAGE, ManifestError
from unip_kfp.manifests import json_schemas as schema
from unip_kfp.manifests import models
from unip_kfp.manifests.project_config import load_settings
from unip_kfp.manifests.yaml_source import format_path, read_documents
from unip_kfp.naming import is_dns1123_label, is_env_name, task_name

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
SEED_CASES = Path(__file__).resolve().parent / "schema_cases"
REGENERATE = os.environ.get("UNIP_KFP_REGENERATE_GOLDEN") == "1"


def validator(name: str) -> jsonschema.protocols.Validator:
    """A validator for the committed schema file `name`, of the draft it declares."""
    document = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(document)
    return cls(document)


MANIFEST = "manifest.schema.json"
CONFIG = "unip-kfp.schema.json"
PER_KIND = {
    "ExperimentPipeline": "experiment-pipeline.schema.json",
    "APIComponent": "api-component.schema.json",
    "DataBox": "data-box.schema.json",
}


def all_errors(errors: Any) -> list[jsonschema.ValidationError]:
    """Errors with the errors of their sub-schemas (anyOf, allOf/if-then), flattened."""
    found = []
    for error in errors:
        found.append(error)
        found += all_errors(error.context or [])
    return found


def documents_of(path: Path) -> list[Any]:
    documents, issues = read_documents(path.read_text(encoding="utf-8-sig"), str(path))
    assert not issues, issues
    return [d.data for d in documents]


# --- committed and current --------------------------------------------------------------------


def test_committed_schemas_are_current() -> None:
    generated = schema.schema_files()
    assert set(generated) == {MANIFEST, CONFIG, *PER_KIND.values()}
    if REGENERATE:
        schema.write_schemas(str(SCHEMAS))
    on_disk = {p.name for p in SCHEMAS.glob("*.json")}
    assert on_disk == set(generated), "schemas/ holds other files than the generated ones"
    for name, text in generated.items():
        committed = (SCHEMAS / name).read_text(encoding="utf-8")
        assert committed == text, f"schemas/{name} is stale: run `unip-kfp schema --write schemas`"


@pytest.mark.parametrize("name", sorted(schema.schema_files()))
def test_each_schema_is_a_valid_draft_07_schema(name: str) -> None:
    document = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    assert document["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(document)
    assert document["title"] and document["description"]


def described_properties(node: Any, path: str = "") -> list[tuple[str, bool]]:
    """(path, has a description) for every property declared anywhere in a schema (the
    conditions of `if` test keys, they do not declare them)."""
    found: list[tuple[str, bool]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if":
                continue
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                for prop, sub in value.items():
                    found.append((f"{path}.{prop}", bool(sub.get("description"))))
                    found += described_properties(sub, f"{path}.{prop}")
            else:
                found += described_properties(value, path)
    elif isinstance(node, list):
        for item in node:
            found += described_properties(item, path)
    return found


@pytest.mark.parametrize("name", sorted(schema.schema_files()))
def test_every_known_key_has_a_description(name: str) -> None:
    document = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    properties = described_properties(document)
    assert len(properties) > 5
    missing = [path for path, described in properties if not described]
    assert not missing, f"keys without a description in {name}: {missing}"


def test_descriptions_are_english_and_follow_the_platform_docs() -> None:
    text = (SCHEMAS / "experiment-pipeline.schema.json").read_text(encoding="utf-8")
    assert not re.search("[\u0400-\u04ff]", text), "descriptions are in English"
    pipeline = json.loads(text)
    definitions = pipeline["definitions"]
    stage = definitions["Stage"]["properties"]
    assert "UNIP_PIPELINE_" in stage["inputs"]["description"]
    assert "joined" in definitions["EntryPoint"]["properties"]["cmd"]["description"]
    assert "string" in definitions["EnvVar"]["properties"]["value"]["description"]
    assert "-slim" in definitions["Image"]["properties"]["existingImageName"]["description"]


def test_allowed_values_are_in_the_schema() -> None:
    api = json.loads((SCHEMAS / "api-component.schema.json").read_text(encoding="utf-8"))
    datatypes = api["definitions"]["DataType"]["properties"]["datatypes"]
    branch = next(b for b in datatypes["anyOf"] if b.get("type") == "array")
    assert branch["items"]["enum"] == list(models.DATATYPES)
    assert api["properties"]["apiVersion"]["const"] == models.API_VERSION
    pipeline = json.loads((SCHEMAS / "experiment-pipeline.schema.json").read_text())
    limits = pipeline["definitions"]["ResourceLimits"]
    assert limits["properties"]["cpu"]["anyOf"][0]["pattern"]
    assert limits["properties"]["memory"]["anyOf"][0]["pattern"]
    assert "/" in limits["patternProperties"]
    assert limits["additionalProperties"] is True  # unknown keys only warn


# --- valid manifests pass -----------------------------------------------------------------------


def valid_manifest_files() -> list[Path]:
    files = sorted((ROOT / "examples").glob("*/manifests/*.yaml"))
    files += sorted((ROOT / "tests" / "compile_cases").glob("*/*.yaml"))
    files += sorted(SEED_CASES.glob("*.yaml"))
    return [f for f in files if f.name != "unip-kfp.yaml"]


@pytest.mark.parametrize(
    "path", valid_manifest_files(), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_valid_manifests_pass_the_schemas(path: Path) -> None:
    documents = documents_of(path)
    assert documents
    for data in documents:
        errors = list(validator(MANIFEST).iter_errors(data))
        assert not errors, [e.message for e in errors]
        kind_file = PER_KIND.get(data["kind"])
        if kind_file:
            assert not list(validator(kind_file).iter_errors(data))


def test_the_seed_documents_are_the_platform_examples() -> None:
    """The seed copy holds seed 000's pipeline and API, and seed 001's mounted variable."""
    kinds = [d["kind"] for p in SEED_CASES.glob("*.yaml") for d in documents_of(p)]
    assert kinds.count("ExperimentPipeline") == 2 and kinds.count("APIComponent") == 2
    assert "DataBox" in kinds


def valid_config_files() -> list[Path]:
    return sorted((ROOT / "tests" / "compile_cases").glob("*/unip-kfp.yaml"))


@pytest.mark.parametrize("path", valid_config_files(), ids=lambda p: p.parent.name)
def test_valid_configs_pass_the_config_schema(path: Path) -> None:
    load_settings(str(path))  # the loader accepts it
    for data in documents_of(path):
        assert not list(validator(CONFIG).iter_errors(data))


def test_readme_config_example_passes() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Boxes and the project file `unip-kfp.yaml`", 1)[1]
    config = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = yaml.safe_load(config)
    assert data["boxes"]
    assert not list(validator(CONFIG).iter_errors(data))


# --- the invalid-manifest catalogue --------------------------------------------------------------

# Problems inside one document: the schema must refuse them, where the catalogue points.
SCHEMA_LEVEL = {
    "api-unknown-datatype", "box-path-escapes-box", "box-path-absolute", "relative-var-path",
    "relative-stage-path", "relative-box-path", "dotdot-path", "invalid-stage-env-name",
    "stage-env-name-with-dash", "reserved-env-prefix", "reserved-env-prefix-lower-case",
    "invalid-metadata-name", "metadata-name-too-long", "missing-namespace", "empty-stage-name",
    "blank-box-name", "empty-cmd", "blank-cmd", "empty-image", "bad-cpu", "bad-memory",
    "bad-memory-unit", "cpu-with-trailing-newline", "memory-with-trailing-newline",
    "metadata-name-with-trailing-newline", "env-name-with-trailing-newline",
    "bad-accelerator-count", "non-string-env-value", "boolean-env-value", "wrong-type-list",
    "wrong-type-bool", "missing-required-field", "missing-metadata-name", "wrong-api-version",
    "unknown-kind", "missing-kind", "pipeline-metadata-is-a-list", "document-is-a-list",
    "second-document-is-a-scalar", "line-numbers-in-a-later-document",
}  # fmt: skip
# Problems between fields, documents or files (and warnings): every document passes alone.
CROSS_DOCUMENT = {
    "stage-input-undeclared", "stage-output-undeclared", "unused-var",
    "internal-read-before-write", "api-output-read-before-written", "two-stages-write-one-var",
    "no-api-input-written-later", "mounted-var-written", "api-input-not-a-var",
    "api-output-not-a-var", "api-output-written-by-no-stage", "api-input-written-by-stage",
    "api-duplicate-input", "api-output-required-has-no-effect", "api-names-missing-pipeline",
    "api-names-missing-pipeline-bare-string", "two-apis-for-one-pipeline", "two-default-boxes",
    "mount-from-unconnected-box", "mount-without-box-and-no-default",
    "databox-not-among-manifests", "colliding-paths-in-one-stage", "nested-paths-in-one-stage",
    "env-var-name-collision", "kfp-name-collision", "stage-task-name-collision",
    "duplicate-stage-env", "mixed-namespaces", "mixed-namespaces-every-other-manifest-reported",
    "duplicate-stage-names", "duplicate-vars", "duplicate-stage-input", "duplicate-manifest-name",
    "unknown-key", "unknown-top-level-key", "skipped-kind-is-not-reported", "utf8-bom-is-fine",
}  # fmt: skip
# Problems of the file below YAML (encoding, syntax, no file): no data for a schema to see.
FILE_LEVEL = {
    "invalid-yaml", "invalid-yaml-unclosed-bracket", "empty-file", "comments-only-file",
    "missing-file", "folder-without-manifests", "duplicate-yaml-key", "not-utf8",
    "control-character",
}  # fmt: skip


def test_every_catalogue_case_is_classified() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    groups = (SCHEMA_LEVEL, CROSS_DOCUMENT, FILE_LEVEL)
    assert sum(len(g) for g in groups) == len(SCHEMA_LEVEL | CROSS_DOCUMENT | FILE_LEVEL)
    assert set(ids) == SCHEMA_LEVEL | CROSS_DOCUMENT | FILE_LEVEL


def case_documents(case: Case) -> dict[str, list[Any]]:
    """The parsed documents of each file of a case (files YAML cannot read have none)."""
    result: dict[str, list[Any]] = {}
    for name, content in case.files.items():
        if isinstance(content, bytes):
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError:
                continue
        documents, _ = read_documents(content.removeprefix("\ufeff"), name)
        result[name] = [d.data for d in documents]
    return result


def by_id(group: set[str]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES if c.id in group]


@pytest.mark.parametrize("case", by_id(SCHEMA_LEVEL))
def test_schema_level_catalogue_cases_fail_the_schema(case: Case) -> None:
    """Each expected error is a schema error in the same file, at (or below) the same field."""
    documents = case_documents(case)
    check = validator(MANIFEST)
    for expect in case.expected:
        errors = [e for d in documents.get(expect.file, []) for e in check.iter_errors(d)]
        assert errors, f"{case.id}: the schema accepts {expect.file}"
        if expect.field is None:
            continue
        located = [
            e for e in all_errors(errors)
            if format_path(tuple(e.absolute_path)).startswith(expect.field)
            or (
                e.validator == "required"
                and format_path((*e.absolute_path, e.message.split("'")[1])) == expect.field
            )
        ]  # fmt: skip
        assert located, (expect.field, [(list(e.absolute_path), e.message) for e in errors])


@pytest.mark.parametrize("case", by_id(CROSS_DOCUMENT | FILE_LEVEL))
def test_other_catalogue_cases_pass_the_schema_document_by_document(case: Case) -> None:
    check = validator(MANIFEST)
    for name, documents in case_documents(case).items():
        for data in documents:
            errors = [e.message for e in check.iter_errors(data)]
            assert not errors, (name, errors)


# --- each pattern means what validation checks ---------------------------------------------------


def accepts(document: dict[str, Any], data: Any) -> bool:
    return jsonschema.Draft7Validator(document).is_valid(data)


def definition(file: str, name: str) -> dict[str, Any]:
    """A definition of a committed schema as a standalone schema (its refs still resolve)."""
    document = json.loads((SCHEMAS / file).read_text(encoding="utf-8"))
    return {**document["definitions"][name], "definitions": document["definitions"]}


LIMITS = definition(PER_KIND["ExperimentPipeline"], "ResourceLimits")
ENV = definition(PER_KIND["ExperimentPipeline"], "EnvVar")
VAR = definition(PER_KIND["ExperimentPipeline"], "Var")
BOX_REF = definition(PER_KIND["ExperimentPipeline"], "BoxRef")
STAGE = definition(PER_KIND["ExperimentPipeline"], "Stage")
METADATA = definition(PER_KIND["ExperimentPipeline"], "Metadata")
QUANTITY_TEXT = st.text(alphabet="0123456789.mMGiKkEPT -\n", max_size=8)
NAME_TEXT = st.text(alphabet="abcAUNIP_LE09-_. \n", max_size=18)
PATH_TEXT = st.text(alphabet="/a.b \n", max_size=10)
STAGE_TEXT = st.sampled_from(
    ["importer", "Importer-2", "condition branches", "for_loop", "exit-handler-12", "-importer-",
     "importer--1", "importer_-1", "condition-1a", "for loop 3", "stage", "importers", "x"]
) | st.text(alphabet="imporTerconditbranchsfxl-_ 12", max_size=22)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(QUANTITY_TEXT)
def test_cpu_and_memory_patterns_match_validation(value: str) -> None:
    assert accepts(LIMITS, {"cpu": value}) == bool(CPU_QUANTITY.fullmatch(value))
    assert accepts(LIMITS, {"memory": value}) == bool(MEMORY_QUANTITY.fullmatch(value))


@settings(max_examples=300, deadline=None)
@given(NAME_TEXT)
def test_name_patterns_match_validation(value: str) -> None:
    env_ok = is_env_name(value) and not value.upper().startswith("UNIP_PIPELINE_")
    assert accepts(ENV, {"name": value, "value": ""}) == env_ok
    ok_name = is_dns1123_label(value)
    assert accepts(METADATA, {"name": value, "namespace": "ns"}) == ok_name


@settings(max_examples=300, deadline=None)
@given(PATH_TEXT)
def test_path_patterns_match_validation(value: str) -> None:
    container_ok = value.startswith("/") and ".." not in value.split("/")
    assert accepts(VAR, {"name": "v", "path": value}) == container_ok
    box_ok = not value.startswith("/") and ".." not in value.split("/")
    assert accepts(BOX_REF, {"boxPath": value}) == box_ok


@settings(max_examples=300, deadline=None)
@given(STAGE_TEXT)
def test_stage_name_pattern_matches_validation(value: str) -> None:
    stage = {"name": value, "image": {"existingImageName": "i"}, "entryPoint": {"cmd": ["x"]}}
    valid = bool(value.strip()) and not RESERVED_TASK.fullmatch(task_name(value))
    assert accepts(STAGE, stage) == valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [(1, True), ("2", True), ("01", True), (0, False), ("0", False), (-1, False), ("x", False),
     (True, False), ("1\n", False)],
)  # fmt: skip
def test_accelerator_counts_match_validation(value: object, valid: bool) -> None:
    assert accepts(LIMITS, {"nvidia.com/gpu": value}) == valid


# --- unip-kfp.yaml --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "boxes: {b: {uri: s3://x, accesskey: k}}\n",
        "nodeSelector: {Password: x}\n",
        "stages: {train: {token: x}}\n",
        "imagePullSecrets: regcred\n",
        "kubeflow: {hostt: http://x}\n",
        "tolerations: [{operator: Maybe}]\n",
        "unknown: 1\n",
        "s3: {secure: 'yes'}\n",
    ],
)
def test_configs_the_loader_refuses_fail_the_schema(text: str, tmp_path: Path) -> None:
    path = tmp_path / "unip-kfp.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError):
        load_settings(str(path))
    assert not validator(CONFIG).is_valid(yaml.safe_load(text))


# --- the command --------------------------------------------------------------------------------


def test_cli_schema_prints_the_committed_schemas() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (SCHEMAS / MANIFEST).read_text(encoding="utf-8")
    for kind, file in {**PER_KIND, "unip-kfp.yaml": CONFIG, "experiment-pipeline": PER_KIND[
            "ExperimentPipeline"], "config": CONFIG, "databox": PER_KIND["DataBox"]}.items():
        result = runner.invoke(main, ["schema", kind])
        assert result.exit_code == 0, (kind, result.output)
        assert result.stdout == (SCHEMAS / file).read_text(encoding="utf-8"), kind


def test_cli_schema_unknown_kind_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["schema", "MLComponent"])
    assert result.exit_code == EXIT_USAGE
    assert "no schema for 'MLComponent'" in result.stderr
    assert "ExperimentPipeline" in result.stderr and "Traceback" not in result.output


def test_cli_schema_write_writes_every_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "--write", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    for name in schema.schema_files():
        written = (tmp_path / "s" / name).read_text(encoding="utf-8")
        assert written == (SCHEMAS / name).read_text(encoding="utf-8")
        assert str(tmp_path / "s" / name) in result.stdout


def test_cli_schema_kind_and_write_together_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "DataBox", "--write", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE
    assert "--write" in result.stderr
