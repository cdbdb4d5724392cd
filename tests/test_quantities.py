"""The cpu and memory quantity rules accept what kfp 2.17's own validators accept (issue 11.6).

SPEC §2 makes "cpu/memory quantities KFP rejects" a validation error, and compile sets the
values on the task without kfp's setters (pipeline.py `set_container_settings`), so our
rule is the only check they get. Ours: checks/' `CPU_QUANTITY` and `MEMORY_QUANTITY`
(full match) and their JSON Schema twins in `schema_patterns`. kfp's:
`PipelineTask._validate_cpu_request_limit` and `_validate_memory_request_limit`
(kfp/dsl/pipeline_task.py), which `set_cpu_*` and `set_memory_*` call.

One difference, on purpose: kfp checks with `re.match(r"...$")`, and Python's `$` also
matches before a final newline, so kfp accepts `"500m\\n"` and writes it into the package
as is. Kubernetes' quantity grammar has no whitespace, so the pod would be refused at run
time; our rules anchor at the true end (schema_patterns.py explains `(?![\\s\\S])`) and
refuse it when validating. Precisely: kfp accepts `s` iff we accept `s`, or `s` is a value
we accept followed by one `"\\n"`. Nothing else differs.

Where both sides agree but stray from Kubernetes (not changed here, SPEC §2 names the kfp
rule): memory `1K` is accepted although Kubernetes spells kilo `k`, and `1k`, `1.5Gi`,
`1e3` are refused although Kubernetes would take them.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from kfp import components
from kfp.dsl import pipeline_context, pipeline_task
from support.goldens import EXAMPLES

import unip_kfp
from unip_kfp.checks.pipeline_rules import CPU_QUANTITY, MEMORY_QUANTITY
from unip_kfp.compile.package import compile_to_bytes
from unip_kfp.errors import ManifestError
from unip_kfp.manifests import schema_patterns

Validator = Callable[[str], object]


BARE = components.load_component_from_text(
    "name: bare\nimplementation:\n  container:\n    image: python:3.12-slim\n"
    "    command: ['true']\n"
)


def _task() -> pipeline_task.PipelineTask:
    """A real task of a container component, as a pipeline body would make it."""
    with pipeline_context.Pipeline("quantities"):
        task = BARE()
    assert isinstance(task, pipeline_task.PipelineTask)
    return task


TASK = _task()  # kfp's validators only read their argument; the setters get fresh tasks


@dataclasses.dataclass(frozen=True)
class Rule:
    """One quantity field: our rule, the schema's pattern, kfp's validator and setter."""

    field: str
    ours: re.Pattern[str]
    schema: str
    kfp: str  # the PipelineTask method that validates
    setter: str  # the public setter that calls it

    def we_accept(self, text: str) -> bool:
        return self.ours.fullmatch(text) is not None

    def schema_accepts(self, text: str) -> bool:
        return re.search(self.schema, text) is not None  # jsonschema's `pattern` semantics

    def kfp_accepts(self, text: str) -> bool:
        try:
            getattr(TASK, self.kfp)(text)
        except ValueError:
            return False
        return True


CPU = Rule("cpu", CPU_QUANTITY, schema_patterns.CPU_QUANTITY,
           "_validate_cpu_request_limit", "set_cpu_limit")
MEMORY = Rule("memory", MEMORY_QUANTITY, schema_patterns.MEMORY_QUANTITY,
              "_validate_memory_request_limit", "set_memory_limit")
RULES = {"cpu": CPU, "memory": MEMORY}


def kfp_verdict_from_ours(rule: Rule, text: str) -> bool:
    """What kfp must say, given ours: the same, plus one trailing newline (docstring)."""
    return rule.we_accept(text) or (text.endswith("\n") and rule.we_accept(text[:-1]))


# --- the property: every generated string


SUFFIXES = [
    # kfp's and Kubernetes' suffixes
    "", "m", "k", "K", "Ki", "M", "Mi", "G", "Gi", "T", "Ti", "P", "Pi", "E", "Ei",
    # exponents (Kubernetes' decimalExponent) and near-misses
    "e3", "E3", "e-3", "E+2", "e", "KB", "MB", "GB", "Gb", "gi", "mi", "ki", "iG", "Mii",
    "B", "b", "u", "n", "mm", "m ", " m", "Gi\n", "\u212a",  # KELVIN SIGN, not K
]
DIGITS = st.text("0123456789", max_size=4)
NUMBERS = st.builds(
    lambda sign, whole, dot, fraction: sign + whole + dot + fraction,
    st.sampled_from(["", "", "+", "-"]),
    DIGITS,
    st.sampled_from(["", "", "."]),
    DIGITS,
)
PADDING = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n", "\n\n", "\u00a0"])
QUANTITIES = st.builds(
    lambda lead, number, suffix, trail: lead + number + suffix + trail,
    PADDING, NUMBERS, st.sampled_from(SUFFIXES), PADDING,
)
NOISE = st.text(alphabet="0123456789.+-eEmkKMGTPiB \n\t\u0663", max_size=8)
TEXTS = st.one_of(QUANTITIES, NOISE, st.text(max_size=6))


@pytest.mark.parametrize("rule", [CPU, MEMORY], ids=lambda rule: rule.field)
@settings(max_examples=1500, deadline=None)
@given(text=TEXTS)
@example(text="500m\n")
@example(text="256Mi\n")
@example(text="1\n\n")
def test_our_rule_accepts_what_kfp_accepts(rule: Rule, text: str) -> None:
    assert rule.kfp_accepts(text) == kfp_verdict_from_ours(rule, text)
    assert not (rule.we_accept(text) and "\n" in text)
    assert rule.schema_accepts(text) == rule.we_accept(text)  # editors agree with validate


# --- the table: explicit examples, through `unip-kfp validate`'s rules and compile

KUBERNETES_AGREES, NEWLINE = "", "kfp alone accepts it (trailing newline)"
CASES: list[tuple[str, str, bool, str]] = [
    # field, YAML scalar in the manifest, accepted by us, note
    ("cpu", "500m", True, ""),
    ("cpu", "0.5", True, "a YAML float, checked as str(0.5)"),
    ("cpu", '"0.5"', True, ""),
    ("cpu", "2", True, "a YAML int"),
    ("cpu", '".5"', True, ""),
    ("cpu", '"1.5m"', True, "Kubernetes rounds it up to 2m"),
    ("cpu", "1000.0", True, ""),
    ("cpu", '"1."', False, ""),
    ("cpu", "500M", False, "M is mega, not milli"),
    ("cpu", "1e3", False, ""),
    ("cpu", '"+1"', False, ""),
    ("cpu", "-1", False, ""),
    ("cpu", "lots", False, ""),
    ("cpu", '""', False, ""),
    ("cpu", '" 1"', False, ""),
    ("cpu", '"1 "', False, ""),
    ("cpu", "true", False, "a YAML bool"),
    ("cpu", '"500m\\n"', False, NEWLINE),
    ("memory", "256M", True, ""),
    ("memory", "256Mi", True, ""),
    ("memory", "1G", True, ""),
    ("memory", "256", True, "a YAML int"),
    ("memory", '"256"', True, ""),
    ("memory", "1Ei", True, ""),
    ("memory", "1E", True, ""),
    ("memory", "1K", True, "Kubernetes spells kilo 'k'"),
    ("memory", "1k", False, "Kubernetes would take it"),
    ("memory", "1GB", False, ""),
    ("memory", "0.5Gi", False, ""),
    ("memory", "1.5", False, ""),
    ("memory", "500m", False, ""),
    ("memory", "1e3", False, ""),
    ("memory", "256mi", False, ""),
    ("memory", '"256 M"', False, ""),
    ("memory", "lots", False, ""),
    ("memory", '""', False, ""),
    ("memory", "-1", False, ""),
    ("memory", '"+1"', False, ""),
    ("memory", '"256M\\n"', False, NEWLINE),
]


@pytest.mark.parametrize(("field", "scalar", "accepted", "note"), CASES)
def test_the_table_agrees_with_kfp(field: str, scalar: str, accepted: bool, note: str) -> None:
    rule = RULES[field]
    text = str(yaml.safe_load(f"v: {scalar}")["v"])  # what the rule and kfp both see
    assert rule.we_accept(text) is accepted
    assert rule.kfp_accepts(text) is (accepted or note == NEWLINE)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("quantities") / "manifests"
    shutil.copytree(EXAMPLES / "train-test" / "manifests", folder)
    yield folder


def with_limit(folder: Path, field: str, scalar: str) -> None:
    """Give the first stage `field: scalar` (the example has cpu: 500m, memory: 256M)."""
    pipeline = folder / "pipeline.yaml"
    original = {"cpu": "cpu: 500m", "memory": "memory: 256M"}[field]
    text = (EXAMPLES / "train-test" / "manifests" / "pipeline.yaml").read_text()
    assert text.count(original) == 2
    pipeline.write_text(text.replace(original, f"{field}: {scalar}", 1))


@pytest.mark.parametrize(("field", "scalar", "accepted", "note"), CASES)
def test_validation_and_compile_follow_the_table(
    manifests: Path, field: str, scalar: str, accepted: bool, note: str
) -> None:
    """The whole route: the manifest is refused iff the table says so, and an accepted
    value reaches the package exactly as kfp's validator saw it."""
    with_limit(manifests, field, scalar)
    if not accepted:
        with pytest.raises(ManifestError) as refused:
            unip_kfp.load(str(manifests))
        assert any(i.field and i.field.endswith(field) for i in refused.value.issues)
        return
    (plan,) = unip_kfp.load(str(manifests)).plan.pipelines
    text = str(yaml.safe_load(f"v: {scalar}")["v"])
    spec = next(yaml.safe_load_all(compile_to_bytes(plan)))
    resources = spec["deploymentSpec"]["executors"]["exec-stage1"]["container"]["resources"]
    name = field.capitalize()
    assert resources[f"resource{name}Limit"] == resources[f"resource{name}Request"] == text


@pytest.mark.parametrize("rule", [CPU, MEMORY], ids=lambda rule: rule.field)
def test_the_validator_is_what_kfps_setter_calls(rule: Rule) -> None:
    """So the property above tests against what `task.set_cpu_limit(...)` would refuse."""
    with pytest.raises(ValueError) as direct:
        getattr(_task(), rule.kfp)("lots")
    with pytest.raises(ValueError) as through_setter:
        getattr(_task(), rule.setter)("lots")
    assert str(through_setter.value) == str(direct.value)
    task = getattr(_task(), rule.setter)("1")
    assert getattr(task.container_spec.resources, f"{rule.field}_limit") == "1"
