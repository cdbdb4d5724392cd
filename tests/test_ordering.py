"""`unip_kfp.ordering.in_rounds`: dependencies first, each round sorted by name, cycles named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unip_kfp.ordering import CycleError, in_rounds


def test_rounds_by_name() -> None:
    needs = {"z": set(), "b": {"z"}, "a": {"z"}, "c": {"a", "b"}, "y": set()}
    assert in_rounds(needs) == ["y", "z", "a", "b", "c"]


def test_a_cycle_is_named() -> None:
    with pytest.raises(CycleError) as raised:
        in_rounds({"a": {"b"}, "b": {"a"}, "c": set()})
    assert set(raised.value.args[1]) == {"a", "b"}


@given(st.dictionaries(st.integers(0, 12), st.sets(st.integers(0, 12), max_size=4), max_size=12))
def test_every_task_comes_after_what_it_needs(raw: dict[int, set[int]]) -> None:
    # only edges to smaller numbers: a DAG
    needs = {str(k): {str(d) for d in deps if d < k and d in raw} for k, deps in raw.items()}
    order = in_rounds(needs)
    assert sorted(order) == sorted(needs)
    assert all(order.index(d) < order.index(k) for k, deps in needs.items() for d in deps)
