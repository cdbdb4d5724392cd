"""The rules for a stage's `resourceLimits`: quantities and accelerators Kubeflow accepts.

The quantity patterns are the checks kfp's `set_cpu_limit`/`set_memory_limit` make, kept here
so that validation never imports kfp; compiling uses the same patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..manifests import models
from ..manifests.yaml_source import FieldPath

CPU_QUANTITY = re.compile(r"^([0-9]*[.])?[0-9]+m?$")
MEMORY_QUANTITY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")

Problem = tuple[FieldPath, str, str]


def resource_problems(stage: models.Stage) -> Iterator[Problem]:
    """Every refusal of one stage's limits, at paths relative to its `resourceLimits`."""
    limits = stage.resource_limits
    if limits is None:
        return
    if limits.cpu is not None and (
        isinstance(limits.cpu, bool) or not CPU_QUANTITY.fullmatch(str(limits.cpu))
    ):
        yield (("cpu",), f"cpu '{limits.cpu}' is not a quantity Kubeflow accepts",
               "use a number of cores (0.5, 2) or millicores (500m)")
    if limits.memory is not None and (
        isinstance(limits.memory, bool) or not MEMORY_QUANTITY.fullmatch(str(limits.memory))
    ):
        yield (("memory",), f"memory '{limits.memory}' is not a quantity Kubeflow accepts",
               "use an integer with an optional suffix: 256M, 1Gi, 512Ki")
    accelerators = limits.accelerators()
    for key, value in accelerators.items():
        if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", str(value)) or int(value) < 1:
            yield ((key,), f"accelerator count '{value}' is not a positive integer",
                   "give the number of devices, e.g. 1")
    if len(accelerators) > 1:
        # A KFP task has one accelerator type and count (ResourceSpec.accelerator_type).
        yield ((list(accelerators)[1],),
               f"stage '{stage.name}': Kubeflow Pipelines allows one accelerator type per task, "
               f"got {', '.join(accelerators)}",
               "keep one accelerator key in resourceLimits")
