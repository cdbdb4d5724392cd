"""The KFP 2.17 backend's sharp edges, checked as properties of every compiled package.

Each rule comes from /work/shared/research/kfp-2.17-findings.md: things the SDK compiles
happily but the 2.17.0 backend mishandles at run time. The packages are those of every
golden case (compiled once, shared with test_golden.py); each rule is also checked against
a small hand-broken package, so a checker that silently accepts everything would fail.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from support.goldens import CASES, compiled, documents, pipelines_of

from unip_kfp.plan.model import SENTINEL_URI


def all_packages() -> list[Any]:
    params = []
    for case_id in CASES:
        for pipeline in pipelines_of(case_id):
            params.append(pytest.param(case_id, pipeline, id=f"{case_id}-{pipeline}"))
    return params


PACKAGES = pytest.mark.parametrize(("case_id", "pipeline"), all_packages())


def spec_of(case_id: str, pipeline: str) -> dict[str, Any]:
    spec, _ = documents(compiled(case_id)[pipeline])
    return spec


# --- walking the IR


def dags(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(component name, its definition) for the root and every DAG component."""
    yield "root", spec["root"]
    for name, component in spec["components"].items():
        if "dag" in component:
            yield name, component


def tasks(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(parent DAG component name, task key, task) for every task in every DAG."""
    for parent, component in dags(spec):
        for key, task in component["dag"].get("tasks", {}).items():
            yield parent, key, task


def executor_of(spec: dict[str, Any], component_name: str) -> dict[str, Any] | None:
    label = spec["components"][component_name].get("executorLabel")
    return spec["deploymentSpec"]["executors"][label] if label else None


def placeholders(arg: Any) -> Iterator[dict[str, Any]]:
    """Every structured placeholder (IfPresent, Concat) in an arg, nested ones too."""
    if isinstance(arg, str) and arg.startswith("{") and arg.endswith("}"):
        try:
            arg = json.loads(arg)
        except ValueError:
            return
    if isinstance(arg, dict):
        yield arg
        for value in arg.values():
            yield from placeholders(value)
    elif isinstance(arg, list):
        for item in arg:
            yield from placeholders(item)


def container_components(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict]]:
    """(component name, component, container) for every container component."""
    for name, component in spec["components"].items():
        executor = executor_of(spec, name)
        if executor and "container" in executor:
            yield name, component, executor["container"]


# --- the rules (each returns the problems it finds; [] means the package is fine)


def if_present_on_artifacts(spec: dict[str, Any]) -> list[str]:
    """`IfPresent` on an artifact input never takes `Then` on backend 2.17.0."""
    problems = []
    for name, component, container in container_components(spec):
        artifacts = set(component.get("inputDefinitions", {}).get("artifacts", {}))
        for arg in [*container.get("command", []), *container.get("args", [])]:
            for holder in placeholders(arg):
                present = holder.get("IfPresent")
                if present is not None and present.get("InputName") in artifacts:
                    problems.append(f"{name}: IfPresent on artifact '{present['InputName']}'")
    return problems


def concat_placeholders(spec: dict[str, Any]) -> list[str]:
    """`Concat` is not resolved by the 2.17 backend."""
    return [
        f"{name}: Concat placeholder"
        for name, _, container in container_components(spec)
        for arg in [*container.get("command", []), *container.get("args", [])]
        for holder in placeholders(arg)
        if "Concat" in holder
    ]


def reaches_root(spec: dict[str, Any], component: str, parameter: str) -> bool:
    """The DAG input `parameter` of `component` is fed, by whole parameters only, by a root
    input parameter on every path (or by a constant)."""
    if component == "root":
        return parameter in spec["root"].get("inputDefinitions", {}).get("parameters", {})
    callers = [(p, t) for p, _, t in tasks(spec) if t["componentRef"]["name"] == component]
    if not callers:
        return False
    for parent, task in callers:
        binding = task.get("inputs", {}).get("parameters", {}).get(parameter)
        if binding is None or not whole_or_constant(spec, parent, binding):
            return False
    return True


def whole_or_constant(spec: dict[str, Any], parent: str, binding: dict[str, Any]) -> bool:
    if set(binding) == {"runtimeValue"}:
        constant = binding["runtimeValue"].get("constant")
        return isinstance(constant, str) and "{{" not in constant and constant != ""
    if set(binding) == {"componentInputParameter"}:
        return reaches_root(spec, parent, binding["componentInputParameter"])
    return False  # taskOutputParameter, parameterExpressionSelector, ...


def importer_uris(spec: dict[str, Any]) -> list[str]:
    """The backend uses a constant importer URI verbatim and resolves a runtime one only
    from a whole DAG input parameter (importer_launcher.go)."""
    problems = []
    for parent, key, task in tasks(spec):
        executor = executor_of(spec, task["componentRef"]["name"])
        if not executor or "importer" not in executor:
            continue
        uri = executor["importer"]["artifactUri"]
        binding = task.get("inputs", {}).get("parameters", {}).get("uri")
        if binding is None:
            problems.append(f"{key}: importer without a uri input")
        elif uri == {"runtimeParameter": "uri"}:
            if not whole_or_constant(spec, parent, binding):
                problems.append(f"{key}: runtime URI not a whole root parameter: {binding}")
        elif set(uri) == {"constant"}:
            if "{{" in uri["constant"] or binding != {
                "runtimeValue": {"constant": uri["constant"]}
            }:
                problems.append(f"{key}: constant URI {uri['constant']!r} / {binding}")
        else:
            problems.append(f"{key}: unexpected artifactUri {uri}")
    return problems


def one_of_without_else(spec: dict[str, Any]) -> list[str]:
    """`dsl.OneOf` needs an Else branch; on 2.17 a OneOf with no taken branch has no artifact."""
    problems = []
    for name, component in dags(spec):
        outputs = component["dag"].get("outputs", {}).get("artifacts", {})
        for output, selector in outputs.items():
            selectors = selector.get("artifactSelectors", [])
            if len(selectors) < 2:
                continue
            branches = component["dag"].get("tasks", {})
            conditions = {
                k: t.get("triggerPolicy", {}).get("condition", "") for k, t in branches.items()
            }
            producers = {s["producerSubtask"] for s in selectors}
            negated = [k for k, c in conditions.items() if c.startswith("!(")]
            if not name.startswith("comp-optional-"):  # kfp's condition-branches, renamed
                problems.append(f"{name}/{output}: OneOf outside an optional input's group")
            if not negated:
                problems.append(f"{name}/{output}: OneOf without an Else branch")
            if producers != set(branches) or not all(conditions.values()):
                problems.append(f"{name}/{output}: selectors {producers} vs branches {conditions}")
            positive = [c for c in conditions.values() if not c.startswith("!(")]
            if negated and positive and conditions[negated[0]] != f"!({positive[0]})":
                problems.append(f"{name}/{output}: Else is not the negation of If")
    return problems


def unbound_stage_parameters(spec: dict[str, Any]) -> list[str]:
    """2.17.0 fails a container task that omits an optional defaulted parameter."""
    problems = []
    for _, key, task in tasks(spec):
        component = spec["components"][task["componentRef"]["name"]]
        executor = executor_of(spec, task["componentRef"]["name"])
        if not executor or "container" not in executor:
            continue
        definitions = component.get("inputDefinitions", {})
        bound = task.get("inputs", {})
        for kind in ("parameters", "artifacts"):
            missing = set(definitions.get(kind, {})) - set(bound.get(kind, {}))
            if missing:
                problems.append(f"{key}: {kind} not bound: {sorted(missing)}")
    return problems


def optional_values_outside_if_present(spec: dict[str, Any]) -> list[str]:
    """An optional parameter may be null at run time: use it only inside its IfPresent."""
    problems = []
    for name, component, container in container_components(spec):
        parameters = component.get("inputDefinitions", {}).get("parameters", {})
        for param, definition in parameters.items():
            if not definition.get("isOptional"):
                continue
            reference = f"{{{{$.inputs.parameters['{param}']}}}}"
            for arg in container.get("args", []):
                guarded = any(
                    h.get("IfPresent", {}).get("InputName") == param for h in placeholders(arg)
                )
                if reference in json.dumps(arg) and not guarded:
                    problems.append(f"{name}: optional '{param}' used outside IfPresent")
    return problems


def sentinel_mismatch(spec: dict[str, Any]) -> list[str]:
    """The wrapper's `opt` sentinel must be what the Else branch imports (and in the
    pipeline-root bucket, where the launcher reads it harmlessly)."""
    problems = []
    imported = {
        e["importer"]["artifactUri"].get("constant")
        for e in spec["deploymentSpec"]["executors"].values()
        if "importer" in e
    }
    for name, _, container in container_components(spec):
        args = container.get("args", [])
        for index, arg in enumerate(args):
            if arg == "opt":
                sentinel = args[index + 4]
                if sentinel != SENTINEL_URI or sentinel not in imported:
                    problems.append(f"{name}: opt sentinel {sentinel!r} is never imported")
    if SENTINEL_URI in imported and not SENTINEL_URI.startswith("minio://mlpipeline/"):
        problems.append(f"sentinel {SENTINEL_URI} outside the pipeline-root bucket")
    return problems


def dead_pipeline_parameters(spec: dict[str, Any]) -> list[str]:
    """A root parameter no task reads is a caller's input silently ignored."""
    params = set(spec["root"].get("inputDefinitions", {}).get("parameters", {}))
    # only root tasks bind root parameters; sub-DAG bindings name their own DAG's inputs
    root_used = {
        b["componentInputParameter"]
        for t in spec["root"]["dag"]["tasks"].values()
        for b in t.get("inputs", {}).get("parameters", {}).values()
        if "componentInputParameter" in b
    }
    return [f"pipeline parameter '{p}' is read by no task" for p in sorted(params - root_used)]


