"""A model of a document the schema refused, so that its other fields are checked too.

Why: a document with a wrong-typed env value would otherwise hide that its `cpu: lots` is
wrong as well, and its author would fix one round of errors only to meet the next. Each
value the schema refused is replaced by a neutral one of the right type (`2` -> `"2"` for a
string, `[]` for a list, a mapping filled the same way for a model) until the document
validates; the replaced paths are returned, and the checks say nothing about them (the
schema's own issue already does).
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .yaml_source import FieldPath

_ROUNDS = 8  # one round per nesting level a placeholder model may need; manifests are shallower


def repaired(
    model_class: type[BaseModel], data: dict[str, Any], errors: Sequence[Any]
) -> tuple[Any, tuple[FieldPath, ...]] | None:
    """The model of `data` with every refused value replaced, and the replaced paths."""
    fixed = copy.deepcopy(data)
    masked: list[FieldPath] = []
    for _ in range(_ROUNDS):
        for error in errors:
            found, missing = real_path(fixed, error["loc"])
            path = (*found, missing) if missing is not None else found
            _replace(fixed, path, placeholder(annotation_at(model_class, path), _at(fixed, path)))
            masked.append(path)
        try:
            return model_class.model_validate(fixed), tuple(dict.fromkeys(masked))
        except ValidationError as exc:
            errors = exc.errors()
    return None


def real_path(data: Any, loc: Sequence[str | int]) -> tuple[FieldPath, str | None]:
    """Follow pydantic's `loc` through the data; drop union-branch labels it adds.

    Returns the deepest real path and, when a mapping lacks the next key, that key.
    """
    path: list[str | int] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_dict or in_list:
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str):
            return tuple(path), part
        else:
            continue
        path.append(part)
    return tuple(path), None


def annotation_at(model_class: type[BaseModel], path: FieldPath) -> Any:
    """The type the schema expects at `path` (Any where the models do not say)."""
    annotation: Any = model_class
    for part in path:
        annotation = _step(annotation, part)
    return annotation


def _step(annotation: Any, part: str | int) -> Any:
    for option in _options(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
            for name, info in option.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin, args = typing.get_origin(option), typing.get_args(option)
        if origin is list and isinstance(part, int) and args:
            return args[0]
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return Any


def _options(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def placeholder(annotation: Any, value: Any) -> Any:
    """A neutral value of the expected type, keeping what a scalar said where it can."""
    options = _options(annotation)
    if type(None) in options or annotation is Any:
        return None
    first = options[0]
    if typing.get_origin(first) is Literal:
        return typing.get_args(first)[0]
    if first is str:
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, (int, float)) else ""
    if typing.get_origin(first) is list:
        (item,) = typing.get_args(first) or (Any,)
        return [value] if item is str and isinstance(value, str) else []
    if typing.get_origin(first) is dict or (
        isinstance(first, type) and issubclass(first, BaseModel)
    ):
        return {}
    return {bool: False, int: 0, float: 0.0}.get(first)


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _replace(data: Any, path: FieldPath, value: Any) -> None:
    if not path:
        return
    parent, key = _at(data, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list) and isinstance(key, int):
        parent[key : key + 1] = [value]


__all__ = ["annotation_at", "placeholder", "real_path", "repaired"]
