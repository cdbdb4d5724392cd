r"""JSON Schema pieces of the models (`json_schema_extra`): patterns that accept exactly
what validation accepts, and the few shapes pydantic cannot infer.

A schema meets two regex dialects: ECMA-262 in editors and Python's `re` in the jsonschema
library. Two things differ between them and matter here: Python's `$` also matches before
a final newline (so `"500m\n"` would pass), and inline flags such as `(?i)` are not ECMA.
So the end of input is written `(?![\s\S])` and case-insensitive words spell both cases.
The rules themselves live in `naming.py` and `checks/pipeline_rules.py`; tests/test_schema.py
checks that each pattern here agrees with them.
"""

from __future__ import annotations

from typing import Any

from pydantic.config import JsonDict

END = r"(?![\s\S])"


def either_case(word: str) -> str:
    """`ab_` -> `[Aa][Bb]_`: a case-insensitive spelling without flags."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


NOT_BLANK = r"\S"
DNS1123_LABEL = "^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?" + END
ENV_NAME = "^(?!" + either_case("UNIP_PIPELINE_") + ")[A-Za-z_][A-Za-z0-9_]*" + END
CPU_QUANTITY = r"^(?:[0-9]*[.])?[0-9]+m?" + END
MEMORY_QUANTITY = "^[0-9]+(?:Ei|E|Pi|P|Ti|T|Gi|G|Mi|M|Ki|K)?" + END
ACCELERATOR_COUNT = "^0*[1-9][0-9]*" + END
_DOTDOT_SEGMENT = r"(?:^|/)\.\.(?:/|" + END + ")"
ABSOLUTE_PATH = r"^(?![\s\S]*" + _DOTDOT_SEGMENT + ")/"
BOX_PATH = r"^(?!/)(?![\s\S]*" + _DOTDOT_SEGMENT + ")"

# Stage names whose KFP task name (naming.task_name) is reserved (task_keys.RESERVED_TASK):
# kfp's own task names, and `root`, `executor`, `<anything>-driver` (KFP 2.17's own steps).
# task_name lower-cases and turns every run of other characters into one '-'.
_EDGE = "[^A-Za-z0-9]*"
_SEP = "(?:-|[^-A-Za-z0-9]+)"
_RESERVED_WORDS = ("condition-branches", "importer", "condition", "for-loop", "exit-handler")
_ARGO_WORDS = ("root", "executor")
RESERVED_STAGE = (
    f"^{_EDGE}(?:(?:"
    + "|".join(_SEP.join(either_case(part) for part in w.split("-")) for w in _RESERVED_WORDS)
    + f")(?:{_SEP}[0-9]+)?|"
    + "|".join(either_case(w) for w in _ARGO_WORDS)
    + f"|[\\s\\S]*[A-Za-z0-9][^A-Za-z0-9]+{either_case('driver')}){_EDGE}{END}"
)

# unip-kfp.yaml: keys that would hold credentials (config._CREDENTIAL_KEYS, '-' as '_').
CREDENTIAL_KEY = (
    "^(?:"
    + "|".join(
        "[-_]".join(either_case(part) for part in word.split("_"))
        for word in ("accesskey", "secretkey", "access_key", "secret_key", "password", "token")
    )
    + ")"
    + END
)

BOX_PATH_DOC = (
    "Path inside the box, relative to it (no leading '/', no '..'). What user USERNAME "
    "uploads through the file API as `myfolder/FILE.txt` is at "
    "`users/USERNAME/file_groups/myfolder/FILE.txt`."
)
ACCELERATORS: JsonDict = {
    "/": {
        "description": "An accelerator by its Kubernetes resource name (vendor/resource, e.g. "
        "nvidia.com/gpu): the number of devices.",
        "anyOf": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "pattern": ACCELERATOR_COUNT},
        ],
    }
}


def _described(description: str, **schema: Any) -> JsonDict:
    return {"description": description, **schema}


# `restfulApi` is opaque to unip-kfp (no warnings inside); its platform keys, for editors.
RESTFUL_API: JsonDict = {
    "properties": {
        "auth": _described(
            "Authentication of API calls.",
            properties={
                "basic": _described(
                    "Basic authentication.",
                    properties={
                        "credentials": _described(
                            "Name of the Secret with the credentials.", type="string"
                        ),
                        "identityPassThrough": _described(
                            "Pass the caller's identity on to the module.", type="boolean"
                        ),
                    },
                )
            },
        )
    }
}


def string_only(schema: dict[str, Any]) -> None:
    """A field the rules require as a string although the model allows None."""
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "string"


def quantity(pattern: str) -> Any:
    """A Kubernetes quantity: a string matching `pattern`, or a number >= 0."""

    def shape(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", []):
            if branch.get("type") == "string":
                branch["pattern"] = pattern
            elif branch.get("type") in ("integer", "number"):
                branch["minimum"] = 0

    return shape


def require(*names: str) -> Any:
    """Keys the validation rules require although the model gives them defaults."""

    def shape(schema: dict[str, Any]) -> None:
        schema["required"] = [*schema.get("required", []), *names]

    return shape


def or_bare_name(schema: dict[str, Any]) -> None:
    """`{name: x}`, or the bare name `x` (the loader accepts both)."""
    branches = schema.get("anyOf", [])
    branches.insert(len(branches) - 1, {"type": "string"})


def items_of(allowed: tuple[str, ...]) -> Any:
    """A list whose items are among `allowed`."""

    def shape(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", []):
            if branch.get("type") == "array":
                branch["items"] = {"enum": list(allowed)}

    return shape
