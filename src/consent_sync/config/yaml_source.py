"""YAML with line numbers: every mapping key and sequence item remembers the line it was written on.

PyYAML's constructor drops positions and keeps the last of two duplicate keys; this walks the
composed node tree instead, so each value traces back to `file:line` and duplicates are caught.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from consent_sync.config.errors import ConfigIssue

Loc = tuple[Hashable, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"


def show_key(key: object) -> str:
    """A key as an admin wrote it: `true`, `null`, `'Opted In'`, `3`."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str):
        return repr(key)
    return str(key)


@dataclass
class LineIndex:
    """Line of every mapping key and sequence item, by its path from the document root."""

    root_line: int = 1
    lines: dict[Loc, int] = field(default_factory=dict)
    children: dict[Loc, list[Hashable]] = field(default_factory=dict)

    def add(self, parent: Loc, key: Hashable, line: int) -> None:
        self.lines[(*parent, key)] = line
        self.children.setdefault(parent, []).append(key)

    def resolve(self, loc: Sequence[object]) -> tuple[Loc, int]:
        """The deepest written path along `loc` and its line.

        `loc` may come from pydantic, which renders dict keys loosely (`True` as 1, `None` as
        "None", a date by its repr); each step prefers a key of the same type and value, then an
        equal one, then one that prints the same.
        """
        path: Loc = ()
        line = self.root_line
        for step in loc:
            key = self._child(path, step)
            if key is _MISSING:
                break
            path = (*path, key)
            line = self.lines[path]
        return path, line

    def _child(self, parent: Loc, step: object) -> Hashable:
        keys = self.children.get(parent, [])
        for match in (
            lambda k: type(k) is type(step) and k == step,
            lambda k: k == step,
            lambda k: str(k) == str(step),
            lambda k: repr(k) == str(step),
        ):
            for key in keys:
                if match(key):
                    return key
        return _MISSING


_MISSING: Hashable = object()


@dataclass
class YamlDocument:
    """One parsed file: plain Python data plus where each part of it was written."""

    path: Path
    data: Any
    index: LineIndex

    def issue(self, loc: Sequence[object], message: str) -> ConfigIssue:
        """An issue at the line of `loc` (or of its deepest ancestor that was written)."""
        return ConfigIssue(self.path, self.index.resolve(loc)[1], message)

    def line(self, loc: Sequence[object]) -> int:
        return self.index.resolve(loc)[1]


class _Builder:
    """Turns a composed node tree into plain data, recording lines and collecting issues."""

    def __init__(self, loader: yaml.SafeLoader, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.index = LineIndex()
        self.issues: list[ConfigIssue] = []

    def build(self, node: Node, loc: Loc, active: frozenset[int]) -> Any:
        if id(node) in active:
            self._issue(node, "an alias refers to itself; recursive structures are not allowed")
            return None
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node)
        inner = active | {id(node)}
        if isinstance(node, SequenceNode):
            items = []
            for position, item in enumerate(node.value):
                self.index.add(loc, position, _line(item))
                items.append(self.build(item, (*loc, position), inner))
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, loc, inner)
        self._issue(node, f"unsupported YAML node {type(node).__name__}")
        return None

    def _mapping(self, node: MappingNode, loc: Loc, active: frozenset[int]) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self.loader.construct_object(key_node)
            if key in first_line:
                self._issue(
                    key_node, f"duplicate key {show_key(key)} (first at line {first_line[key]})"
                )
            else:
                first_line[key] = _line(key_node)
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys; explicit keys come last
        out: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._issue(key_node, "mapping keys must be plain values, not lists or mappings")
                continue
            key = self.loader.construct_object(key_node)
            if not isinstance(key, Hashable):
                self._issue(key_node, "mapping keys must be plain values")
                continue
            if key not in out:
                self.index.add(loc, key, _line(key_node))
            else:
                self.index.lines[(*loc, key)] = _line(key_node)
            out[key] = self.build(value_node, (*loc, key), active)
        return out

    def _issue(self, node: Node, message: str) -> None:
        self.issues.append(ConfigIssue(self.path, _line(node), message))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def load_yaml(path: Path) -> tuple[YamlDocument | None, list[ConfigIssue]]:
    """Parse one YAML file; on a syntax error return no document and the error with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [ConfigIssue(path, None, "is not UTF-8 text")]
    except OSError as exc:
        return None, [ConfigIssue(path, None, f"cannot be read: {exc.strerror}")]
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, None, LineIndex()), []
        builder = _Builder(loader, path)
        builder.index.root_line = _line(node)
        data = builder.build(node, (), frozenset())
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(path, exc)]
    finally:
        loader.dispose()
    return YamlDocument(path, data, builder.index), builder.issues


def _syntax_issue(path: Path, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    # Only the problem: PyYAML's own rendering quotes the offending line, which may hold a secret.
    mark = exc.problem_mark or exc.context_mark
    line = int(mark.line) + 1 if mark is not None else None
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.problem.startswith("but "):
        problem = f"{exc.context}, {exc.problem}"  # PyYAML splits "expected X, but found Y"
    context = f" ({exc.context})" if exc.context and exc.context not in problem else ""
    return ConfigIssue(path, line, f"invalid YAML: {problem}{context}")
