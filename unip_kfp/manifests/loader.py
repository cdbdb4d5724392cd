"""Find manifest files, read them and turn each document into a model.

Dispatches on `kind`: ExperimentPipeline, APIComponent and DataBox are read, other platform
kinds are skipped, anything else is an error. Problems are collected as `Issue`s with file,
line and field path; nothing here raises on bad input (the caller decides when to stop).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from ..errors import Issue, Severity, did_you_mean
from . import models
from .partial_models import real_path, repaired
from .yaml_source import Document, FieldPath, format_path, iter_yaml_files, read_documents

M = TypeVar("M", bound=models.Manifest)

_EXPECTED = {
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "an integer",
    "float_type": "a number",
}


@dataclass(frozen=True)
class Loaded:
    """A manifest model together with the YAML document it came from (for line numbers).

    A document the schema refused is still loaded, as a partial model: `masked` lists the
    paths whose values were replaced (`partial_models`), which the checks leave alone.
    """

    model: models.Manifest
    doc: Document
    masked: tuple[FieldPath, ...] = ()

    def refused(self, path: FieldPath) -> bool:
        """The schema refused `path` or a field that holds it: nothing more to say there."""
        return any(path[: len(m)] == m for m in self.masked)

    def refused_within(self, path: FieldPath) -> bool:
        """The schema refused `path` or something inside it: references to it are unsure."""
        return any(m[: len(path)] == path for m in self.masked)

    def line(self, path: FieldPath) -> int:
        return self.doc.line_of(path)

    def issue(
        self, severity: Severity, path: FieldPath, message: str, hint: str | None = None
    ) -> Issue:
        """An issue located at `path` inside this manifest."""
        return Issue(severity, message, self.doc.file, self.line(path), format_path(path), hint)


@dataclass(frozen=True)
class ManifestSet:
    """Everything read from the given paths: the manifests and what was wrong with them."""

    manifests: tuple[Loaded, ...]
    issues: tuple[Issue, ...]
    paths: tuple[str, ...]
    unparsed: tuple[tuple[str, str], ...] = ()  # (kind, name) of documents with no model
    partial: tuple[Loaded, ...] = ()  # documents the schema refused, as partial models

    def of_kind(self, kind: type[M]) -> list[tuple[M, Loaded]]:
        """The valid manifests of a kind: what the plan is built from."""
        return [(m.model, m) for m in self.manifests if isinstance(m.model, kind)]

    def checked(self, kind: type[M]) -> list[tuple[M, Loaded]]:
        """Valid and partial manifests of a kind: what the checks read."""
        every = (*self.manifests, *self.partial)
        return [(m.model, m) for m in every if isinstance(m.model, kind)]


def load_project(paths: Sequence[str]) -> ManifestSet:
    """Read every manifest below `paths` (files or folders); collect, do not raise, problems."""
    loaded: list[Loaded] = []
    issues: list[Issue] = []
    unparsed: list[tuple[str, str]] = []
    partial: list[Loaded] = []
    for path in paths:
        files = _files_of(path, issues)
        for file in files:
            _load_file(file, loaded, issues, unparsed, partial)
    return ManifestSet(
        tuple(loaded), tuple(issues), tuple(paths), tuple(unparsed), tuple(partial)
    )


def _files_of(path: str, issues: list[Issue]) -> list[str]:
    if os.path.isdir(path):
        files = list(iter_yaml_files(path))
        if not files:
            issues.append(
                Issue(
                    Severity.ERROR,
                    "no manifests found (no *.yaml or *.yml files)",
                    path,
                    hint="pass the folder that holds the module's manifests",
                )
            )
        return files
    if os.path.isfile(path):
        return [path]
    issues.append(
        Issue(
            Severity.ERROR,
            "no such file or directory",
            path,
            hint="check the path; give a manifest file or a folder of manifests",
        )
    )
    return []


def _load_file(
    file: str,
    loaded: list[Loaded],
    issues: list[Issue],
    unparsed: list[tuple[str, str]],
    partial: list[Loaded],
) -> None:
    try:
        with open(file, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        issues.append(Issue(Severity.ERROR, f"cannot read file: {exc.strerror}", file))
        return
    except UnicodeDecodeError as exc:
        issues.append(
            Issue(
                Severity.ERROR,
                f"not UTF-8 text (byte {exc.start})",
                file,
                hint="save the manifest as UTF-8",
            )
        )
        return
    documents, yaml_issues = read_documents(text, file)
    issues.extend(yaml_issues)
    if not documents and not yaml_issues:
        issues.append(
            Issue(
                Severity.ERROR,
                "empty file: no YAML document",
                file,
                1,
                hint="add a manifest or remove the file",
            )
        )
    for doc in documents:
        found = _load_document(doc, issues)
        if found is None:
            unparsed += _kind_and_name(doc.data)
        elif found.masked:
            partial.append(found)
        else:
            loaded.append(found)


def _kind_and_name(data: Any) -> list[tuple[str, str]]:
    """(kind, metadata.name) of a raw document, when both are plain strings."""
    if not isinstance(data, dict):
        return []
    kind, metadata = data.get("kind"), data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return [(kind, name)] if isinstance(kind, str) and isinstance(name, str) else []


def _load_document(doc: Document, issues: list[Issue]) -> Loaded | None:
    """The document's model; one the schema refused comes back partial (see `Loaded`)."""
    model_class = _model_class(doc, issues)
    if model_class is None:
        return None
    masked: tuple[FieldPath, ...] = ()
    api_version = doc.data.get("apiVersion")
    if api_version != models.API_VERSION:
        issues.append(
            _issue_at(
                doc,
                ("apiVersion",),
                f"apiVersion must be '{models.API_VERSION}', got {api_version!r}",
                f'set apiVersion: "{models.API_VERSION}"',
            )
        )
        masked = (("apiVersion",),)
    issues.extend(_unknown_key_warnings(doc, model_class))
    try:
        return Loaded(model_class.model_validate(doc.data), doc, masked)
    except ValidationError as exc:
        issues.extend(_validation_issues(exc, doc))
        found = repaired(model_class, doc.data, exc.errors())
    if found is None:
        return None
    return Loaded(found[0], doc, masked + found[1])