# --- what the KFP 2.17 UI draws (frontend/src/lib/v2/StaticFlow.ts, DynamicFlow.ts)

_PLUMBING = re.compile(
    r"pipelinechannel--|condition-branches|^condition-[0-9]+$|^importer(-[0-9]+)?$"
)


def importer_keys_are_labels(spec: dict[str, Any]) -> list[str]:
    """The importer launcher records its execution under the task's display name
    (`importer_launcher.go`); the run graph looks it up by task key: they must be equal."""
    problems = []
    for _, key, task in tasks(spec):
        executor = executor_of(spec, task["componentRef"]["name"])
        if executor and "importer" in executor and task["taskInfo"]["name"] != key:
            problems.append(f"importer {key!r} labelled {task['taskInfo']['name']!r}")
    return problems


def plumbing_on_the_root_graph(spec: dict[str, Any]) -> list[str]:
    """Nodes of the root graph: task keys and labels, and every output drawn (its key)."""
    problems = []
    for key, task in spec["root"]["dag"]["tasks"].items():
        component = spec["components"][task["componentRef"]["name"]]
        names = [key, task["taskInfo"]["name"], task["componentRef"]["name"]]
        names += list(component.get("outputDefinitions", {}).get("artifacts", {}))
        names += [
            b["taskOutputArtifact"]["outputArtifactKey"]
            for b in task.get("inputs", {}).get("artifacts", {}).values()
            if "taskOutputArtifact" in b
        ]
        names += list(task.get("inputs", {}).get("parameters", {}))
        problems += [f"{key}: {n!r}" for n in names if _PLUMBING.search(n) or n == "artifact"]
    return problems


