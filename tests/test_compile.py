"""Field by field: every mapped manifest field appears where SPEC §3-§5 puts it in the package.

The expectations are derived here from the raw manifest YAML (read with PyYAML, not with
unip_kfp's loader) and the SPEC's rules, then checked against the compiled packages of
every golden case (shared with test_golden.py, compiled once). Literal assertions for the
examples pin the exact shape; the generic checks make sure no field of any case is
dropped (peers' lesson: a field nobody asserts is a field that silently breaks).
The CLI's file handling and exit codes are at the end.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support.goldens import (
    CASES,
    CASES_DIR,
    EXAMPLES,
    USER,
    all_packages,
    compile_case,
    compiled,
    documents,
)

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.compile import stage_wrapper as wrapper
from unip_kfp.plan.model import SENTINEL_URI

SEED_000 = EXAMPLES / "train-test" / "manifests"
SEED_001 = EXAMPLES / "train-test-mounted" / "manifests"
VALUE_TYPES = {
    "FP32": "NUMBER_DOUBLE",
    "FP64": "NUMBER_DOUBLE",
    "INT32": "NUMBER_INTEGER",
    "dict": "STRUCT",
    "str": "STRING",
}
DEFAULT_BOX_ROOT = "minio://mlpipeline/unip"


# --- the manifests as the SPEC reads them (independent of unip_kfp's loader and plan)


def env_of(var: str) -> str:
    return "UNIP_PIPELINE_" + re.sub(r"[^A-Z0-9_]", "_", var.upper())


def io_of(var: str) -> str:
    return re.sub(r"[^_0-9a-z]+", "_", var.lower()).strip("_")


def task_of(stage: str) -> str:
    return re.sub(r"[^-0-9a-z]+", "-", stage.lower()).strip("-")


def path_ph(io: str) -> str:
    return f"{{{{$.inputs.artifacts['{io}'].path}}}}"


def uri_ph(io: str) -> str:
    return f"{{{{$.inputs.artifacts['{io}'].uri}}}}"


def out_ph(io: str) -> str:
    return f"{{{{$.outputs.artifacts['{io}'].path}}}}"


def value_ph(io: str) -> str:
    return f"{{{{$.inputs.parameters['{io}']}}}}"


@dataclass
class Expected:
    """One pipeline as the manifests declare it, with SPEC §3/§4 roles and URIs applied."""

    name: str
    namespace: str
    spec: dict[str, Any]
    api: dict[str, Any] | None
    api_name: str | None
    config: dict[str, Any]
    boxes: dict[str, str]

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.spec["stages"]

    @property
    def declared(self) -> dict[str, dict[str, Any]]:
        return {v["name"]: v for v in self.spec.get("vars", [])}

    def api_input(self, var: str) -> dict[str, Any] | None:
        return next((v for v in (self.api or {}).get("inputs", []) if v["name"] == var), None)

    def api_output(self, var: str) -> dict[str, Any] | None:
        return next((v for v in (self.api or {}).get("outputs", []) if v["name"] == var), None)

    def readers_writers(self, var: str) -> tuple[list[int], list[int]]:
        readers = [i for i, s in enumerate(self.stages) if var in names(s.get("inputs"))]
        writers = [i for i, s in enumerate(self.stages) if var in names(s.get("outputs"))]
        return readers, writers

    def mount_of(self, var: str, stage: dict[str, Any] | None = None) -> str | None:
        """The mount URI of var (stage entry wins over the var), None when not mounted."""
        entry = next((r for r in (stage or {}).get("inputs", []) if r["name"] == var), {})
        mount = entry.get("mountFrom") or self.declared.get(var, {}).get("mountFrom")
        if mount is None and stage is None:
            mount = next(
                (
                    r["mountFrom"]
                    for s in self.stages
                    for r in s.get("inputs", [])
                    if r["name"] == var and r.get("mountFrom")
                ),
                None,
            )
        if mount is None:
            return None
        box_name = mount["box"].get("name")
        box = next(
            b
            for b in self.spec["connectedBoxes"]
            if (b["name"] == box_name if box_name else b.get("default"))
        )
        base = self.box_uri(box)
        path = mount["box"].get("boxPath", "").strip("/")
        return f"{base}/{path}" if path else base

    def box_uri(self, box: dict[str, Any]) -> str:
        s3 = box["mountS3Box"]["s3BoxName"]
        configured = self.config.get("boxes", {})
        uri = (
            self.boxes.get(box["name"])
            or self.boxes.get(s3)
            or (configured.get(box["name"]) or configured.get(s3) or {}).get("uri")
            or f"{DEFAULT_BOX_ROOT}/{self.namespace}/{s3}"
        )
        return uri.rstrip("/")

    def is_input(self, var: str) -> bool:
        if self.api is not None:
            return self.api_input(var) is not None
        if self.mount_of(var) is not None:
            return False
        readers, writers = self.readers_writers(var)
        return bool(readers) and (not writers or min(readers) <= min(writers))

    def inputs(self) -> list[str]:
        used = dict.fromkeys(
            r["name"] for s in self.stages for k in ("inputs", "outputs") for r in s.get(k, [])
        )
        return [v for v in used if self.is_input(v)]

    def outputs(self) -> list[str]:
        if self.api is not None:
            return [v["name"] for v in self.api.get("outputs", [])]
        found = []
        for var in dict.fromkeys(r["name"] for s in self.stages for r in s.get("outputs", [])):
            readers, writers = self.readers_writers(var)
            if not any(r > min(writers) for r in readers) and not self.is_input(var):
                found.append(var)
        return found

    def value_type(self, var: str) -> str | None:
        """The IR parameter type of a value input; None for files (SPEC §3 datatypes)."""
        api_var = self.api_input(var)
        datatypes = ((api_var or {}).get("type") or {}).get("datatypes") or []
        if not datatypes or not all(d in VALUE_TYPES for d in datatypes):
            return None
        types = {VALUE_TYPES[d] for d in datatypes}
        if types <= {"NUMBER_DOUBLE", "NUMBER_INTEGER"}:
            return "NUMBER_DOUBLE" if "NUMBER_DOUBLE" in types else "NUMBER_INTEGER"
        return types.pop() if len(types) == 1 else "STRING"

    def required(self, var: str) -> bool:
        api_var = self.api_input(var)
        return (api_var or {}).get("required", True) and self.mount_of(var) is None

    def producer(self, var: str) -> dict[str, Any]:
        return next(s for s in self.stages if var in names(s.get("outputs")))

    def target(self, stage: dict[str, Any], var: str, kind: str) -> str:
        entry = next(r for r in stage.get(kind, []) if r["name"] == var)
        return entry.get("path") or self.declared.get(var, {}).get("path") or ""


def names(refs: list[dict[str, Any]] | None) -> list[str]:
    return [r["name"] for r in refs or []]


def read_expected(case_id: str) -> dict[str, Expected]:
    case = CASES[case_id]
    docs: list[dict[str, Any]] = []
    for file in sorted(case.path.rglob("*.y*ml")):
        if file.name not in ("unip-kfp.yaml", "unip-kfp.yml"):
            docs += [d for d in yaml.safe_load_all(file.read_text()) if d]
    config_file = case.path / "unip-kfp.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.exists() else {}
    apis = {}
    for doc in docs:
        if doc["kind"] == "APIComponent" and doc["spec"].get("experimentPipeline"):
            ref = doc["spec"]["experimentPipeline"]
            apis[ref["name"] if isinstance(ref, dict) else ref] = doc
    found = {}
    for doc in docs:
        if doc["kind"] == "ExperimentPipeline":
            name = doc["metadata"]["name"]
            api = apis.get(name)
            found[name] = Expected(
                name,
                doc["metadata"]["namespace"],
                doc["spec"],
                api["spec"].get("apiSpec", {}) if api else None,
                api["metadata"]["name"] if api else None,
                config,
                dict(case.boxes),
            )
    return found


# --- navigating a package


@functools.cache
def parsed(case_id: str, pipeline: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return documents(compiled(case_id)[pipeline])


class Package:
    """One compiled package (parsed once per session; tests only read it)."""

    def __init__(self, case_id: str, pipeline: str):
        self.case_id = case_id
        self.options = CASES[case_id].options
        self.spec, self.platform = parsed(case_id, pipeline)
        self.tasks: dict[str, Any] = self.spec["root"]["dag"]["tasks"]

    def component(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.spec["components"][task["componentRef"]["name"]]

    def executor(self, task: dict[str, Any]) -> dict[str, Any]:
        label = self.component(task)["executorLabel"]
        return self.spec["deploymentSpec"]["executors"][label]

    def stage_task(self, stage_name: str) -> tuple[str, dict[str, Any]]:
        """The one root task whose display name is the stage name."""
        found = [(k, t) for k, t in self.tasks.items() if t["taskInfo"]["name"] == stage_name]
        assert len(found) == 1, f"{len(found)} tasks display '{stage_name}'"
        return found[0]

    def container(self, stage_name: str) -> dict[str, Any]:
        return self.executor(self.stage_task(stage_name)[1])["container"]

    def needs(self, key: str) -> set[str]:
        """What a root task waits for on the 2.17 backend: `dependentTasks` and the producers
        of its inputs (`argocompiler/dag.go` `addImplicitDependencies` adds those)."""
        task = self.tasks[key]
        inputs = task.get("inputs", {})
        producers = {
            b[kind]["producerTask"]
            for b in [*inputs.get("artifacts", {}).values(), *inputs.get("parameters", {}).values()]
            for kind in ("taskOutputArtifact", "taskOutputParameter")
            if kind in b
        }
        return set(task.get("dependentTasks", [])) | producers

    def all_tasks(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(task, its component) in the root DAG and in every sub-DAG."""
        found = [(t, self.component(t)) for t in self.tasks.values()]
        for component in self.spec["components"].values():
            for task in component.get("dag", {}).get("tasks", {}).values():
                found.append((task, self.component(task)))
        return found


