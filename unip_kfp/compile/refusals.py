"""Whose fault an exception is: Kubeflow Pipelines refusing our graph, or a bug of ours.

Why not decide by type: kfp refuses with ValueError, TypeError, KeyError and its own types,
which are also what our own bugs raise. Where the exception was raised tells them apart. It
is kfp's refusal when a frame of the `kfp` package (`kfp.*`, including `kfp.kubernetes`)
lies after the innermost frame of `unip_kfp`: kfp raised it, or something kfp called did.
Raised in our own frame, or in the standard library called straight from it, it is ours,
and it must reach the CLI unchanged as an internal error (exit 70), not as exit 4.
"""

from __future__ import annotations

import traceback


def _in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def raised_by_kfp(exc: BaseException) -> bool:
    """True if kfp's own code raised `exc` (below our innermost frame); False if we did."""
    modules = [
        str(frame.f_globals.get("__name__", ""))
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    ]
    ours = [i for i, module in enumerate(modules) if _in_package(module, "unip_kfp")]
    below_ours = modules[ours[-1] + 1 :] if ours else modules
    return any(_in_package(module, "kfp") for module in below_ours)
