"""Record paths of declarative connector specs: where a value sits in a JSON answer
(docs/connectors.md, "Paths").

    members                      a key
    merge_fields.FNAME           a key inside a key
    @odata.nextLink              a key holding dots: the longest key present wins
    marketing_permissions[marketing_permission_id=abc123].enabled
                                 in a list, the item whose key holds that value
    errors[0].message            in a list, an item by position

Reading a path that is not there gives `MISSING`; writing a value at a path builds the nesting
it names (a `[key=value]` step becomes a list item holding that key), so a write body mirrors
what a read finds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consent_sync.errors import ConsentSyncError

__all__ = ["MISSING", "PathError", "RecordPath", "parse_path"]

_STEP = re.compile(r"\[(?:(?P<index>\d+)|(?P<key>[^\]=]+)=(?P<value>[^\]]*))\]")


class PathError(ConsentSyncError, ValueError):
    """A path that does not parse."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class _Select:
    """A list step: the item at `index`, or the first item whose `key` holds `value`."""

    index: int | None = None
    key: str | None = None
    value: str | None = None

    def pick(self, items: Sequence[Any]) -> Any:
        if self.index is not None:
            return items[self.index] if self.index < len(items) else MISSING
        for item in items:
            if isinstance(item, Mapping) and _same(item.get(self.key), self.value):
                return item
        return MISSING


_Step = tuple[str, ...] | _Select  # a run of dot-separated names, or a list step


@dataclass(frozen=True, slots=True)
class RecordPath:
    """A parsed path; `text` as written."""

    text: str
    steps: tuple[_Step, ...]

    @property
    def head(self) -> str:
        """The top-level key the path starts with (for `$select`-style field lists)."""
        first = self.steps[0] if self.steps else ()
        return first[0] if isinstance(first, tuple) and first else ""

    @property
    def simple(self) -> bool:
        """Whether the path is one top-level key."""
        return len(self.steps) == 1 and isinstance(self.steps[0], tuple) and len(self.steps[0]) == 1

    def get(self, data: Any) -> Any:
        """The value at this path in `data`, or `MISSING`."""
        if not self.steps:
            return data
        return _walk(data, self.steps)

    def put(self, target: dict[str, Any], value: Any) -> None:
        """Set `value` at this path in `target`, building the nesting the path names."""
        node: Any = target
        steps = [s for step in self.steps for s in ((step,) if isinstance(step, _Select) else step)]
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            if isinstance(step, _Select):
                if not isinstance(node, list):
                    raise PathError(f"{self.text}: a list step follows a key that is no list")
                item = step.pick(node) if step.key is not None else MISSING
                if item is MISSING:
                    item = {step.key: step.value} if step.key is not None else {}
                    node.append(item)
                node = item
                continue
            following = steps[position + 1] if not last else None
            if last:
                node[step] = value
            else:
                node = node.setdefault(step, [] if isinstance(following, _Select) else {})
        if steps and isinstance(steps[-1], _Select):
            raise PathError(f"{self.text}: a value cannot be written at a list step")


def parse_path(text: str) -> RecordPath:
    """Parse a path; `PathError` saying what is wrong. The empty path is the answer itself."""
    steps: list[_Step] = []
    names: list[str] = []
    position = 0
    expect_name = True
    while position < len(text):
        char = text[position]
        if char == "[":
            match = _STEP.match(text, position)
            if match is None:
                raise PathError("has a '[' that is not [<number>] or [<key>=<value>]")
            if names:
                steps.append(tuple(names))
                names = []
            elif not steps:
                raise PathError("must start with a key, not a list step")
            index = match.group("index")
            steps.append(
                _Select(index=int(index))
                if index is not None
                else _Select(key=match.group("key"), value=match.group("value"))
            )
            position = match.end()
            expect_name = False
            continue
        if char == ".":
            if expect_name:
                raise PathError("has an empty key (two dots, or a leading dot)")
            position += 1
            expect_name = True
            continue
        end = position
        while end < len(text) and text[end] not in ".[":
            end += 1
        if not expect_name:
            raise PathError("needs a '.' between a list step and the next key")
        names.append(text[position:end])
        position = end
        expect_name = False
    if text and expect_name:
        raise PathError("ends with a dot")
    if names:
        steps.append(tuple(names))
    return RecordPath(text, tuple(steps))


def _walk(data: Any, steps: Sequence[_Step]) -> Any:
    if not steps:
        return data
    step, rest = steps[0], steps[1:]
    if isinstance(step, _Select):
        if not isinstance(data, list):
            return MISSING
        found = step.pick(data)
        return MISSING if found is MISSING else _walk(found, rest)
    if not isinstance(data, Mapping):
        return MISSING
    # Keys may hold dots (`@odata.nextLink`): the longest run of names that is a key wins.
    for length in range(len(step), 0, -1):
        key = ".".join(step[:length])
        if key in data:
            remaining: list[_Step] = [step[length:]] if length < len(step) else []
            return _walk(data[key], [*remaining, *rest])
    return MISSING


def _same(found: object, wanted: str | None) -> bool:
    if isinstance(found, bool):
        return str(found).lower() == wanted
    return found is not None and str(found) == wanted