def _model_class(doc: Document, issues: list[Issue]) -> type[models.Manifest] | None:
    """The model of the document's kind; None for skipped kinds and for what is no manifest."""
    if not isinstance(doc.data, dict):
        issues.append(
            _issue_at(
                doc,
                (),
                f"a manifest must be a mapping, got {type(doc.data).__name__}",
                "start the document with 'apiVersion:', 'kind:', 'metadata:', 'spec:'",
            )
        )
        return None
    kind = doc.data.get("kind")
    if kind in models.SKIPPED_KINDS:
        return None
    if kind in models.READ_KINDS:
        return models.MODEL_BY_KIND[kind]
    known = (*models.READ_KINDS, *models.SKIPPED_KINDS)
    if kind is None:
        issues.append(
            _issue_at(doc, (), "field 'kind' is missing", f"set kind to one of {', '.join(known)}")
        )
    else:
        guess = did_you_mean(str(kind), known)
        issues.append(
            _issue_at(
                doc,
                ("kind",),
                f"unknown kind '{kind}'",
                f"did you mean '{guess}'?" if guess else f"use one of {', '.join(known)}",
            )
        )
    return None


def _unknown_key_warnings(doc: Document, model_class: type[models.Manifest]) -> list[Issue]:
    """Keys the models do not know: warnings, since the platform adds keys over time."""
    found = []
    for path, key, owner in models.unknown_keys(doc.data, model_class):
        guess = did_you_mean(key, models.known_keys(owner))
        found.append(
            _issue_at(
                doc,
                path,
                f"unknown key '{key}' (ignored)",
                f"did you mean '{guess}'?"
                if guess
                else f"known keys here: {', '.join(models.known_keys(owner))}",
                Severity.WARNING,
            )
        )
    return found


def _issue_at(
    doc: Document,
    path: FieldPath,
    message: str,
    hint: str | None,
    severity: Severity = Severity.ERROR,
) -> Issue:
    return Issue(severity, message, doc.file, doc.line_of(path), format_path(path) or None, hint)


def _validation_issues(exc: ValidationError, doc: Document) -> list[Issue]:
    """Pydantic errors -> issues on real field paths (union branches merged into one)."""
    by_path: dict[FieldPath, Issue] = {}
    for error in exc.errors():
        path, missing = real_path(doc.data, error["loc"])
        if error["type"] == "missing" and missing is not None:
            path = (*path, missing)
            message = f"required field '{missing}' is missing"
            hint: str | None = f"add '{missing}:' here"
        else:
            message, hint = _describe(error)
        if path in by_path:
            if error["type"] in _EXPECTED and "must be" in by_path[path].message:
                merged = by_path[path].message.split(", got")[0] + f" or {_EXPECTED[error['type']]}"
                by_path[path] = Issue(
                    Severity.ERROR,
                    merged + _got(error),
                    doc.file,
                    doc.line_of(path),
                    format_path(path),
                    hint,
                )
            continue
        by_path[path] = Issue(
            Severity.ERROR, message, doc.file, doc.line_of(path), format_path(path), hint
        )
    return list(by_path.values())


def _got(error: Any) -> str:
    value = error.get("input")
    return (
        f", got {type(value).__name__} {value!r}"
        if not isinstance(value, (dict, list))
        else f", got a {type(value).__name__}"
    )


_HINTS = {
    "string_type": "write a text value (quote it if YAML reads it as a number or boolean)",
    "bool_type": "use true or false",
    "list_type": "write a YAML list: '[a, b]' or one '- item' line per element",
    "dict_type": "write a mapping of 'key: value' lines",
    "model_type": "write a mapping of 'key: value' lines",
    "model_attributes_type": "write a mapping of 'key: value' lines",
    "int_type": "write a whole number",
    "float_type": "write a number",
}


def _describe(error: Any) -> tuple[str, str | None]:
    kind = error["type"]
    if kind in _EXPECTED:
        hint = _HINTS.get(kind)
        value = error.get("input")
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f'quote the value: "{shown}"'
        return f"must be {_EXPECTED[kind]}{_got(error)}", hint
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error" and "; use " in message:
        message, _, remedy = message.partition("; ")
        return message, remedy
    return message, "see the platform documentation of this field"


__all__ = ["Loaded", "ManifestSet", "did_you_mean", "load_project"]
