"""What `validate --live` learns of a declarative stream's fields (docs/connectors.md,
"describe"): an endpoint's field definitions, fixed ones from the spec, or a sampled record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from consent_sync.config.declarative import DescribeEndpoint, Stream
from consent_sync.config.declarative_paths import MISSING
from consent_sync.config.declarative_templates import fill_path, render_value
from consent_sync.connectors.declarative.listing import Request, answers, first_params
from consent_sync.connectors.declarative.records import RecordReader
from consent_sync.connectors.declarative.transport import Transport
from consent_sync.domain.records import FieldInfo


def describe_stream(
    transport: Transport,
    object_type: str,
    stream: Stream,
    reader: RecordReader,
    vars: Mapping[str, str],
) -> list[FieldInfo]:
    """The stream's fields, under the system's names and the mapping's names."""
    spec = stream.describe
    found: dict[str, FieldInfo] = {}
    if spec is not None and spec.endpoint is not None:
        found = _from_endpoint(transport, object_type, spec.endpoint, vars)
    elif spec is None or not spec.fields:
        found = _from_sample(transport, object_type, stream, reader, vars)
    for field in reader.fields:
        if field.name not in found and field.path.simple and field.path.head in found:
            found[field.name] = replace(found[field.path.head], name=field.name)
    if spec is not None:
        for name, fixed in spec.fields.items():
            found[name] = FieldInfo(name, fixed.type, fixed.writable, tuple(fixed.options))
    return list(found.values())


def _from_endpoint(
    transport: Transport, object_type: str, endpoint: DescribeEndpoint, vars: Mapping[str, str]
) -> dict[str, FieldInfo]:
    params = render_value(endpoint.params, {"vars": dict(vars)})
    answer = transport.request(
        "GET",
        fill_path(endpoint.path, vars),
        params=params,
        listing=endpoint.records,
        object_type=object_type,
    )
    found: dict[str, FieldInfo] = {}
    for definition in endpoint.records.get(answer.body):
        name = endpoint.name.get(definition)
        if not isinstance(name, str) or not name:
            continue
        kind = endpoint.type.get(definition)
        writable = True
        if endpoint.writable is not None:
            writable = _truthy(endpoint.writable.get(definition))
        elif endpoint.read_only is not None:
            writable = not _truthy(endpoint.read_only.get(definition))
        options: tuple[str, ...] = ()
        if endpoint.options is not None:
            listed = endpoint.options.get(definition)
            if isinstance(listed, list):
                options = tuple(str(o) for o in listed if not isinstance(o, dict | list))
        found[name] = FieldInfo(
            name, str(kind) if kind is not MISSING else "unknown", writable, options
        )
    return found


def _from_sample(
    transport: Transport,
    object_type: str,
    stream: Stream,
    reader: RecordReader,
    vars: Mapping[str, str],
) -> dict[str, FieldInfo]:
    """Without a describe section, the listing's first record stands for the fields."""
    context = {"vars": dict(vars), "selected": reader.selected(), "page_size": None}
    params = {**render_value(stream.params, context), **first_params(stream.paginator)}
    first = Request(fill_path(stream.path, vars), params, dict(stream.headers))
    writable = stream.write is not None
    for _, items in answers(
        transport, stream.paginator, stream.records, first, object_type=object_type
    ):
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is None:
            return {}
        found = {str(k): FieldInfo(str(k), "unknown", writable) for k in sample}
        for field in reader.fields:
            if field.path.get(sample) is not MISSING:
                found.setdefault(field.name, FieldInfo(field.name, "unknown", writable))
        return found
    return {}


def _truthy(value: Any) -> bool:
    if isinstance(value, dict):  # Dataverse managed properties: {"Value": true, ...}
        value = value.get("Value")
    return value is True or (isinstance(value, str) and value.lower() == "true")
