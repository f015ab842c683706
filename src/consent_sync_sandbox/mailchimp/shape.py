"""`fields` and `exclude_fields`: the parts of an answer a caller asked for (dot notation).

`fields=members.email_address,members.status,total_items` keeps only those; a name that is an
object or an array of objects keeps all of it; inside an array each element is filtered alike.
`exclude_fields` removes the named parts instead. Both take comma-separated lists, as the
Marketing API documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Query

#: A `fields` / `exclude_fields` query parameter, repeated or comma-separated.
Paths = Annotated[list[str] | None, Query()]
_Tree = dict[str, "_Tree"]


def _tree(paths: Iterable[str]) -> _Tree:
    root: _Tree = {}
    for path in paths:
        node = root
        parts = [p for p in path.strip().split(".") if p]
        for index, part in enumerate(parts):
            if index == len(parts) - 1:
                node[part] = {}  # a leaf keeps (or drops) everything below it
            else:
                child = node.get(part)
                if child == {} and part in node:
                    break  # an ancestor is already kept whole
                node = node.setdefault(part, {})
    return root


def split(values: Iterable[str] | None) -> list[str]:
    """Query values as given (repeated, or comma-separated) as one list of paths."""
    return [p for value in values or () for p in value.split(",") if p.strip()]


def _keep(value: Any, tree: _Tree) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_keep(item, tree) for item in value]
    if isinstance(value, dict):
        return {k: _keep(v, tree[k]) for k, v in value.items() if k in tree}
    return value


def _drop(value: Any, tree: _Tree) -> Any:
    if isinstance(value, list):
        return [_drop(item, tree) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key not in tree:
                out[key] = item
            elif tree[key]:
                out[key] = _drop(item, tree[key])
        return out
    return value


def shape(body: dict[str, Any], fields: list[str], exclude: list[str]) -> dict[str, Any]:
    """`body` with only `fields` (when given), then without `exclude`."""
    if fields:
        body = _keep(body, _tree(fields))
    if exclude:
        body = _drop(body, _tree(exclude))
    return body
