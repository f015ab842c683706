"""Checks on a declarative connector spec that span keys: placeholders that name variables,
batch writes that say where their results are, orders that paging can keep, credentials only
from the environment (docs/connectors.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from consent_sync.config.declarative import Stream, WriteSpec
from consent_sync.config.declarative_templates import path_placeholders
from consent_sync.config.env import is_reference
from consent_sync.config.errors import ConfigIssue
from consent_sync.config.yaml_source import Loc, YamlDocument

#: Header names that carry credentials: their values must come from the environment.
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|passw|signature|cookie", re.IGNORECASE)


class _Field(Protocol):
    @property
    def pushes(self) -> bool: ...


class _Object(Protocol):
    @property
    def fields(self) -> Mapping[str, _Field]: ...


class ObjectsMapping(Protocol):
    """What the mapping check reads of `mappings/<system>.yaml`."""

    @property
    def objects(self) -> Mapping[str, _Object]: ...


class DeclarativeSettings(Protocol):
    """What the checks read of a `type: declarative` connector's settings."""

    @property
    def vars(self) -> Mapping[str, str]: ...
    @property
    def streams(self) -> Mapping[str, Stream]: ...


def check_declarative(doc: YamlDocument, spec: DeclarativeSettings) -> list[ConfigIssue]:
    """Every cross-key problem of one declarative connector file."""
    issues = [doc.issue(loc, message) for loc, message in _header_problems(doc.data)]
    for name, stream in spec.streams.items():
        at: Loc = ("streams", name)
        for loc, path, allow_id in _paths(stream):
            for placeholder in path_placeholders(path):
                if placeholder == "id" and allow_id:
                    continue
                if placeholder not in spec.vars:
                    known = ", ".join(sorted(spec.vars)) or "none are defined"
                    where = (
                        "" if placeholder != "id" else " ({id} is only for read and write paths)"
                    )
                    issues.append(
                        doc.issue(
                            (*at, *loc),
                            f"path placeholder {{{placeholder}}} is not a variable of vars "
                            f"({known}){where}",
                        )
                    )
        if stream.order == "ascending" and stream.paginator.type in ("offset", "page_number"):
            issues.append(
                doc.issue(
                    (*at, "order"),
                    f"order ascending cannot be paged by {stream.paginator.type}: a record "
                    "changed while it is read moves behind the offset and pushes an unread "
                    "one in front of it; list newest first (order: descending)",
                )
            )
        if stream.write is not None:
            issues += [
                doc.issue((*at, "write", *loc), m) for loc, m in _write_problems(stream.write)
            ]
    return issues


def check_declarative_mapping(
    doc: YamlDocument, mapping: ObjectsMapping, streams: Mapping[str, Stream]
) -> list[ConfigIssue]:
    """A mapping's objects must be streams, and a pushed field needs a stream that writes."""
    issues: list[ConfigIssue] = []
    for name, obj in mapping.objects.items():
        stream = streams.get(name)
        if stream is None:
            known = ", ".join(sorted(streams))
            issues.append(
                doc.issue(("objects", name), f"{name} is not a stream of the connector ({known})")
            )
            continue
        if stream.write is not None:
            continue
        for field_name, field in obj.fields.items():
            if field.pushes:
                issues.append(
                    doc.issue(
                        ("objects", name, "fields", field_name),
                        f"stream {name} has no write: {field_name} cannot be pushed; "
                        "set direction: pull or add write to the stream",
                    )
                )
    return issues


def _paths(stream: Stream) -> Iterator[tuple[Loc, str, bool]]:
    """Every templated path of a stream: where it is written, the path, whether `{id}` fits."""
    yield ("path",), stream.path, False
    if stream.read is not None:
        yield ("read", "path"), stream.read.path, True
    if stream.write is not None:
        yield ("write", "path"), stream.write.path, True
        if stream.write.request is not None:
            yield ("write", "request", "path"), stream.write.request.path, True
    if stream.describe is not None and stream.describe.endpoint is not None:
        yield ("describe", "endpoint", "path"), stream.describe.endpoint.path, False


def _write_problems(write: WriteSpec) -> Iterator[tuple[Loc, str]]:
    per_record = "{id}" in write.path
    if write.format == "odata_batch":
        if per_record:
            yield ("path",), "an odata_batch write posts to the $batch path, which has no {id}"
        if write.request is None:
            yield (), "format odata_batch needs request: {method, path with {id}}"
        elif "{id}" not in write.request.path:
            yield ("request", "path"), "each request of an odata_batch needs {id} in its path"
        if write.results is not None:
            yield ("results",), "an odata_batch answers per request; results is not used"
        return
    if write.request is not None or write.changeset:
        yield ("format",), "request and changeset are only used by format: odata_batch"
    if per_record:
        if write.max_items != 1:
            yield ("max_items",), "a path with {id} writes one record per request: max_items 1"
        if write.results is not None:
            yield ("results",), "a per-record write is judged by each answer; results is unused"
        return
    if write.results is None:
        yield (), "a batch write (no {id} in its path) needs results: where each item's outcome is"
        return
    results = write.results
    if results.ok and results.ok_key is None:
        yield ("results", "ok"), "results.ok needs ok_key: where an accepted item's key is"
    if results.errors is not None and results.error_key is None:
        yield ("results", "errors"), "results.errors needs error_key: where a failed item's key is"


def _header_problems(data: Any) -> Iterator[tuple[Loc, str]]:
    """Credential headers written as literals (a literal secret is never allowed)."""
    if not isinstance(data, dict):
        return
    for loc, headers in _header_blocks(data):
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if (
                isinstance(name, str)
                and _CREDENTIAL_HEADER.search(name)
                and isinstance(value, str)
                and not is_reference(value)
            ):
                yield (
                    (*loc, name),
                    f"header {name} carries a credential: it must be an ${{ENV_VAR}} reference, "
                    "not a literal (or use auth)",
                )


def _header_blocks(data: dict[Any, Any]) -> Iterator[tuple[Loc, Any]]:
    requester = data.get("requester")
    if isinstance(requester, dict):
        yield ("requester", "headers"), requester.get("headers")
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return
    for name, stream in streams.items():
        if not isinstance(stream, dict):
            continue
        yield ("streams", name, "headers"), stream.get("headers")
        incremental = stream.get("incremental")
        if isinstance(incremental, dict):
            yield ("streams", name, "incremental", "headers"), incremental.get("headers")
        for part in ("read", "write"):
            block = stream.get(part)
            if isinstance(block, dict):
                yield ("streams", name, part, "headers"), block.get("headers")
                request = block.get("request")
                if isinstance(request, dict):
                    yield ("streams", name, part, "request", "headers"), request.get("headers")
