"""Records out: stored rows rendered as REST JSON, with the parent records of relationship paths.

A lookup is stored as the referenced row's sequence and served as its id. A selected path such
as `DataUsePurpose.Name` is served as Salesforce nests it, `{"DataUsePurpose": {"attributes":
..., "Name": "Email Marketing"}}`, or `"DataUsePurpose": null` when the lookup is empty (or names
a deleted record, outside queryAll).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent_sync_sandbox.salesforce.objects import target
from consent_sync_sandbox.salesforce.query import Selected
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    format_datetime,
    make_id,
)
from consent_sync_sandbox.salesforce.store import Row, Store

#: A row's parents by lookup path (reference field names from the queried object); None when
#: the lookup is empty or its record is hidden.
Parents = dict[tuple[str, ...], Row | None]


def record_url(spec: SObjectSpec, record_id: str, version: str) -> str:
    return f"/services/data/v{version}/sobjects/{spec.name}/{record_id}"


def present(field: FieldSpec, value: Any) -> Any:
    """A stored value as the API shows it: booleans, Salesforce datetimes, lookups as ids."""
    if field.type == "boolean":
        return bool(value)
    if value is None:
        return None
    if field.type == "datetime":
        return format_datetime(int(value))
    if field.type == "reference":
        return make_id(target(field).key_prefix, int(value))
    return value


def _attributes(spec: SObjectSpec, row: Row, version: str) -> dict[str, Any]:
    return {"attributes": {"type": spec.name, "url": record_url(spec, row["Id"], version)}}


def render(
    spec: SObjectSpec, row: Row, fields: Sequence[FieldSpec] | None, version: str
) -> dict[str, Any]:
    """A record as the REST API returns it: `attributes`, then the fields asked for."""
    record = _attributes(spec, row, version)
    for field in fields if fields is not None else spec.fields:
        record[field.name] = present(field, row[field.name])
    return record


def render_selected(
    spec: SObjectSpec, row: Row, selected: Sequence[Selected], parents: Parents, version: str
) -> dict[str, Any]:
    """A query result record: own fields flat, relationship paths nested under their lookups."""
    record = _attributes(spec, row, version)
    for item in selected:
        node, owner, source = record, spec, row
        path: tuple[str, ...] = ()
        for hop in item.hops:
            path = (*path, hop.name)
            parent = parents.get(path)
            owner = target(hop)
            if parent is None:
                node[hop.relationship] = None
                break
            if not isinstance(node.get(hop.relationship), dict):
                node[hop.relationship] = _attributes(owner, parent, version)
            node, source = node[hop.relationship], parent
        else:
            node[item.field.name] = present(item.field, source[item.field.name])
    return record


def parents_of(
    store: Store,
    spec: SObjectSpec,
    rows: Sequence[Row],
    selected: Sequence[Selected],
    *,
    include_deleted: bool,
) -> list[Parents]:
    """Each row's parent records along every selected path, read a level at a time in bulk."""
    found: list[Parents] = [{} for _ in rows]
    paths: dict[tuple[str, ...], FieldSpec] = {}
    for item in selected:
        for depth, hop in enumerate(item.hops, start=1):
            paths.setdefault(tuple(h.name for h in item.hops[:depth]), hop)
    for path, hop in sorted(paths.items(), key=lambda p: len(p[0])):
        sources = [
            row if len(path) == 1 else parents.get(path[:-1])
            for row, parents in zip(rows, found, strict=True)
        ]
        wanted = sorted(
            {int(s[hop.name]) for s in sources if s is not None and s[hop.name] is not None}
        )
        fetched = {
            r["Id"]: r
            for r in store.fetch(target(hop), wanted)
            if include_deleted or not r["IsDeleted"]
        }
        prefix = target(hop).key_prefix
        for source, parents in zip(sources, found, strict=True):
            value = None if source is None else source[hop.name]
            parents[path] = None if value is None else fetched.get(make_id(prefix, int(value)))
    return found


def stored_value(row: Row, parents: Parents, item: Selected) -> Any:
    """The stored value a selected path reaches from `row` (None past an empty lookup)."""
    if not item.hops:
        return row[item.field.name]
    parent = parents.get(tuple(hop.name for hop in item.hops))
    return None if parent is None else parent[item.field.name]


def render_rows(
    store: Store,
    spec: SObjectSpec,
    rows: Sequence[Row],
    selected: Sequence[Selected],
    version: str,
    *,
    include_deleted: bool,
) -> list[dict[str, Any]]:
    """Query result records for these rows, their relationship paths resolved."""
    parents = parents_of(store, spec, rows, selected, include_deleted=include_deleted)
    return [
        render_selected(spec, row, selected, p, version)
        for row, p in zip(rows, parents, strict=True)
    ]