def data_edges_drawn_twice(spec: dict[str, Any]) -> list[str]:
    """A producer of a task's input also in its `dependentTasks` gets a second edge; the 2.17
    backend adds producers itself (`argocompiler/dag.go` `addImplicitDependencies`)."""
    problems = []
    for parent, key, task in tasks(spec):
        producers = {
            b[kind]["producerTask"]
            for b in [*task.get("inputs", {}).get("artifacts", {}).values(),
                      *task.get("inputs", {}).get("parameters", {}).values()]
            for kind in ("taskOutputArtifact", "taskOutputParameter")
            if kind in b
        }  # fmt: skip
        twice = producers & set(task.get("dependentTasks", []))
        if twice:
            problems.append(f"{parent}/{key}: {sorted(twice)}")
    return problems


UI_RULES = [importer_keys_are_labels, plumbing_on_the_root_graph, data_edges_drawn_twice]


@PACKAGES
@pytest.mark.parametrize("rule", UI_RULES, ids=lambda r: r.__name__)
def test_package_reads_well_in_the_ui(case_id: str, pipeline: str, rule: Any) -> None:
    assert rule(spec_of(case_id, pipeline)) == []


def test_ui_rules_catch_what_kfp_leaves() -> None:
    spec = broken("seed-000", "my-pipeline")
    root = spec["root"]["dag"]["tasks"]
    root["import-xy-train"]["taskInfo"]["name"] = "import xy_train"
    root["stage2"]["dependentTasks"] = ["stage1"]
    root["condition-branches-1"] = root.pop("optional-extra-parameters")
    assert importer_keys_are_labels(spec) == [
        "importer 'import-xy-train' labelled 'import xy_train'"
    ]
    assert data_edges_drawn_twice(spec) == ["root/stage2: ['stage1']"]
    assert plumbing_on_the_root_graph(spec) == ["condition-branches-1: 'condition-branches-1'"]