def packages() -> list[tuple[str, str]]:
    return all_packages()


def head(var: str, target: str) -> str:
    """`ENV` or `ENV=TARGET` (trailing `/` dropped), `$` doubled for the kubelet."""
    text = f"{env_of(var)}={target.rstrip('/')}" if target else env_of(var)
    return text.replace("$", "$$")


def expected_records(exp: Expected, stage: dict[str, Any]) -> list[Any]:
    """The wrapper records of a stage as SPEC §5 and wrapper.py define them, then the script."""
    records: list[Any] = []
    for ref in stage.get("inputs", []):
        var, io = ref["name"], io_of(ref["name"])
        first = head(var, exp.target(stage, var, "inputs"))
        if exp.is_input(var) and exp.value_type(var):
            record = ["val", first, value_ph(io)]
            if not exp.required(var):
                record = [{"IfPresent": {"InputName": io, "Then": record}}]
            records += record
        elif exp.is_input(var) and not exp.required(var) and exp.mount_of(var) is None:
            records += ["opt", first, path_ph(io), uri_ph(io), SENTINEL_URI]
        else:
            records += ["in", first, path_ph(io)]
    for ref in stage.get("outputs", []):
        var = ref["name"]
        records += ["out", head(var, exp.target(stage, var, "outputs")), out_ph(io_of(var))]
    return [*records, wrapper.container_script()]


def decoded_args(args: list[Any]) -> list[Any]:
    """IfPresent records are serialised as JSON strings in the args; decode them."""
    return [
        json.loads(a) if isinstance(a, str) and a.startswith('{"IfPresent"') else a for a in args
    ]


