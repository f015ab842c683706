"""`POST $batch`: OData multipart/mixed batches of up to 1,000 requests, with change sets.

As documented for the Dataverse Web API: requests run in order and their responses come back
in order (a request part's `Content-ID` is echoed on its response part). Without
`Prefer: odata.continue-on-error`, the first failing request ends the batch, which then
answers with that request's status. A change set (a nested multipart/mixed part whose
requests each carry a `Content-ID`) is atomic: if one of its requests fails, none of them
stays applied and the change set answers with that one failure. `GET` is not allowed inside
a change set; `$1`-style references name what an earlier request in the change set created.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from consent_sync_sandbox.dynamics.errors import INVALID_ARGUMENT, DataverseError, bad_request
from consent_sync_sandbox.dynamics.operations import ApiResponse, ContactsApi
from consent_sync_sandbox.dynamics.query import Prefer
from consent_sync_sandbox.dynamics.routes import api_root, prefer_of, root_url
from consent_sync_sandbox.dynamics.store import ContactStore

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
_CONTACTS = re.compile(r"/api/data/v(?P<version>[^/]+)/contacts(?:\((?P<key>[^)]*)\))?")


@dataclass
class _Part:
    headers: dict[str, str]
    body: str


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    body: str
    content_id: str | None


@dataclass
class _ChangeSet:
    requests: list[_Request] = field(default_factory=list)


def _split(body: str, boundary: str) -> list[_Part]:
    """The parts between `--boundary` lines (up to `--boundary--`), headers parsed."""
    parts: list[_Part] = []
    current: list[str] | None = None
    for line in body.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == f"--{boundary}--":
            break
        if line.rstrip() == f"--{boundary}":
            if current is not None:
                parts.append(_mime(current))
            current = []
        elif current is not None:
            current.append(line)
    else:
        raise bad_request("The batch request body is not terminated by its closing boundary.")
    if current is not None:
        parts.append(_mime(current))
    return parts


def _mime(lines: list[str]) -> _Part:
    headers: dict[str, str] = {}
    index = 0
    while index < len(lines) and lines[index].strip():
        name, _, value = lines[index].partition(":")
        headers[name.strip().lower()] = value.strip()
        index += 1
    return _Part(headers, "\n".join(lines[index + 1 :]))


def _request(part: _Part) -> _Request:
    if "application/http" not in part.headers.get("content-type", ""):
        raise bad_request("Each batch part must have Content-Type: application/http.")
    lines = part.body.split("\n")
    start = lines[0].split()
    if len(start) < 2:
        raise bad_request(f"The batch part's request line '{lines[0]}' is not valid.")
    headers: dict[str, str] = {}
    index = 1
    while index < len(lines) and lines[index].strip():
        name, _, value = lines[index].partition(":")
        headers[name.strip().lower()] = value.strip()
        index += 1
    body = "\n".join(lines[index + 1 :]).strip()
    return _Request(start[0].upper(), start[1], headers, body, part.headers.get("content-id"))


def parse_batch(content_type: str, body: str) -> list[_Request | _ChangeSet]:
    """The batch's items in order: single requests and change sets."""
    match = _BOUNDARY.search(content_type)
    if "multipart/mixed" not in content_type.lower() or match is None:
        raise bad_request("A batch request must have Content-Type multipart/mixed with a boundary.")
    items: list[_Request | _ChangeSet] = []
    for part in _split(body, match.group(1)):
        inner = _BOUNDARY.search(part.headers.get("content-type", ""))
        if "multipart/mixed" in part.headers.get("content-type", "") and inner is not None:
            changeset = _ChangeSet([_request(p) for p in _split(part.body, inner.group(1))])
            for item in changeset.requests:
                if item.content_id is None:
                    raise bad_request("Content-ID header not present in a change set request.")
                if item.method == "GET":
                    raise bad_request("GET requests are not allowed within change sets.")
            items.append(changeset)
        else:
            items.append(_request(part))
    count = sum(len(i.requests) if isinstance(i, _ChangeSet) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise DataverseError(
            400,
            INVALID_ARGUMENT,
            f"The batch contains {count} requests; a batch may contain at most {MAX_REQUESTS}.",
        )
    return items


class BatchRunner:
    """Runs parsed batch items against the contacts operations."""

    def __init__(self, contacts: ContactsApi, store: ContactStore, base_url: str) -> None:
        self.contacts = contacts
        self.store = store
        self.base_url = base_url

    def execute(self, item: _Request, references: dict[str, str]) -> ApiResponse:
        """One request of the batch (raises `DataverseError` when it fails)."""
        url = item.url
        if url.startswith("$"):
            name, _, rest = url[1:].partition("/")
            if name not in references:
                raise bad_request(
                    f"Content-ID Reference: '${name}' does not exist in the batch context."
                )
            url = references[name] + (f"/{rest}" if rest else "")
        split = urlsplit(url)
        path = split.path if split.path.startswith("/") else f"/api/data/v9.2/{split.path}"
        match = _CONTACTS.fullmatch(path)
        if match is None:
            raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        root = root_url(self.base_url, match.group("version"))
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        prefer = Prefer.parse([item.headers["prefer"]] if "prefer" in item.headers else [])
        body = json.loads(item.body) if item.body else None
        key = match.group("key")
        if key is None and item.method == "GET":
            return self.contacts.query(root, params, prefer)
        if key is None and item.method == "POST":
            return self.contacts.create(root, body, prefer)
        if key is not None and item.method == "GET":
            return self.contacts.retrieve(root, key, params, item.headers.get("if-none-match"))
        if key is not None and item.method == "PATCH":
            return self.contacts.update(
                root, key, body, if_match=item.headers.get("if-match"), prefer=prefer, in_batch=True
            )
        if key is not None and item.method == "DELETE":
            return self.contacts.delete(key)
        raise DataverseError(405, "0x80060888", f"{item.method} is not supported on {path}.")

    def run(self, items: list[_Request | _ChangeSet], prefer: Prefer) -> tuple[int, str, str]:
        """Run every item: the batch's status, its response boundary and multipart body."""
        boundary = f"batchresponse_{uuid.uuid4()}"
        chunks: list[str] = []
        status = 200
        for item in items:
            if isinstance(item, _ChangeSet):
                failed, text = self._changeset(item)
            else:
                answer = self._guarded(item)
                failed = answer.status >= 400
                text = _part(answer, item.content_id)
            chunks.append(f"--{boundary}\r\n{text}")
            if failed and not prefer.continue_on_error:
                status = _status_of(text)
                break
        return status, boundary, "".join(chunks) + f"--{boundary}--\r\n"

    def _changeset(self, changeset: _ChangeSet) -> tuple[bool, str]:
        references: dict[str, str] = {}
        answers: list[tuple[ApiResponse, str | None]] = []
        failing: _Request | None = None
        try:
            with self.store.transaction():
                for request in changeset.requests:
                    failing = request
                    answer = self.execute(request, references)
                    entity = answer.headers.get("OData-EntityId")
                    if entity and request.content_id:
                        references[request.content_id] = entity
                    answers.append((answer, request.content_id))
        except (DataverseError, json.JSONDecodeError) as exc:
            error = _as_error(exc)
            content_id = failing.content_id if failing is not None else None
            return True, _part(ApiResponse(error.status, error.body), content_id)
        inner = f"changesetresponse_{uuid.uuid4()}"
        body = "".join(f"--{inner}\r\n{_part(a, cid)}" for a, cid in answers)
        return False, (
            f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{body}--{inner}--\r\n"
        )

    def _guarded(self, item: _Request) -> ApiResponse:
        try:
            return self.execute(item, {})
        except (DataverseError, json.JSONDecodeError) as exc:
            error = _as_error(exc)
            return ApiResponse(error.status, error.body)


def _as_error(exc: Exception) -> DataverseError:
    if isinstance(exc, DataverseError):
        return exc
    return bad_request("Invalid JSON. The request body is not a valid JSON document.")


def _part(answer: ApiResponse, content_id: str | None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    lines = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}", "OData-Version: 4.0"]
    if answer.body is not None:
        lines.append("Content-Type: application/json; odata.metadata=minimal")
    lines += [f"{k}: {v}" for k, v in answer.headers.items()]
    payload = json.dumps(answer.body) if answer.body is not None else ""
    return f"{head}\r\n" + "\r\n".join(lines) + f"\r\n\r\n{payload}\r\n"


def _status_of(part: str) -> int:
    match = re.search(r"HTTP/1\.1 (\d{3})", part)
    return int(match.group(1)) if match else 500


def batch_router(contacts: ContactsApi, store: ContactStore) -> APIRouter:
    """`POST /api/data/v9.x/$batch`."""
    router = APIRouter()

    @router.post("/api/data/v{version}/$batch")
    async def batch(request: Request, version: str) -> Response:
        api_root(request, version)
        text = (await request.body()).decode("utf-8", errors="replace")
        items = parse_batch(request.headers.get("content-type", ""), text)
        runner = BatchRunner(contacts, store, str(request.base_url))
        status, boundary, body = runner.run(items, prefer_of(request))
        headers = {"OData-Version": "4.0"}
        if prefer_of(request).continue_on_error:
            headers["Preference-Applied"] = "odata.continue-on-error"
        return Response(
            body,
            status_code=status,
            media_type=f"multipart/mixed; boundary={boundary}",
            headers=headers,
        )

    return router