RULES = [
    if_present_on_artifacts,
    concat_placeholders,
    importer_uris,
    one_of_without_else,
    unbound_stage_parameters,
    optional_values_outside_if_present,
    sentinel_mismatch,
]


@PACKAGES
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_package_avoids_backend_edge(case_id: str, pipeline: str, rule: Any) -> None:
    assert rule(spec_of(case_id, pipeline)) == []


@PACKAGES
def test_no_channel_placeholder_anywhere(case_id: str, pipeline: str) -> None:
    """An f-string URI compiles to `{{channel:...}}` inside a constant; the backend keeps it."""
    assert b"{{channel:" not in compiled(case_id)[pipeline]


@PACKAGES
def test_every_pipeline_parameter_is_read(case_id: str, pipeline: str) -> None:
    assert dead_pipeline_parameters(spec_of(case_id, pipeline)) == []


def test_the_cases_exercise_every_rule() -> None:
    """Without optional files, values and mounts in the cases the rules would prove nothing."""
    specs = [spec_of(c, p) for c in CASES for p in compiled(c)]
    text = json.dumps(specs)
    assert "IfPresent" in text
    assert any(
        len(s.get("artifactSelectors", [])) > 1
        for spec in specs
        for _, component in dags(spec)
        for s in component["dag"].get("outputs", {}).get("artifacts", {}).values()
    )
    assert '"runtimeParameter": "uri"' in text and SENTINEL_URI in text
    assert any(
        "componentInputParameter" in t.get("inputs", {}).get("parameters", {}).get("uri", {})
        for spec in specs
        for parent, _, t in tasks(spec)
        if parent != "root"
    ), "an importer inside a condition DAG (the chain up to the root)"


# --- each rule catches what it is meant to (hand-broken copies of real packages)


def broken(case_id: str, pipeline: str) -> dict[str, Any]:
    return copy.deepcopy(spec_of(case_id, pipeline))


def test_rule_catches_if_present_on_an_artifact() -> None:
    spec = broken("seed-000", "my-pipeline")
    args = spec["deploymentSpec"]["executors"]["exec-stage1"]["container"]["args"]
    args.append(json.dumps({"IfPresent": {"InputName": "xy_train", "Then": ["x"]}}))
    assert if_present_on_artifacts(spec) == ["comp-stage1: IfPresent on artifact 'xy_train'"]