PARAMS = pytest.mark.parametrize(("case_id", "pipeline"), packages())


@functools.cache
def _read_expected(case_id: str) -> dict[str, Expected]:
    return read_expected(case_id)


def expectations(case_id: str, pipeline: str) -> tuple[Expected, Package]:
    return _read_expected(case_id)[pipeline], Package(case_id, pipeline)


# --- generic: every case, every stage, every field


@PARAMS
def test_every_stage_is_one_task_named_by_its_stage(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    stage_tasks = [
        t
        for t in pkg.tasks.values()
        if "executorLabel" in pkg.component(t) and "container" in pkg.executor(t)
    ]
    assert len(stage_tasks) == len(exp.stages)
    for stage in exp.stages:
        key, task = pkg.stage_task(stage["name"])
        assert key == task_of(stage["name"])
        assert task["componentRef"]["name"] == f"comp-{task_of(stage['name'])}"


@PARAMS
def test_image_and_constant_wrapper_command(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        container = pkg.container(stage["name"])
        assert container["image"] == stage["image"]["existingImageName"]
        # the user's command first (what the UI's stage panel shows first), not escaped
        cmd = " ".join(stage["entryPoint"]["cmd"])
        assert container["command"] == wrapper.container_command(cmd)
        assert container["command"][3] == cmd
        assert container["args"][-1] == wrapper.container_script()


@PARAMS
def test_args_are_the_records_in_manifest_order(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        assert decoded_args(pkg.container(stage["name"])["args"]) == expected_records(exp, stage)


@PARAMS
def test_env_is_set_on_the_container(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        expected = [{"name": e["name"], "value": e["value"]} for e in stage.get("env", [])]
        assert pkg.container(stage["name"]).get("env", []) == expected


@PARAMS
def test_resources_are_limits_and_requests(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        limits = stage.get("resourceLimits") or {}
        expected: dict[str, Any] = {}
        if "cpu" in limits:
            expected["resourceCpuLimit"] = expected["resourceCpuRequest"] = str(limits["cpu"])
        if "memory" in limits:
            expected["resourceMemoryLimit"] = str(limits["memory"])
            expected["resourceMemoryRequest"] = str(limits["memory"])
        accelerators = {k: v for k, v in limits.items() if "/" in k}
        resources = pkg.container(stage["name"]).get("resources", {})
        assert {k: v for k, v in resources.items() if k.startswith("resource")} == expected
        # kfp's deprecated floats (GB, lossy) go: the 2.17 driver reads the quantities first
        assert not {"cpuLimit", "cpuRequest", "memoryLimit", "memoryRequest"} & set(resources)
        if accelerators:
            ((kind, count),) = accelerators.items()
            assert resources["accelerator"]["resourceType"] == kind
            assert resources["accelerator"]["resourceCount"] == str(count)
        else:
            assert "accelerator" not in resources
        if not limits:
            assert "resources" not in pkg.container(stage["name"])


@PARAMS
def test_display_names_are_stage_names(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    shown = {t["taskInfo"]["name"] for t in pkg.tasks.values()}
    assert {s["name"] for s in exp.stages} <= shown
    assert pkg.spec["pipelineInfo"]["name"] == exp.name
    assert pkg.spec["pipelineInfo"]["displayName"] == exp.name
    if exp.api_name:
        assert exp.api_name in pkg.spec["pipelineInfo"]["description"]


@PARAMS
def test_description_guides_the_run_form(case_id: str, pipeline: str) -> None:
    """The UI's run form explains nothing; the description it shows lists every input in
    manifest order: name, required/optional, what to enter, its description."""
    exp, pkg = expectations(case_id, pipeline)
    first, *lines = pkg.spec["pipelineInfo"]["description"].split("\n")
    order = [v["name"] for v in (exp.api or {}).get("inputs", [])] or list(exp.declared)
    inputs = sorted(exp.inputs(), key=lambda v: order.index(v) if v in order else len(order))
    items = [line for line in lines if line.startswith("- ")]
    assert len(first) <= 80 or inputs, first  # what the pipelines list shows
    assert [line.split("`")[1] for line in items] == inputs
    for var, line in zip(inputs, items, strict=True):
        need = "required" if exp.required(var) else "optional"
        assert line.startswith(f"- `{var}` ({need}"), line
        if exp.mount_of(var):
            assert f"default `{exp.mount_of(var)}`" in line
        what = {"NUMBER_DOUBLE": "a number", "NUMBER_INTEGER": "an integer", "STRUCT": "JSON",
                "STRING": "text", None: "URI such as `minio://bucket/path`"}[exp.value_type(var)]
        assert what in line
        description = (exp.api_input(var) or {}).get("description")
        assert not description or line.endswith(" " + " ".join(description.split()))
    assert "sha256" not in pkg.spec["pipelineInfo"]["description"]  # machine text: versions


def _check_input_binding(exp: Expected, pkg: Package, stage: dict[str, Any], var: str) -> None:
    io = io_of(var)
    _, task = pkg.stage_task(stage["name"])
    bound = task.get("inputs", {})
    if exp.is_input(var) and exp.value_type(var):
        assert bound["parameters"][io] == {"componentInputParameter": io}
        return
    selector = bound["artifacts"][io]["taskOutputArtifact"]
    producer = pkg.tasks[selector["producerTask"]]
    if not exp.is_input(var) and exp.mount_of(var, stage) is None:  # internal
        assert producer["taskInfo"]["name"] == exp.producer(var)["name"]
        assert selector["outputArtifactKey"] == io
        return
    key = task_of(var)
    assert selector["outputArtifactKey"] == io  # the variable's name, not kfp's `artifact`
    if exp.is_input(var) and not exp.required(var) and exp.mount_of(var) is None:
        # optional file: OneOf of the given/absent branches, named for the UI
        assert selector["producerTask"] == f"optional-{key}"
        assert producer["taskInfo"]["name"] == f"{var}: given / not given"
        branches = pkg.component(producer)
        assert producer["inputs"]["parameters"] == {io: {"componentInputParameter": io}}
        out = branches["dag"]["outputs"]["artifacts"][io]
        found = []
        for sel in out["artifactSelectors"]:
            branch = branches["dag"]["tasks"][sel["producerSubtask"]]
            ((inner_key, importer),) = pkg.component(branch)["dag"]["tasks"].items()
            assert importer["taskInfo"]["name"] == inner_key
            found.append((sel["producerSubtask"], branch["taskInfo"]["name"], inner_key,
                          importer["inputs"]["parameters"]["uri"]))
        assert found == [
            (f"{key}-given", "given", f"import-{key}", {"componentInputParameter": io}),
            (f"{key}-not-given", "not given", f"no-{key}",
             {"runtimeValue": {"constant": SENTINEL_URI}}),
        ]  # fmt: skip
        return
    # one importer per input: its task key is its label (the UI finds its state by key)
    assert producer["taskInfo"]["name"] == selector["producerTask"]
    expected_key = f"import-{key}" if exp.is_input(var) else f"mount-{key}"
    assert re.fullmatch(re.escape(expected_key) + "(-[0-9]+)?", selector["producerTask"])
    uri = producer["inputs"]["parameters"]["uri"]
    if exp.is_input(var):  # a caller's URI (the mount, if any, is only its default)
        assert uri == {"componentInputParameter": io}
    else:
        mount = exp.mount_of(var, stage)
        assert uri == {"runtimeValue": {"constant": mount}}
        assert pkg.executor(producer)["importer"]["artifactUri"] == {"constant": mount}


@PARAMS
def test_stage_inputs_are_bound_to_their_sources(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        _, task = pkg.stage_task(stage["name"])
        bound = task.get("inputs", {})
        assert set(bound.get("artifacts", {})) | set(bound.get("parameters", {})) == {
            io_of(v) for v in names(stage.get("inputs"))
        }
        for var in names(stage.get("inputs")):
            _check_input_binding(exp, pkg, stage, var)


@PARAMS
def test_component_inputs_types_descriptions_and_optionality(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    for stage in exp.stages:
        component = pkg.component(pkg.stage_task(stage["name"])[1])
        definitions = component.get("inputDefinitions", {})
        for var in names(stage.get("inputs")):
            io = io_of(var)
            value_type = exp.value_type(var) if exp.is_input(var) else None
            if value_type:
                spec = definitions["parameters"][io]
                assert spec["parameterType"] == value_type
                assert spec.get("isOptional", False) == (not exp.required(var))
            else:
                spec = definitions["artifacts"][io]
                assert spec["artifactType"]["schemaTitle"] == "system.Artifact"
                assert "isOptional" not in spec  # optional files arrive as the sentinel
            # the APIComponent's description, or none (every executor would repeat it)
            assert spec.get("description") == ((exp.api_input(var) or {}).get("description"))
        for var in names(stage.get("outputs")):
            spec = component["outputDefinitions"]["artifacts"][io_of(var)]
            assert spec["artifactType"]["schemaTitle"] == "system.Artifact"
            assert spec.get("description") == ((exp.api_output(var) or {}).get("description"))


@PARAMS
def test_pipeline_parameters(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    params = pkg.spec["root"].get("inputDefinitions", {}).get("parameters", {})
    assert set(params) == {io_of(v) for v in exp.inputs()}
    for var in exp.inputs():
        param = params[io_of(var)]
        value_type = exp.value_type(var)
        assert param["parameterType"] == (value_type or "STRING")
        api_var = exp.api_input(var)
        description = (api_var or {}).get("description") or f"UNIP input '{var}'"
        assert param["description"].startswith(description)
        mount = exp.mount_of(var)
        if mount is not None:
            assert param["defaultValue"] == mount and param["isOptional"] is True
        elif exp.required(var):
            assert "defaultValue" not in param and "isOptional" not in param
        elif value_type is None:
            assert param["defaultValue"] == "" and param["isOptional"] is True
        else:
            assert "defaultValue" not in param and param["isOptional"] is True


@PARAMS
def test_pipeline_outputs_select_the_producing_stage(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    root = pkg.spec["root"]
    declared = root.get("outputDefinitions", {}).get("artifacts", {})
    selected = root["dag"].get("outputs", {}).get("artifacts", {})
    assert set(declared) == set(selected) == {io_of(v) for v in exp.outputs()}
    for var in exp.outputs():
        producer_key, _ = pkg.stage_task(exp.producer(var)["name"])
        assert selected[io_of(var)]["artifactSelectors"] == [
            {"outputArtifactKey": io_of(var), "producerSubtask": producer_key}
        ]
        api_var = exp.api_output(var)
        if api_var and api_var.get("description"):
            assert declared[io_of(var)]["description"] == api_var["description"]


@PARAMS
def test_ordering_manifest_chain_or_data_only(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    stage_keys = {pkg.stage_task(s["name"])[0] for s in exp.stages}
    for index, stage in enumerate(exp.stages):
        key, task = pkg.stage_task(stage["name"])
        expected = {
            pkg.stage_task(exp.producer(v)["name"])[0]
            for v in names(stage.get("inputs"))
            if not exp.is_input(v) and exp.mount_of(v, stage) is None
        }
        if index and not pkg.options.get("parallel"):
            expected.add(pkg.stage_task(exp.stages[index - 1]["name"])[0])
        assert pkg.needs(key) & stage_keys == expected, key
        # dependentTasks holds only the order no input implies (the UI draws each as an edge)
        producers = pkg.needs(key) - set(task.get("dependentTasks", []))
        depends = set(task.get("dependentTasks", []))
        assert not depends & producers and depends <= stage_keys, key
        assert not {p for p in producers if p in depends}


@PARAMS
def test_caching_off_unless_asked(case_id: str, pipeline: str) -> None:
    _, pkg = expectations(case_id, pipeline)
    expected = {"enableCache": True} if pkg.options.get("cache") else {}
    executing = [(t, c) for t, c in pkg.all_tasks() if "executorLabel" in c]
    assert executing
    for task, _ in executing:
        assert task["cachingOptions"] == expected, task["taskInfo"]["name"]


@PARAMS
def test_platform_spec_only_when_configured(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    configured = exp.config.get("imagePullSecrets") or any(
        b.get("secret") for b in exp.config.get("boxes", {}).values()
    )
    assert (pkg.platform is not None) == bool(configured)


@PARAMS
def test_no_credentials_or_box_secrets_in_the_container(case_id: str, pipeline: str) -> None:
    exp, pkg = expectations(case_id, pipeline)
    content = compiled(case_id)[pipeline]
    for stage in exp.stages:
        env = {e["name"] for e in pkg.container(stage["name"]).get("env", [])}
        assert not {n for n in env if n.startswith("AWS_")}
    assert b"{{channel:" not in content


@pytest.mark.parametrize("case_id", ["seed-000", "values", "multi"])
def test_user_does_not_change_the_package(case_id: str) -> None:
    """The file-API user matters for runs (relative paths), never for the package."""
    other = unip_kfp.load(str(CASES[case_id].path), user="someone-else").compile()
    assert {p.pipeline: p.content for p in other} == compiled(case_id)


# --- literal: the examples and the cases, exactly


def test_seed_000_stage1_exactly() -> None:
    pkg = Package("seed-000", "my-pipeline")
    key, task = pkg.stage_task("stage1")
    container = pkg.container("stage1")
    assert key == "stage1"
    assert container["image"] == "registry.example.com/unip/train-test:0.1.0"
    assert container["command"] == [
        "sh", "-c", 'for _w do :;done;eval "$$_w"', "python3 src/training.py",
    ]  # fmt: skip
    assert container["args"] == [
        "in", "UNIP_PIPELINE_XY_TRAIN", "{{$.inputs.artifacts['xy_train'].path}}",
        "opt", "UNIP_PIPELINE_EXTRA_PARAMETERS",
        "{{$.inputs.artifacts['extra_parameters'].path}}",
        "{{$.inputs.artifacts['extra_parameters'].uri}}", "minio://mlpipeline/unip/absent",
        "out", "UNIP_PIPELINE_MODEL", "{{$.outputs.artifacts['model'].path}}",
        wrapper.kubernetes_literal(wrapper.WRAPPER_SCRIPT),
    ]  # fmt: skip
    assert container["env"] == [
        {"name": "MY_VARIABLE", "value": "some_value"},
        {"name": "ANOTHER_VAR", "value": "2"},
    ]
    resources = container["resources"]
    assert resources["resourceCpuLimit"] == resources["resourceCpuRequest"] == "500m"
    assert resources["resourceMemoryLimit"] == resources["resourceMemoryRequest"] == "256M"
    assert task["cachingOptions"] == {}
    assert "dependentTasks" not in task or "stage2" not in task["dependentTasks"]


def test_seed_000_stage2_and_root_exactly() -> None:
    pkg = Package("seed-000", "my-pipeline")
    _, task = pkg.stage_task("stage2")
    assert "dependentTasks" not in task  # stage1 is implied: stage2 reads its `model`
    assert pkg.needs("stage2") == {"stage1", "import-xy-test", "optional-extra-parameters"}
    assert pkg.container("stage2")["command"][3] == "python3 src/testing.py"
    assert "env" not in pkg.container("stage2")
    params = pkg.spec["root"]["inputDefinitions"]["parameters"]
    assert params["extra_parameters"]["defaultValue"] == ""
    assert params["extra_parameters"]["isOptional"] is True
    assert params["xy_train"]["description"].startswith("Training data. A table (CSV)")
    assert params["xy_test"]["parameterType"] == "STRING"
    assert pkg.spec["root"]["dag"]["outputs"]["artifacts"]["testing_results"] == {
        "artifactSelectors": [{"outputArtifactKey": "testing_results", "producerSubtask": "stage2"}]
    }
    # one importer pair for extra_parameters, shared by both stages
    one_ofs = {
        json.dumps(t["inputs"]["artifacts"]["extra_parameters"], sort_keys=True)
        for t in (pkg.tasks["stage1"], pkg.tasks["stage2"])
    }
    assert len(one_ofs) == 1
    importers = {k: t["taskInfo"]["name"] for k, t in pkg.tasks.items() if k.startswith("import")}
    assert importers == {"import-xy-test": "import-xy-test", "import-xy-train": "import-xy-train"}


def test_seed_001_mounted_var_is_a_constant_importer() -> None:
    pkg = Package("seed-001-mounted", "my-pipeline-mounted")
    uri = (
        "minio://mlpipeline/unip/pu-username-pa-bm99/my-global-data-box/"
        "users/developer/file_groups/my_dataset"
    )
    _, task = pkg.stage_task("stage1")
    importer = pkg.tasks[
        task["inputs"]["artifacts"]["xy_train"]["taskOutputArtifact"]["producerTask"]
    ]
    assert importer["inputs"]["parameters"]["uri"] == {"runtimeValue": {"constant": uri}}
    assert importer["taskInfo"]["name"] == "mount-xy-train"
    assert pkg.tasks["mount-xy-train"] is importer
    assert pkg.container("stage1")["args"][:3] == [
        "in", "UNIP_PIPELINE_XY_TRAIN=/data", "{{$.inputs.artifacts['xy_train'].path}}",
    ]  # fmt: skip
    assert "xy_train" not in pkg.spec["root"]["inputDefinitions"]["parameters"]


def test_box_override_changes_only_the_mount_uri() -> None:
    plain = compiled("seed-001-mounted")["my-pipeline-mounted"]
    override = compiled("seed-001-box")["my-pipeline-mounted"]
    old = b"minio://mlpipeline/unip/pu-username-pa-bm99/my-global-data-box/"
    new = b"s3://override-bucket/global/"
    assert old in plain and new not in plain
    assert plain.replace(old, new) == override


def test_value_types_exactly() -> None:
    pkg = Package("values", "value-types")
    params = pkg.spec["root"]["inputDefinitions"]["parameters"]
    assert {k: v["parameterType"] for k, v in params.items()} == {
        "lr": "NUMBER_DOUBLE",
        "alpha": "NUMBER_DOUBLE",
        "epochs": "NUMBER_INTEGER",
        "grid": "STRUCT",
        "label": "STRING",
        "ratio": "NUMBER_DOUBLE",
        "blob": "STRING",
    }
    assert not any("isOptional" in p or "defaultValue" in p for p in params.values())
    args = pkg.container("train")["args"]
    assert args[:3] == ["val", "UNIP_PIPELINE_LR", "{{$.inputs.parameters['lr']}}"]
    command = pkg.container("train")["command"]
    assert command[3] == 'python3 train.py --label "$(cat $UNIP_PIPELINE_LABEL)"'
    component = pkg.component(pkg.stage_task("train")[1])
    assert set(component["inputDefinitions"]["artifacts"]) == {"blob"}


def test_optional_inputs_exactly() -> None:
    pkg = Package("optional", "optional-inputs")
    params = pkg.spec["root"]["inputDefinitions"]["parameters"]
    assert params["note"] == {
        "description": params["note"]["description"],
        "isOptional": True,
        "parameterType": "STRING",
    }
    assert params["seed"]["parameterType"] == "NUMBER_INTEGER" and params["seed"]["isOptional"]
    assert params["extra"]["defaultValue"] == ""
    prepare = pkg.container("prepare")["args"]
    [present] = [a for a in prepare if a.startswith('{"IfPresent"')]
    assert json.loads(present) == {
        "IfPresent": {
            "InputName": "note",
            "Then": ["val", "UNIP_PIPELINE_NOTE", "{{$.inputs.parameters['note']}}"],
        }
    }
    # the optional value is still bound explicitly (2.17: an omitted one fails the driver)
    assert pkg.tasks["prepare"]["inputs"]["parameters"] == {
        "note": {"componentInputParameter": "note"}
    }
    branches = [k for k in pkg.tasks if k.startswith("optional-")]
    assert branches == ["optional-extra"], "one If/Else pair for `extra`, shared by both stages"


def test_path_targets_exactly() -> None:
    pkg = Package("paths", "path-targets")
    assert pkg.container("featurize")["args"][:9] == [
        "in", "UNIP_PIPELINE_DATASET=/data/in", "{{$.inputs.artifacts['dataset'].path}}",
        "val", "UNIP_PIPELINE_THRESHOLD=/config/threshold.txt",
        "{{$.inputs.parameters['threshold']}}",
        "out", "UNIP_PIPELINE_FEATURES=/work/features",
        "{{$.outputs.artifacts['features'].path}}",
    ]  # fmt: skip
    score = pkg.container("score")["args"]
    assert [score[1], score[4], score[7]] == [
        "UNIP_PIPELINE_FEATURES=/opt/features", "UNIP_PIPELINE_DATASET=/srv/dataset",
        "UNIP_PIPELINE_SCORES=/results",
    ]  # fmt: skip


def test_fanout_parallel_keeps_only_data_edges() -> None:
    chained = Package("fanout", "fan-out")
    parallel = Package("fanout-parallel", "fan-out")
    # manifest order: right-branch waits for left-branch, which no input of it implies
    assert chained.tasks["right-branch"]["dependentTasks"] == ["left-branch"]
    assert "dependentTasks" not in parallel.tasks["right-branch"]
    assert parallel.needs("right-branch") == {"import-seed-data"}
    assert parallel.needs("join") == {"left-branch", "right-branch"}
    accelerator = chained.container("right_branch")["resources"]["accelerator"]
    assert accelerator["resourceType"] == "nvidia.com/gpu"
    assert accelerator["resourceCount"] == "2"
    assert chained.container("Left Branch")["resources"]["resourceCpuLimit"] == "2"


def test_seed_000_cache_and_parallel_variants() -> None:
    cached = Package("seed-000-cache", "my-pipeline")
    assert cached.tasks["stage1"]["cachingOptions"] == {"enableCache": True}
    parallel = Package("seed-000-parallel", "my-pipeline")
    # stage2 still needs stage1: it reads `model`
    assert "stage1" in parallel.needs("stage2")
    plain = compiled("seed-000")["my-pipeline"]
    assert compiled("seed-000-parallel")["my-pipeline"] == plain  # no manifest-only edge here


def test_platform_spec_exactly() -> None:
    pkg = Package("platform", "platform-settings")
    assert pkg.platform is not None
    executors = pkg.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    pull = [
        {"secretName": n, "secretNameParameter": {"runtimeValue": {"constant": n}}}
        for n in ("regcred", "mirror-cred")
    ]

    def secret(name: str, key_id: str, key_secret: str) -> dict[str, Any]:
        return {
            "keyToEnv": [
                {"envVar": "AWS_ACCESS_KEY_ID", "secretKey": key_id},
                {"envVar": "AWS_SECRET_ACCESS_KEY", "secretKey": key_secret},
            ],
            "optional": False,
            "secretName": name,
            "secretNameParameter": {"runtimeValue": {"constant": name}},
        }

    assert executors == {
        # reads the var mounted from shared-box: that box's Secret, its own key names
        "exec-fetch": {
            "imagePullSecret": pull,
            "secretAsEnv": [secret("shared-box-s3", "key-id", "key-secret")],
        },
        # reads a caller's file (default box): the default box's Secret, default key names
        "exec-merge": {
            "imagePullSecret": pull,
            "secretAsEnv": [secret("data-box-s3", "accesskey", "secretkey")],
        },
        # reads only an internal var (pipeline root): no Secret
        "exec-summarize": {"imagePullSecret": pull},
    }
    # box URIs from unip-kfp.yaml
    producer = pkg.tasks["fetch"]["inputs"]["artifacts"]["reference"]["taskOutputArtifact"]
    mount = pkg.executor(pkg.tasks[producer["producerTask"]])
    assert mount["importer"]["artifactUri"] == {
        "constant": "s3://shared-bucket/datasets/sets/reference"
    }


def test_two_box_secrets_on_one_stage_exit_3(tmp_path: Path) -> None:
    """A pod downloads all of its inputs with one set of AWS_* variables (2.17 launcher)."""
    validated = CliRunner().invoke(main, ["validate", str(CASES_DIR / "two-secrets")])
    assert validated.exit_code == 3 and "stage 'merge'" in validated.stderr
    result = run_cli("compile", str(CASES_DIR / "two-secrets"), "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 3
    assert "stage 'merge'" in result.stderr
    assert "data-box-s3" in result.stderr and "shared-box-s3" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_two_boxes_sharing_one_secret_give_one_secret_entry(tmp_path: Path) -> None:
    config = tmp_path / "unip-kfp.yaml"
    config.write_text(
        "boxes:\n"
        "  data-box: {uri: s3://team/data, secret: team-s3}\n"
        "  shared-box: {uri: s3://team/shared, secret: team-s3}\n"
    )
    target = tmp_path / "x.yaml"
    case = CASES_DIR / "two-secrets"
    result = run_cli("compile", str(case), "-o", str(target), "--config", str(config))
    assert result.exit_code == 0, result.output
    _, platform = documents(target.read_bytes())
    assert platform is not None
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == {"exec-merge"}
    assert [s["secretName"] for s in executors["exec-merge"]["secretAsEnv"]] == ["team-s3"]
    assert "imagePullSecret" not in executors["exec-merge"]


def test_no_credential_reaches_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials in the caller's environment never end up in a package."""
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MINIO_SECRET_KEY"):
        monkeypatch.setenv(name, secret)
    for case_id in ("platform", "seed-000", "seed-001-mounted"):
        fresh = compile_case(case_id)
        assert fresh == compiled(case_id), "the caller's environment changed the package"
        assert not any(secret.encode() in content for content in fresh.values())


def test_stage_entry_mount_of_an_api_input_can_be_overridden() -> None:
    pkg = Package("mounted-input", "mounted-input")
    params = pkg.spec["root"]["inputDefinitions"]["parameters"]
    assert params["lookup"]["defaultValue"] == "minio://mlpipeline/unip/cases/ref-box/tables/lookup"
    producer = pkg.tasks["use"]["inputs"]["artifacts"]["lookup"]["taskOutputArtifact"]
    importer = pkg.tasks[producer["producerTask"]]
    assert importer["inputs"]["parameters"]["uri"] == {"componentInputParameter": "lookup"}


def test_var_mounted_api_input_default_is_the_mount_and_feeds_the_importer() -> None:
    pkg = Package("mounted-input", "mounted-input")
    params = pkg.spec["root"]["inputDefinitions"]["parameters"]
    assert params["base"]["defaultValue"] == "minio://mlpipeline/unip/cases/cases-box/shared/base"
    producer = pkg.tasks["use"]["inputs"]["artifacts"]["base"]["taskOutputArtifact"]
    importer = pkg.tasks[producer["producerTask"]]
    assert importer["inputs"]["parameters"]["uri"] == {"componentInputParameter": "base"}


# --- the CLI: where packages go, what it refuses, exit codes


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--user", USER], catch_exceptions=False)


def test_cli_writes_pipeline_name_yaml_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("compile", str(SEED_000))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-pipeline.yaml"]
    assert (tmp_path / "my-pipeline.yaml").read_bytes() == compiled("seed-000")["my-pipeline"]
    assert "my-pipeline.yaml" in result.stdout and "sha256" in result.stdout


def test_cli_writes_one_package_per_pipeline_into_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("compile", str(CASES_DIR / "multi"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["alpha.yaml", "beta.yaml"]
    for name, content in compiled("multi").items():
        assert (out / f"{name}.yaml").read_bytes() == content


def test_cli_options_reach_the_package(tmp_path: Path) -> None:
    target = tmp_path / "fan.yaml"
    result = run_cli("compile", str(CASES_DIR / "fanout"), "-o", str(target), "--parallel")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("fanout-parallel")["fan-out"]
    result = run_cli("compile", str(SEED_000), "-o", str(target), "--cache")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("seed-000-cache")["my-pipeline"]
    result = run_cli(
        "compile", str(SEED_001), "-o", str(target),
        "--box", "my-global-data-box=s3://override-bucket/global/",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("seed-001-box")["my-pipeline-mounted"]


def test_cli_one_file_for_one_pipeline(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "package.yaml"
    result = run_cli("compile", str(SEED_000), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("seed-000")["my-pipeline"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["package.yaml"]


def test_cli_output_folder_is_created(tmp_path: Path) -> None:
    """`-o NAME` without a .yaml/.yml suffix is a folder, created when missing."""
    out = tmp_path / "new" / "packages"
    result = run_cli("compile", str(SEED_000), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "my-pipeline.yaml").read_bytes() == compiled("seed-000")["my-pipeline"]


def test_cli_pipeline_option_picks_one_of_several(tmp_path: Path) -> None:
    target = tmp_path / "beta-only.yml"
    result = run_cli("compile", str(CASES_DIR / "multi"), "--pipeline", "beta", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("multi")["beta"]
    result = run_cli("compile", str(CASES_DIR / "multi"), "--pipeline", "gamma", "-o", str(target))
    assert result.exit_code == 2
    assert "gamma" in result.stderr


def test_cli_refuses_one_file_for_two_pipelines(tmp_path: Path) -> None:
    target = tmp_path / "both.yaml"
    result = run_cli("compile", str(CASES_DIR / "multi"), "-o", str(target))
    assert result.exit_code == 2
    assert "2 pipelines" in result.stderr
    assert not target.exists()


def test_cli_refuses_to_overwrite_a_non_package_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "notes.yaml"
    target.write_text("my: precious notes\n")
    result = run_cli("compile", str(SEED_000), "-o", str(target))
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr
    assert target.read_text() == "my: precious notes\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.yaml"], "no temp file left behind"
    result = run_cli("compile", str(SEED_000), "-o", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("seed-000")["my-pipeline"]


def test_cli_overwrites_an_earlier_package_without_force(tmp_path: Path) -> None:
    target = tmp_path / "p.yaml"
    target.write_bytes(compiled("fanout")["fan-out"])
    result = run_cli("compile", str(SEED_000), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == compiled("seed-000")["my-pipeline"]


def test_two_accelerator_kinds_are_refused_by_validate_and_compile(tmp_path: Path) -> None:
    """Kubeflow takes one accelerator type per task: validation says so (exit 3), as compile."""
    case = CASES_DIR / "two-accelerators"
    validated = CliRunner().invoke(main, ["validate", str(case)])
    assert validated.exit_code == 3, validated.output
    assert "spec.stages[1].resourceLimits.amd.com/gpu: stage 'greedy'" in validated.stderr
    result = run_cli("compile", str(case), "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 3
    assert "'greedy'" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_cli_invalid_manifests_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (CASES_DIR / "fanout" / "pipeline.yaml").read_text()
    bad.write_text(text.replace("existingImageName: registry.example.com/cases/join:1", "x: 1"))
    result = run_cli("compile", str(bad), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 3
    assert "bad.yaml" in result.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_cli_unknown_box_is_refused_like_validate(tmp_path: Path) -> None:
    result = run_cli(
        "compile", str(SEED_000), "-o", str(tmp_path / "p.yaml"), "--box", "nope=s3://x"
    )
    assert result.exit_code == 3  # validate --box nope=... refuses it too
    assert "nope" in result.stderr


def test_api_compile_writes_and_returns_packages(tmp_path: Path) -> None:
    project = unip_kfp.load(str(CASES_DIR / "multi"), user=USER)
    packages = project.compile(str(tmp_path))
    assert [(p.pipeline, p.path) for p in packages] == [
        ("alpha", str(tmp_path / "alpha.yaml")),
        ("beta", str(tmp_path / "beta.yaml")),
    ]
    for package in packages:
        assert Path(package.path or "").read_bytes() == package.content
        assert len(package.sha256) == 64


KEYWORD_PIPELINE = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: keyword
  namespace: cases
spec:
  vars:
    - name: from
    - name: to
  stages:
    - name: copy
      image:
        existingImageName: busybox:1.36
      inputs:
        - name: from
      outputs:
        - name: to
      entryPoint:
        cmd: [cp, -r, "$UNIP_PIPELINE_FROM/.", "$UNIP_PIPELINE_TO/"]
"""


def test_keyword_var_names_become_usable_parameters(tmp_path: Path) -> None:
    """`from` is a fine var name but not a Python parameter name: the parameter is `from_`."""
    manifest = tmp_path / "keyword.yaml"
    manifest.write_text(KEYWORD_PIPELINE)
    target = tmp_path / "k.yaml"
    result = run_cli("compile", str(manifest), "-o", str(target))
    assert result.exit_code == 0, result.output
    spec, _ = documents(target.read_bytes())
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"from_"}
    assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"to"}
    args = spec["deploymentSpec"]["executors"]["exec-copy"]["container"]["args"]
    assert args[:3] == ["in", "UNIP_PIPELINE_FROM", "{{$.inputs.artifacts['from_'].path}}"]


def test_written_package_respects_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    previous = os.umask(0o027)
    try:
        target = tmp_path / "p.yaml"
        result = run_cli("compile", str(SEED_000), "-o", str(target))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_mounted_default_of_an_api_input_gets_its_box_secret(tmp_path: Path) -> None:
    case = CASES_DIR / "mounted-default-secret"
    target = tmp_path / "m.yaml"
    result = run_cli("compile", str(case), "-o", str(target))
    if result.exit_code == 3:  # refusing, as for two Secrets on one stage, is also right
        assert "stage 'use'" in result.stderr
        return
    assert result.exit_code == 0, result.output
    spec, platform = documents(target.read_bytes())
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["base"]["defaultValue"] == "s3://shared-bucket/datasets/sets/base"
    assert platform is not None
    executor = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-use"]
    assert "shared-box-s3" in [s["secretName"] for s in executor["secretAsEnv"]]


@pytest.mark.parametrize("stage", ["condition-branches-1", "condition-2", "importer", "for-loop-3"])
def test_stage_named_like_a_kfp_group_is_reported_with_its_name(tmp_path: Path, stage: str) -> None:
    text = (CASES_DIR / "optional" / "pipeline.yaml").read_text()
    manifest = tmp_path / "pipeline.yaml"
    manifest.write_text(text.replace("- name: prepare\n", f"- name: {stage}\n"))
    result = run_cli("compile", str(manifest), "-o", str(tmp_path / "o.yaml"))
    # Reserved by kfp for its own tasks: refused by validation, naming the stage.
    assert result.exit_code == 3, result.output
    assert f"'{stage}'" in result.stderr and "taken by Kubeflow Pipelines" in result.stderr
