"""How much YAML one configuration file may hold, so that no file can stall or exhaust a process.

A configuration is a few kilobytes; these budgets are orders of magnitude above that and far
below what hurts (docs/design.md, "Configuration"):

- a file is read only up to `MAX_FILE_BYTES`; a larger one is refused before parsing;
- it may hold `MAX_VALUES` values once aliases and `<<` merges are expanded, which is what
  stops a "billion laughs" alias bomb (a few hundred bytes that expand to millions of values);
- it may nest `MAX_DEPTH` levels, aliases included, so parsing never hits Python's recursion
  limit;
- it may not contain control characters (NUL and the like), raw or as escapes.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Protocol

import yaml
from yaml.events import Event
from yaml.nodes import Node
from yaml.reader import ReaderError

from consent_sync.errors import ConsentSyncError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_VALUES = 20_000
MAX_DEPTH = 64

#: C0 controls other than tab, newline and carriage return; DEL; C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class YamlLimitError(ConsentSyncError):
    """A file exceeds a budget; `line` is where (None: the file as a whole)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_config_text(path: Path) -> str:
    """The file's text, never reading more than `MAX_FILE_BYTES` (+1 to tell it is larger).

    Raises YamlLimitError for a larger file, UnicodeDecodeError or OSError.
    """
    with path.open("rb") as stream:
        raw = stream.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise YamlLimitError(
            None,
            f"is larger than {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 2**20} MiB), the limit "
            "for a configuration file; is it the right file?",
        )
    return raw.decode("utf-8")


def control_character(text: str) -> str | None:
    """A description of the first control character in `text`, if it has one."""
    found = _CONTROL.search(text)
    return _describe(ord(found.group())) if found is not None else None


def reader_error(text: str, exc: ReaderError) -> YamlLimitError:
    """PyYAML's refusal of a character, at the line and column where it was written."""
    # A stand-in for the character: it may itself be one that splitlines() breaks lines at.
    lines = (text[: int(exc.position)] + "?").splitlines()
    character = exc.character if isinstance(exc.character, int) else 0
    return YamlLimitError(
        len(lines),
        f"column {len(lines[-1])}: {_describe(character)} is not allowed in a configuration file",
    )


def _describe(code: int) -> str:
    if unicodedata.category(chr(code)) != "Cc":
        return f"character U+{code:04X}"
    return f"control character U+{code:04X}{' (NUL)' if code == 0 else ''}"


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose more than `MAX_VALUES` nodes or `MAX_DEPTH`
    levels (its composer recurses once per level). It also remembers where each alias was
    written, which the node tree forgets: `alias_lines[(id(parent), position or id(key))]`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.alias_lines: dict[tuple[int, int], int] = {}
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, yaml.AliasEvent):
            if parent is not None and index is not None:  # None: an alias used as a key
                position = index if isinstance(index, int) else id(index)
                self.alias_lines[(id(parent), position)] = line_of(event.start_mark)
        else:
            self._nodes += 1
            if self._nodes > MAX_VALUES:
                raise too_many_values(line_of(event.start_mark), expanded=False)
        if self._depth >= MAX_DEPTH:
            raise too_deep(line_of(event.start_mark))
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class Budget:
    """What building one file's values has spent: values and nesting, aliases expanded.

    `alias_line` is where the outermost alias being expanded was written: an exceeded budget
    is reported there, at the alias that set it off, rather than deep inside what it repeats.
    """

    def __init__(self) -> None:
        self.values = 0
        self.alias_line: int | None = None

    def spend(self, node: Node, count: int = 1) -> None:
        """Count `count` more values built at `node`; raise once past `MAX_VALUES`."""
        self.values += count
        if self.values > MAX_VALUES:
            raise too_many_values(self.alias_line or line_of(node.start_mark))

    def check_level(self, node: Node, level: int) -> None:
        """Raise if `node` sits deeper than `MAX_DEPTH` (the document's root is level 1)."""
        if level > MAX_DEPTH:
            raise too_deep(self.alias_line or line_of(node.start_mark))


def too_many_values(line: int, *, expanded: bool = True) -> YamlLimitError:
    if not expanded:
        return YamlLimitError(
            line, f"more than {MAX_VALUES:,} values, the limit for a configuration file"
        )
    return YamlLimitError(
        line,
        f"more than {MAX_VALUES:,} values once aliases and merges are expanded, the limit for "
        "a configuration file (an alias bomb?)",
    )


def too_deep(line: int) -> YamlLimitError:
    return YamlLimitError(
        line, f"nested more than {MAX_DEPTH} levels deep (aliases included), the limit"
    )


class _Mark(Protocol):
    line: int  # 0-based, in PyYAML's pure-Python and libyaml marks alike


def line_of(mark: _Mark | None) -> int:
    """The 1-based line of a PyYAML position."""
    return int(mark.line) + 1 if mark is not None else 1