def test_rule_catches_concat() -> None:
    spec = broken("seed-000", "my-pipeline")
    args = spec["deploymentSpec"]["executors"]["exec-stage2"]["container"]["args"]
    args.append(json.dumps({"Concat": ["a", "b"]}))
    assert concat_placeholders(spec) == ["comp-stage2: Concat placeholder"]


def test_rule_catches_channel_in_a_constant_uri() -> None:
    spec = broken("seed-001-mounted", "my-pipeline-mounted")
    for executor in spec["deploymentSpec"]["executors"].values():
        constant = executor.get("importer", {}).get("artifactUri", {}).get("constant", "")
        if "my_dataset" in constant:
            executor["importer"]["artifactUri"]["constant"] = (
                "minio://b/users/{{channel:task=;name=user;type=String;}}/x"
            )
    assert len(importer_uris(spec)) == 1


def test_rule_catches_a_computed_runtime_uri() -> None:
    spec = broken("seed-000", "my-pipeline")
    spec["root"]["dag"]["tasks"]["import-xy-train"]["inputs"]["parameters"]["uri"] = {
        "taskOutputParameter": {"producerTask": "stage1", "outputParameterKey": "uri"}
    }
    assert importer_uris(spec) == [
        "import-xy-train: runtime URI not a whole root parameter: "
        "{'taskOutputParameter': {'producerTask': 'stage1', 'outputParameterKey': 'uri'}}"
    ]


def test_rule_catches_a_sub_dag_uri_not_fed_from_the_root() -> None:
    spec = broken("seed-000", "my-pipeline")
    branches = spec["root"]["dag"]["tasks"]["optional-extra-parameters"]
    branches["inputs"]["parameters"]["extra_parameters"] = {
        "taskOutputParameter": {"producerTask": "x", "outputParameterKey": "y"}
    }
    assert any("import-extra-parameters" in p for p in importer_uris(spec))


def test_rule_catches_one_of_without_else() -> None:
    spec = broken("seed-000", "my-pipeline")
    tasks_ = spec["components"]["comp-optional-extra-parameters"]["dag"]["tasks"]
    tasks_["extra-parameters-not-given"]["triggerPolicy"]["condition"] = "true"
    assert "OneOf without an Else branch" in " ".join(one_of_without_else(spec))


def test_rule_catches_an_unbound_parameter() -> None:
    spec = broken("optional", "optional-inputs")
    del spec["root"]["dag"]["tasks"]["prepare"]["inputs"]["parameters"]["note"]
    assert unbound_stage_parameters(spec) == ["prepare: parameters not bound: ['note']"]


def test_rule_catches_an_optional_value_outside_if_present() -> None:
    spec = broken("optional", "optional-inputs")
    args = spec["deploymentSpec"]["executors"]["exec-fit"]["container"]["args"]
    args.append("{{$.inputs.parameters['seed']}}")
    assert optional_values_outside_if_present(spec) == [
        "comp-fit: optional 'seed' used outside IfPresent"
    ]


def test_rule_catches_a_sentinel_nobody_imports() -> None:
    spec = broken("seed-000", "my-pipeline")
    args = spec["deploymentSpec"]["executors"]["exec-stage2"]["container"]["args"]
    args[args.index("opt") + 4] = "minio://elsewhere/absent"
    assert sentinel_mismatch(spec) == [
        "comp-stage2: opt sentinel 'minio://elsewhere/absent' is never imported"
    ]


def test_rule_catches_a_dead_parameter() -> None:
    spec = broken("seed-000", "my-pipeline")
    spec["root"]["inputDefinitions"]["parameters"]["unused"] = {"parameterType": "STRING"}
    assert dead_pipeline_parameters(spec) == ["pipeline parameter 'unused' is read by no task"]
