"""What pipeline.py relies on in kfp 2.17 beyond its public API, checked against kfp itself.

- `set_container_settings` writes what `set_env_variable`, `set_cpu_*`, `set_memory_*` and
  `set_accelerator_*` write, skipping their `inspect.stack()` call: the same plans are
  compiled both ways and must give the same bytes.
- `memoised_task_names` caches `kfp.dsl.utils.sanitize_task_name` while kfp builds the IR:
  kfp must still call it through the module attribute, the IR must not change, and the
  original must be back afterwards.
If a kfp patch release changes any of this, these tests fail and pipeline.py must follow.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from kfp.dsl import utils as kfp_utils
from support.goldens import CASES, USER, compiled

import unip_kfp
from unip_kfp.compile import pipeline
from unip_kfp.compile.package import compile_to_bytes
from unip_kfp.errors import CompileError
from unip_kfp.plan.model import PipelinePlan, Stage


def with_setters(task: Any, stage: Stage) -> None:
    """The public kfp route, as pipeline.py took it before."""
    for name, value in stage.env:
        task.set_env_variable(name, value)
    if stage.cpu:
        task.set_cpu_request(stage.cpu)
        task.set_cpu_limit(stage.cpu)
    if stage.memory:
        task.set_memory_request(stage.memory)
        task.set_memory_limit(stage.memory)
    for key, count in stage.accelerators:
        task.set_accelerator_type(key)
        task.set_accelerator_limit(count)


def plan_of(case_id: str) -> PipelinePlan:
    case = CASES[case_id]
    project = unip_kfp.load(str(case.path), boxes=dict(case.boxes), user=USER)
    (plan,) = project.plan.pipelines
    return plan


def both_ways(plan: PipelinePlan, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    ours = compile_to_bytes(plan)
    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "set_container_settings", with_setters)
        setters = compile_to_bytes(plan)
    return ours, setters


@pytest.mark.parametrize("case_id", ["fanout", "seed-000"])
def test_case_packages_equal_the_setters_packages(
    case_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_of(case_id)
    assert any(s.env for s in plan.stages) and any(s.cpu and s.memory for s in plan.stages)
    ours, setters = both_ways(plan, monkeypatch)
    assert ours == setters
    assert [ours] == list(compiled(case_id).values())  # the golden route is this one


def test_one_task_with_every_setting_equals_the_setters(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of("fanout")
    first, *rest = plan.stages
    loaded = dataclasses.replace(
        first,
        env=(("A", "1"), ("B", "$(A) and $$x"), ("A", "2")),  # a repeated name: last wins
        cpu="1500m",
        memory="2Gi",
        accelerators=(("nvidia.com/gpu", 3),),
    )
    bare = [dataclasses.replace(s, env=(), cpu=None, memory=None, accelerators=()) for s in rest]
    plan = dataclasses.replace(plan, stages=(loaded, *bare))
    ours, setters = both_ways(plan, monkeypatch)
    assert ours == setters
    for text in (b"resourceCpuRequest: 1500m", b"resourceMemoryLimit: 2Gi", b"value: $(A) and $$x"):
        assert text in ours
    assert b"resources:" in ours and ours.count(b"resources:") == 1  # bare stages have none


def test_an_invalid_quantity_is_refused_as_kfp_would() -> None:
    """Plans come validated; one built by hand is still refused (exit 4), as the setters did."""
    plan = plan_of("fanout")
    first, *rest = plan.stages
    for bad in ({"cpu": "500M"}, {"memory": "0.5Gi"}):
        broken = dataclasses.replace(plan, stages=(dataclasses.replace(first, **bad), *rest))
        with pytest.raises(CompileError, match="Left Branch.*not a quantity Kubeflow accepts"):
            compile_to_bytes(broken)


@contextlib.contextmanager
def counted_sanitising() -> Iterator[list[str]]:
    """Record every call kfp makes to the (unmemoised) task-name sanitiser."""
    original = kfp_utils.sanitize_task_name
    calls: list[str] = []

    def counting(name: str) -> str:
        calls.append(name)
        return original(name)

    kfp_utils.sanitize_task_name = counting
    try:
        yield calls
    finally:
        kfp_utils.sanitize_task_name = original


def test_task_names_are_sanitised_once_each_with_the_same_ir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = plan_of("fanout")
    with counted_sanitising() as memoised_calls:
        memoised = compile_to_bytes(plan)
    with monkeypatch.context() as patched, counted_sanitising() as plain_calls:
        patched.setattr(pipeline, "memoised_task_names", contextlib.nullcontext)
        plain = compile_to_bytes(plan)
    assert memoised == plain
    # kfp calls it through the module attribute (else the cache would do nothing) ...
    assert plain_calls, "kfp no longer calls kfp.dsl.utils.sanitize_task_name"
    # ... once per task per task of the DAG; memoised, once per distinct name
    assert len(memoised_calls) == len(set(plain_calls)) < len(plain_calls)


def test_the_sanitiser_is_restored_after_compiling_or_failing() -> None:
    original = kfp_utils.sanitize_task_name
    compile_to_bytes(plan_of("fanout"))
    assert kfp_utils.sanitize_task_name is original
    with pytest.raises(RuntimeError), pipeline.memoised_task_names():
        assert kfp_utils.sanitize_task_name is not original
        raise RuntimeError("kfp refused")
    assert kfp_utils.sanitize_task_name is original
