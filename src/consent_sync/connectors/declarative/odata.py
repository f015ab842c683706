"""OData `$batch` in the multipart format (OData 4.0 part 1, §11.7; Dataverse Web API "Execute
batch operations"): building the request body and reading its response parts.

Independent requests (`Prefer: odata.continue-on-error`) are answered one part each, in order;
a change set's requests carry `Content-ID` 1..n and are answered inside a nested multipart part,
or, when the change set failed, by one error part.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

from consent_sync.errors import ConsentSyncError

_CRLF = "\r\n"
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class MalformedBatch(ConsentSyncError, ValueError):
    """A `$batch` response that does not parse as multipart parts of HTTP responses."""


@dataclass(frozen=True, slots=True)
class PartRequest:
    """One request of a batch: method, absolute URL, headers and JSON body."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class PartResponse:
    """One response part: its Content-ID (None outside a change set), status and JSON body."""

    content_id: str | None
    status: int
    body: Any


def batch_body(requests: Sequence[PartRequest], *, changeset: bool) -> tuple[str, bytes]:
    """The Content-Type and body of a `$batch` POST holding `requests`."""
    batch = f"batch_{uuid.uuid4().hex}"
    lines: list[str] = []
    if changeset:
        change = f"changeset_{uuid.uuid4().hex}"
        lines += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={change}", ""]
        for position, request in enumerate(requests, start=1):
            lines += [f"--{change}", *_part(request, str(position))]
        lines.append(f"--{change}--")
    else:
        for request in requests:
            lines += [f"--{batch}", *_part(request, None)]
    lines.append(f"--{batch}--")
    lines.append("")
    return f"multipart/mixed; boundary={batch}", _CRLF.join(lines).encode("utf-8")


def _part(request: PartRequest, content_id: str | None) -> list[str]:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        head.append(f"Content-ID: {content_id}")
    body = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False)
    headers = {"Content-Type": "application/json; type=entry"}
    for name, value in request.headers.items():  # the spec's own win, names without case
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    inner = [f"{request.method} {request.url} HTTP/1.1"]
    inner += [f"{name}: {value}" for name, value in headers.items()]
    return [*head, "", *inner, "", body]


def batch_responses(content_type: str, content: bytes) -> list[PartResponse]:
    """Every response part of a `$batch` answer, change sets flattened, in order."""
    boundary = _boundary(content_type)
    out: list[PartResponse] = []
    for headers, body in _parts(content, boundary):
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            for inner_headers, inner_body in _parts(body, _boundary(kind)):
                out.append(_response(inner_headers, inner_body))
        else:
            out.append(_response(headers, body))
    return out


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type or "")
    if match is None:
        raise MalformedBatch("the answer is not multipart (no boundary)")
    return match.group(1)


def _parts(content: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = content.split(delimiter)
    if len(chunks) < 2:
        raise MalformedBatch("the answer holds no part")
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        headers, body = _split_head(chunk.lstrip(b"\r\n"))
        parts.append((headers, body))
    return parts


def _split_head(chunk: bytes) -> tuple[dict[str, str], bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = chunk.partition(separator)
        if found:
            parsed = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
            return {k.lower(): v for k, v in parsed.items()}, body
    raise MalformedBatch("a part has no blank line after its headers")


def _response(headers: dict[str, str], raw: bytes) -> PartResponse:
    response = raw.lstrip(b"\r\n")
    status = _STATUS_LINE.match(response)
    if status is None:
        raise MalformedBatch("a part is not an HTTP response")
    body = b""
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, rest = response.partition(separator)
        if found:
            body = rest
            break
    text = body.strip()
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return PartResponse(headers.get("content-id"), int(status.group(1)), parsed)
