"""The rules for one ExperimentPipeline and its APIComponent (SPEC §2).

`PipelineChecker.run()` returns every problem it finds; `cross_manifest.check_manifests`
calls it once per pipeline after the cross-manifest checks. A pipeline (or API) the schema
refused is a partial model (`manifests.partial_models`): its fields are checked, but nothing
is said where the schema already spoke, and the data-flow rules wait until it parses.
"""

from __future__ import annotations

import posixpath

from ..errors import Issue, Severity, did_you_mean
from ..manifests import models
from ..manifests.loader import Loaded
from ..manifests.yaml_source import FieldPath
from ..naming import ENV_PREFIX, env_name, io_name, is_env_name
from .resources import CPU_QUANTITY, MEMORY_QUANTITY, resource_problems
from .roles import Role, Usage, is_value, roles, usages
from .task_keys import RESERVED_TASK, task_key_problems

ERROR, WARNING = Severity.ERROR, Severity.WARNING


class PipelineChecker:
    """The rules for one ExperimentPipeline (and its APIComponent, if any)."""

    def __init__(
        self,
        pipeline: models.ExperimentPipeline,
        loaded: Loaded,
        api: tuple[models.APIComponent, Loaded] | None,
        box_names: set[str],
    ):
        self.spec = pipeline.spec
        self.loaded = loaded
        self.api = api[0].spec.api_spec or models.ApiSpec() if api else None
        self.api_loaded = api[1] if api else None
        self.box_names = box_names
        self.issues: list[Issue] = []

    def error(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.report(self.loaded, ERROR, ("spec", *path), message, hint)

    def warn(self, path: FieldPath, message: str, hint: str | None = None) -> None:
        self.report(self.loaded, WARNING, ("spec", *path), message, hint)

    def api_error(
        self, path: FieldPath, message: str, hint: str | None = None, severity: Severity = ERROR
    ) -> None:
        assert self.api_loaded is not None
        self.report(self.api_loaded, severity, ("spec", "apiSpec", *path), message, hint)

    def report(
        self, loaded: Loaded, severity: Severity, path: FieldPath, message: str, hint: str | None
    ) -> None:
        """Add an issue, unless the schema already refused that field."""
        if not loaded.refused(path):
            self.issues.append(loaded.issue(severity, path, message, hint))

    def refused_within(self, path: FieldPath) -> bool:
        """Part of `spec.<path>` was refused by the schema: references into it are unsure."""
        return self.loaded.refused_within(("spec", *path))

    def run(self) -> list[Issue]:
        self.check_names()
        self.check_boxes()
        self.check_vars()
        self.check_stages()
        refused = [m.refused_within(("spec",)) for m in (self.loaded, self.api_loaded) if m]
        if not any(refused):  # the flow of a partly refused spec is not known yet
            self.check_data_flow()
            if self.api is not None:
                self.check_api()
        return self.issues

    def check_names(self) -> None:
        """Duplicates, and names that map to the same env var, KFP name or task."""
        _duplicates(self, [v.name for v in self.spec.vars], ("vars",), "var")
        _duplicates(self, [s.name for s in self.spec.stages], ("stages",), "stage")
        _duplicates(self, [b.name for b in self.spec.connected_boxes], ("connectedBoxes",), "box")
        declared_at = {v.name: i for i, v in enumerate(self.spec.vars)}
        for kind, names in (
            ("vars", [v.name for v in self.spec.vars]),
            ("stages", [s.name for s in self.spec.stages]),
            ("connectedBoxes", [b.name for b in self.spec.connected_boxes]),
        ):
            for index, name in enumerate(names):
                if not name.strip():
                    self.error((kind, index, "name"), "name is empty", "give it a name")
        for rule, what in ((env_name, "environment variable"), (io_name, "KFP name")):
            by_mapped: dict[str, str] = {}
            for name in declared_at:  # undeclared names are reported where stages use them
                mapped = rule(name)
                other = by_mapped.setdefault(mapped, name)
                if other != name:
                    self.error(
                        ("vars", declared_at[name], "name"),
                        f"vars '{other}' and '{name}' both become {what} '{mapped}'",
                        "rename one of them",
                    )
        for path, message, hint in task_key_problems(self.spec, self.api):
            self.error(path, message, hint)

    def check_boxes(self) -> None:
        defaults = [i for i, b in enumerate(self.spec.connected_boxes) if b.default]
        for index in defaults[1:]:
            self.error(
                ("connectedBoxes", index, "default"),
                f"more than one default box ('{self.spec.connected_boxes[defaults[0]].name}' "
                f"and '{self.spec.connected_boxes[index].name}')",
                "set default: true on one box only",
            )
        for index, box in enumerate(self.spec.connected_boxes):
            if box.path is not None:
                self.check_container_path(("connectedBoxes", index, "path"), box.path)
            s3_name = box.mount_s3_box.s3_box_name
            if self.box_names and s3_name not in self.box_names:
                guess = did_you_mean(s3_name, self.box_names)
                self.warn(
                    ("connectedBoxes", index, "mountS3Box", "s3BoxName"),
                    f"no DataBox named '{s3_name}' among the manifests",
                    f"did you mean '{guess}'?"
                    if guess
                    else "fine if the box belongs to another module; otherwise fix the name",
                )

    def check_vars(self) -> None:
        for index, var in enumerate(self.spec.vars):
            self.check_ref(("vars", index), var)

    def check_ref(self, path: FieldPath, ref: models.Var) -> None:
        if ref.path is not None:
            self.check_container_path((*path, "path"), ref.path)
        if ref.mount_from is not None:
            box = ref.mount_from.box
            names = [b.name for b in self.spec.connected_boxes]
            if box.name is None and not any(b.default for b in self.spec.connected_boxes):
                self.error(
                    (*path, "mountFrom", "box"),
                    "no box named and no default box",
                    "set mountFrom.box.name to one of connectedBoxes",
                )
            elif (
                box.name is not None
                and box.name not in names
                and not self.refused_within(("connectedBoxes",))
            ):
                guess = did_you_mean(box.name, names)
                self.error(
                    (*path, "mountFrom", "box", "name"),
                    f"'{box.name}' is not a connected box",
                    f"did you mean '{guess}'?"
                    if guess
                    else "add it to spec.connectedBoxes or use one listed there",
                )
            parts = box.box_path.split("/")
            if box.box_path.startswith("/") or ".." in parts:
                self.error(
                    (*path, "mountFrom", "box", "boxPath"),
                    f"boxPath '{box.box_path}' escapes its box",
                    "use a path relative to the box, e.g. users/<user>/file_groups/<folder>",
                )

    def check_container_path(self, path: FieldPath, value: str) -> None:
        if not value.startswith("/"):
            self.error(path, f"path '{value}' is relative", "use an absolute container path")
        elif ".." in value.split("/"):
            self.error(path, f"path '{value}' contains '..'", "write the path without '..'")

    def check_stages(self) -> None:
        declared = [v.name for v in self.spec.vars]
        for index, stage in enumerate(self.spec.stages):
            at: FieldPath = ("stages", index)
            if not stage.image.existing_image_name.strip():
                self.error(
                    (*at, "image", "existingImageName"),
                    "image is empty",
                    "name the Docker image the stage runs",
                )
            if not "".join(stage.entry_point.cmd).strip():
                self.error(
                    (*at, "entryPoint", "cmd"),
                    "command is empty",
                    "list the command and its arguments, e.g. [python3, src/train.py]",
                )
            for kind in ("inputs", "outputs"):
                refs = getattr(stage, kind)
                _duplicates(self, [r.name for r in refs], (*at, kind), f"stage {kind[:-1]}")
                for j, ref in enumerate(refs):
                    if ref.name not in declared and not self.refused_within(("vars",)):
                        guess = did_you_mean(ref.name, declared)
                        self.error(
                            (*at, kind, j, "name"),
                            f"'{ref.name}' is not a declared var",
                            f"did you mean '{guess}'?"
                            if guess
                            else f"declare it in spec.vars (declared: {', '.join(declared)})",
                        )
                    self.check_ref((*at, kind, j), ref)
            self.check_stage_paths(at, stage)
            self.check_env(at, stage)
            self.check_resources(at, stage)

    def check_stage_paths(self, at: FieldPath, stage: models.Stage) -> None:
        """Two vars of one stage must not land on the same (or a nested) container path."""
        declared = {v.name: v for v in self.spec.vars}
        placed: list[tuple[str, str]] = []
        for kind in ("inputs", "outputs"):
            for j, ref in enumerate(getattr(stage, kind)):
                var = declared.get(ref.name)
                target = ref.path or (var.path if var else None)
                if not target or not target.startswith("/"):
                    continue
                norm = posixpath.normpath(target)
                for other_name, other in placed:
                    if (
                        norm == other
                        or norm.startswith(other.rstrip("/") + "/")
                        or other.startswith(norm.rstrip("/") + "/")
                    ):
                        self.error(
                            (*at, kind, j, "path"),
                            f"path '{target}' of '{ref.name}' collides with '{other}' "
                            f"of '{other_name}'",
                            "give each var its own, separate path",
                        )
                placed.append((ref.name, norm))

    def check_env(self, at: FieldPath, stage: models.Stage) -> None:
        _duplicates(self, [e.name for e in stage.env], (*at, "env"), "env var")
        for j, env in enumerate(stage.env):
            if not is_env_name(env.name):
                self.error(
                    (*at, "env", j, "name"),
                    f"'{env.name}' is not a valid env var name",
                    "use letters, digits and '_', not starting with a digit",
                )
            elif env.name.upper().startswith(ENV_PREFIX):
                self.error(
                    (*at, "env", j, "name"),
                    f"'{env.name}' uses the reserved prefix {ENV_PREFIX}",
                    "those variables are set from spec.vars; pick another name",
                )

    def check_resources(self, at: FieldPath, stage: models.Stage) -> None:
        for path, message, hint in resource_problems(stage):
            self.error((*at, "resourceLimits", *path), message, hint)

    def check_data_flow(self) -> None:
        use = usages(self.spec)
        role = roles(self.spec, self.api)
        declared_at = {v.name: i for i, v in enumerate(self.spec.vars)}
        for name, u in use.items():
            if name not in declared_at:
                continue  # reported at the stage
            if not u.readers and not u.writers:
                self.warn(
                    ("vars", declared_at[name], "name"),
                    f"var '{name}' is not used by any stage",
                    "remove it or add it to a stage's inputs/outputs",
                )
            writers = sorted(set(u.writers))
            if len(u.writers) > 1:
                self.error(
                    ("stages", writers[-1], "outputs"),
                    f"'{name}' is written by more than one stage "
                    f"({', '.join(self.spec.stages[i].name for i in writers)})",
                    "each var has one writer; give the other output its own var",
                )
            if u.mounted and u.writers:
                self.error(
                    ("stages", writers[0], "outputs"),
                    f"'{name}' is mounted from a box and also written by a stage",
                    "outputs go to the run's artifact store; use another var for the "
                    "output and copy it with 'unip-kfp run -o'",
                )
            readable = role[name] in (Role.INTERNAL, Role.OUTPUT)
            if readable and u.readers and u.read_before_write():
                reader = min(u.readers)
                self.error(
                    ("stages", reader, "inputs"),
                    f"stage '{self.spec.stages[reader].name}' reads '{name}' before any "
                    "earlier stage writes it",
                    "list it as an API input, mount it, or move the writing stage before this one",
                )
            if self.api is None and role[name] is Role.INPUT and u.writers:
                self.error(
                    ("stages", writers[0], "outputs"),
                    f"'{name}' is read by stage '{self.spec.stages[min(u.readers)].name}' "
                    "before this stage writes it",
                    "stages run in manifest order: move the writing stage first",
                )

    def check_api(self) -> None:
        assert self.api is not None
        use = usages(self.spec)
        for kind in ("inputs", "outputs"):
            seen: set[str] = set()
            for j, item in enumerate(getattr(self.api, kind)):
                at: FieldPath = (kind, j)
                if item.name in seen:
                    self.api_error(
                        (*at, "name"),
                        f"duplicate API {kind[:-1]} '{item.name}'",
                        "list each variable once",
                    )
                seen.add(item.name)
                if item.name not in use:
                    guess = did_you_mean(item.name, list(use))
                    self.api_error(
                        (*at, "name"),
                        f"'{item.name}' is not a var of the pipeline",
                        f"did you mean '{guess}'?"
                        if guess
                        else "declare it in the pipeline's spec.vars",
                    )
                elif kind == "inputs":
                    self.check_api_input(at, item, use[item.name])
                else:
                    self.check_api_output(at, item, use[item.name])

    def check_api_input(self, at: FieldPath, item: models.ApiVar, use: Usage) -> None:
        if use.writers:
            self.api_error(
                (*at, "name"),
                f"API input '{item.name}' is written by stage "
                f"'{self.spec.stages[use.writers[0]].name}'",
                "an input comes from the caller; make it an output or rename",
            )
        if use.mounted and is_value(item):
            self.api_error(
                (*at, "type", "datatypes"),
                f"'{item.name}' is mounted from a box but typed as a value",
                "mounted data is a file or folder: use FILE",
            )

    def check_api_output(self, at: FieldPath, item: models.ApiVar, use: Usage) -> None:
        if not use.writers:
            self.api_error(
                (*at, "name"),
                f"API output '{item.name}' is written by no stage",
                "add it to a stage's outputs",
            )
        if is_value(item):
            self.api_error(
                (*at, "type", "datatypes"),
                f"output '{item.name}' is typed as a value; outputs are folders",
                "use datatypes [FILE] (or website)",
                WARNING,
            )
        if "required" in (item.model_fields_set or ()):
            self.api_error(
                (*at, "required"),
                "outputs are always optional; 'required' has no effect",
                "remove it",
                WARNING,
            )


def _duplicates(checker: PipelineChecker, names: list[str], path: FieldPath, what: str) -> None:
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            checker.error(
                (*path, index, "name"),
                f"duplicate {what} '{name}' (first at {path[-1]}[{first[name]}])",
                "names must be unique",
            )
        first.setdefault(name, index)


__all__ = ["CPU_QUANTITY", "MEMORY_QUANTITY", "RESERVED_TASK", "PipelineChecker"]
