"""Read YAML files into plain data while remembering where each field came from.

PyYAML's `safe_load` forgets line numbers, and errors that cannot name a line are hard
to act on. Here each document is composed into nodes first: the nodes give a line for
every field path, then the same nodes are constructed into ordinary Python data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Issue, Severity

FieldPath = tuple[str | int, ...]
# libyaml's loader keeps the same marks (lines) and is ~10x faster on large manifests.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def format_path(path: FieldPath) -> str:
    """`("spec", "stages", 1, "inputs", 0, "name")` -> `spec.stages[1].inputs[0].name`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Document:
    """One YAML document of a file, with a line number for each field path."""

    file: str
    index: int
    data: Any
    line: int
    lines: dict[FieldPath, int] = field(default_factory=dict, repr=False)

    def line_of(self, path: FieldPath) -> int:
        """Line of the deepest known prefix of `path` (a missing field points at its parent)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.line


def _record_lines(
    node: yaml.Node,
    path: FieldPath,
    lines: dict[FieldPath, int],
    issues: list[Issue],
    file: str,
    active: set[int],
) -> None:
    """Walk the node tree, noting each path's line and any duplicate mapping key."""
    lines[path] = node.start_mark.line + 1
    if id(node) in active:  # a recursive alias: its lines are already known
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_seen:
                issues.append(
                    Issue(
                        Severity.ERROR,
                        f"duplicate key '{key}' (first on line {first_seen[key]})",
                        file,
                        line,
                        format_path((*path, key)),
                        "YAML keeps only the last value of a repeated key: remove one of them",
                    )
                )
            first_seen.setdefault(key, line)
            _record_lines(value_node, (*path, key), lines, issues, file, active)
            lines[path + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, issues, file, active)
    active.discard(id(node))


def read_documents(text: str, file: str) -> tuple[list[Document], list[Issue]]:
    """Parse every document of `text`; syntax errors become issues, never exceptions."""
    documents: list[Document] = []
    issues: list[Issue] = []
    loader: yaml.SafeLoader | None = None
    index = 0
    try:
        loader = _SafeLoader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[FieldPath, int] = {}
            _record_lines(node, (), lines, issues, file, set())
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(file, index, data, node.start_mark.line + 1, lines))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        issues.append(
            Issue(
                Severity.ERROR,
                f"invalid YAML: {problem}",
                file,
                line,
                hint="fix the YAML syntax at this line (indentation, quotes, ':')",
            )
        )
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ESC, ...)
        line = text.count("\n", 0, exc.position) + 1
        issues.append(
            Issue(
                Severity.ERROR,
                f"invalid YAML: character {exc.character!r} is not allowed",
                file,
                line,
                hint="remove the control character (the file may not be text)",
            )
        )
    except yaml.YAMLError as exc:
        issues.append(
            Issue(Severity.ERROR, f"invalid YAML: {exc}", file, hint="fix the YAML syntax")
        )
    finally:
        if loader is not None:
            loader.dispose()
    return documents, issues


def iter_yaml_files(root: str) -> Iterator[str]:
    """Every `*.yaml`/`*.yml` below `root`, sorted, skipping hidden folders and our config."""
    import os

    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and name not in CONFIG_FILE_NAMES:
                yield os.path.join(folder, name)


CONFIG_FILE_NAMES = ("unip-kfp.yaml", "unip-kfp.yml")
