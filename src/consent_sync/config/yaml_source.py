"""YAML with line numbers: every mapping key and sequence item remembers the line it was written on.

PyYAML's constructor drops positions and keeps the last of two duplicate keys; this walks the
composed node tree instead, so each value traces back to `file:line` and duplicates are caught.
Every file is read within the budgets of yaml_limits (size, values, depth, characters).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from consent_sync.config.errors import ConfigIssue
from consent_sync.config.yaml_limits import (
    BoundedLoader,
    Budget,
    YamlLimitError,
    control_character,
    read_config_text,
    reader_error,
)

Loc = tuple[Hashable, ...]
_Pair = tuple[Node, Node, int | None]  # key, value, line of the alias it came through
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
    keys: dict[Loc, Hashable] = field(default_factory=dict)  # each path's key as written

    def add(self, parent: Loc, key: Hashable, line: int) -> None:
        path = (*parent, key)
        self.lines[path] = line
        self.keys.setdefault(path, key)
        self.children.setdefault(parent, []).append(key)

    def resolve(self, loc: Sequence[object]) -> tuple[Loc, int]:
        """The deepest written path along `loc` and its line.

        `loc` may come from pydantic, which renders dict keys loosely (`True` as 1, `None` as
        "None", a date by its repr); each step prefers a key of the same type and value, then an
        equal one, then one that prints the same.
        """
        path: Loc = ()
        line = self.root_line
        steps = list(loc)
        for position, step in enumerate(steps):
            key = self._child(path, step)
            if key is _MISSING:
                # A step pydantic adds that the file does not hold (the tag of a tagged union,
                # `auth.basic.password`) is passed over when the next one is written there.
                ahead = steps[position + 1] if position + 1 < len(steps) else _MISSING
                if ahead is not _MISSING and self._child(path, ahead) is not _MISSING:
                    continue
                break
            path = (*path, key)
            line = self.lines[path]
        return path, line

    def _child(self, parent: Loc, step: object) -> Hashable:
        written = self.keys.get((*parent, step), _MISSING) if isinstance(step, Hashable) else None
        if type(written) is type(step):  # the common case, without walking a large mapping
            return written
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
    """Turns a composed node tree into plain data, recording lines and collecting issues.

    It expands aliases and `<<` merges itself, within the file's `Budget` (yaml_limits).
    """

    def __init__(self, loader: BoundedLoader, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.index = LineIndex()
        self.issues: list[ConfigIssue] = []
        self.budget = Budget()

    def build(self, node: Node, loc: Loc, active: frozenset[int]) -> Any:
        self.budget.spend(node)
        self.budget.check_level(node, len(loc) + 1)
        if id(node) in active:
            self._issue(node, "an alias refers to itself; recursive structures are not allowed")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        inner = active | {id(node)}
        if isinstance(node, SequenceNode):
            items = []
            for position, item in enumerate(node.value):
                alias_line = self.loader.alias_lines.get((id(node), position))
                self.index.add(loc, position, alias_line or _line(item))
                items.append(self.within(alias_line, item, (*loc, position), inner))
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, loc, inner)
        self._issue(node, f"unsupported YAML node {type(node).__name__}")
        return None

    def within(self, alias_line: int | None, node: Node, loc: Loc, active: frozenset[int]) -> Any:
        """`build`, charging the budget to the alias written at `alias_line` if it is the
        outermost alias being expanded."""
        if alias_line is None:
            return self.build(node, loc, active)
        outer = self.budget.alias_line
        self.budget.alias_line = outer or alias_line
        try:
            return self.build(node, loc, active)
        finally:
            self.budget.alias_line = outer

    def _scalar(self, node: ScalarNode) -> Any:
        try:
            value = self.loader.construct_object(node)
        except (ValueError, ArithmeticError, AttributeError, TypeError) as exc:
            # `2026-13-45` reads as a date, 5,000 digits as a number, neither converts; PyYAML's
            # converters fail in assorted ways on an explicit `!!timestamp x`. The value itself
            # is not repeated: it may be anything, a secret included.
            kind = str(node.tag).rsplit(":", 1)[-1]
            reason = f" ({exc})" if kind == "timestamp" and isinstance(exc, ValueError) else ""
            self._issue(node, f"cannot be read as a YAML {kind}{reason}; quote it if it is text")
            return None
        if isinstance(value, str) and (found := control_character(value)) is not None:
            self._issue(node, f"contains a {found}; configuration text cannot hold one")
            return None
        return value

    def _mapping(self, node: MappingNode, loc: Loc, active: frozenset[int]) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self._scalar(key_node)
            if key in first_line:
                self._issue(
                    key_node, f"duplicate key {show_key(key)} (first at line {first_line[key]})"
                )
            else:
                first_line[key] = _line(key_node)
        out: dict[Hashable, Any] = {}
        for key_node, value_node, alias_line in self._pairs(node, len(loc) + 1, active):
            if not isinstance(key_node, ScalarNode):
                self._issue(key_node, "mapping keys must be plain values, not lists or mappings")
                continue
            key = self._scalar(key_node)
            if not isinstance(key, Hashable):
                self._issue(key_node, "mapping keys must be plain values")
                continue
            if key not in out:
                self.index.add(loc, key, _line(key_node))
            else:
                self.index.lines[(*loc, key)] = _line(key_node)
            out[key] = self.within(alias_line, value_node, (*loc, key), active)
        return out

    def _pairs(self, node: MappingNode, level: int, active: frozenset[int]) -> list[_Pair]:
        """The mapping's pairs with `<<` merges applied, ordered so that a later pair wins as the
        merge-key spec says: merged pairs (the first of several merged mappings last), then the
        explicit keys. Unlike PyYAML's `flatten_mapping`, this leaves the nodes as they are
        (PyYAML's mutation makes a mapping merged twice come out differently) and stays within
        the budget.

        Each pair carries the line of the outermost alias it was reached through, if any.
        """
        aliases = self.loader.alias_lines
        merged: list[_Pair] = []
        explicit: list[_Pair] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                explicit.append((key_node, value_node, aliases.get((id(node), id(key_node)))))
                continue
            many = isinstance(value_node, SequenceNode)
            sources = list(enumerate(value_node.value)) if many else [(id(key_node), value_node)]
            for position, source in reversed(sources):
                if not isinstance(source, MappingNode):
                    expected = "a mapping" if many else "a mapping or list of mappings"
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"expected {expected} for merging, but found {source.id}",
                        source.start_mark,
                    )
                if id(source) in active:
                    self._issue(source, "a merge refers to a mapping it is in; not allowed")
                    continue
                where = aliases.get((id(value_node) if many else id(node), position))
                outer = self.budget.alias_line
                self.budget.alias_line = outer or where
                try:
                    self.budget.check_level(source, level + 1)
                    pairs = self._pairs(source, level + 1, active | {id(source)})
                    self.budget.spend(source, len(pairs))
                finally:
                    self.budget.alias_line = outer
                merged.extend((key, value, where or line) for key, value, line in pairs)
        return merged + explicit

    def _issue(self, node: Node, message: str) -> None:
        self.issues.append(ConfigIssue(self.path, _line(node), message))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def load_yaml(path: Path) -> tuple[YamlDocument | None, list[ConfigIssue]]:
    """Parse one YAML file within the limits of yaml_limits; on a syntax error or an exceeded
    limit return no document and the error with its line."""
    try:
        text = read_config_text(path)
        loader = BoundedLoader(text)
    except YamlLimitError as exc:
        return None, [ConfigIssue(path, exc.line, exc.message)]
    except ReaderError as exc:  # PyYAML checks every character before parsing any
        refused = reader_error(text, exc)
        return None, [ConfigIssue(path, refused.line, refused.message)]
    except UnicodeDecodeError:
        return None, [ConfigIssue(path, None, "is not UTF-8 text")]
    except OSError as exc:
        return None, [ConfigIssue(path, None, f"cannot be read: {exc.strerror}")]
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, None, LineIndex()), []
        builder = _Builder(loader, path)
        builder.index.root_line = _line(node)
        data = builder.build(node, (), frozenset())
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_issue(path, exc)]
    except YamlLimitError as exc:
        return None, [ConfigIssue(path, exc.line, exc.message)]
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
