"""Which role each variable of a pipeline plays: input, output, mounted or internal (SPEC §3).

Validation and the plan both need this, so the rule lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..manifests import models


class Role(str, Enum):
    INPUT = "input"
    OUTPUT = "output"
    MOUNTED = "mounted"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Usage:
    """Where a var is read and written, by stage index (stages run in manifest order)."""

    readers: tuple[int, ...]
    writers: tuple[int, ...]
    mounted: bool

    @property
    def first_write(self) -> int | None:
        return min(self.writers) if self.writers else None

    def read_before_write(self) -> bool:
        """Some stage reads it at or before the first stage that writes it."""
        first = self.first_write
        return any(first is None or r <= first for r in self.readers)


def usages(pipeline: models.PipelineSpec) -> dict[str, Usage]:
    """Read/write stage indexes of every var named anywhere in the pipeline."""
    mounted = {v.name for v in pipeline.vars if v.mount_from is not None}
    readers: dict[str, list[int]] = {v.name: [] for v in pipeline.vars}
    writers: dict[str, list[int]] = {v.name: [] for v in pipeline.vars}
    for index, stage in enumerate(pipeline.stages):
        for ref in stage.inputs:
            readers.setdefault(ref.name, []).append(index)
            writers.setdefault(ref.name, [])
            if ref.mount_from is not None:
                mounted.add(ref.name)
        for ref in stage.outputs:
            writers.setdefault(ref.name, []).append(index)
            readers.setdefault(ref.name, [])
    return {n: Usage(tuple(readers[n]), tuple(writers[n]), n in mounted) for n in readers}


def roles(pipeline: models.PipelineSpec, api: models.ApiSpec | None) -> dict[str, Role]:
    """The role of each var; with an APIComponent its lists rule, else the data flow does."""
    result: dict[str, Role] = {}
    api_inputs = {v.name for v in api.inputs} if api else set()
    api_outputs = {v.name for v in api.outputs} if api else set()
    for name, use in usages(pipeline).items():
        if api is not None:
            if name in api_inputs:
                result[name] = Role.INPUT
            elif name in api_outputs:
                result[name] = Role.OUTPUT
            elif use.mounted:
                result[name] = Role.MOUNTED
            else:
                result[name] = Role.INTERNAL
            continue
        if use.mounted:
            result[name] = Role.MOUNTED
        elif use.readers and use.read_before_write():
            result[name] = Role.INPUT
        elif use.writers and not any(r > min(use.writers) for r in use.readers):
            result[name] = Role.OUTPUT
        else:
            result[name] = Role.INTERNAL
    return result


def is_value(api_var: models.ApiVar | None) -> bool:
    """Only non-file datatypes given -> the caller passes a value, not a file (SPEC §3)."""
    datatypes = (api_var.type.datatypes if api_var and api_var.type else None) or []
    return bool(datatypes) and all(d in models.VALUE_DATATYPES for d in datatypes)
