"""HTTP-level edge cases no emulator produces on demand (respx): links to other hosts, listings
that shrink while read, batches refused as a whole, failed change sets, values that will not
parse, token endpoints that stumble."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from consent_sync.config import load_config
from consent_sync.connectors.declarative import DeclarativeConnector
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import PermanentError, TransientError
from consent_sync.domain.records import WHOLE_RECORD, FieldWrite
from support.config_files import ENV, write_config
from support.declarative_audience import FAST_RETRY

BASE = "https://api.example.test/v1"
SPEC = """\
type: declarative
auth: {type: bearer, token: "${TOKEN}"}
requester: {base_url: "https://api.example.test/v1"}
limits: {requests_per_second: 10000, timeout_seconds: 2}
streams:
  people:
    path: /people
    records: items
    id: id
    modified: updated
    order: descending
    paginator: PAGINATOR
    write: WRITE
"""
MAPPING = """\
system: api
objects:
  people:
    match: {email: email}
    fields:
      opt_out: {purpose: email_marketing, values: {true: denied, false: not_opted_out}}
"""
JSON_BATCH = (
    "{path: /people/batch, max_items: 100, body: {people: '{{ items }}'}, "
    "item: {id: '{{ id }}'}, results: {match: id, ok: [done], ok_key: id}}"
)
TOKEN = "tok-edge-Vb71"


def _connector(tmp_path: Path, paginator: str, write: str = JSON_BATCH) -> DeclarativeConnector:
    return _connector_from(tmp_path, SPEC, paginator, write)


def _connector_from(
    tmp_path: Path, spec: str, paginator: str, write: str = JSON_BATCH
) -> DeclarativeConnector:
    spec = spec.replace("PAGINATOR", paginator).replace("WRITE", write)
    root = write_config(
        tmp_path / "cfg",
        {
            "connectors/crm.yaml": None,
            "connectors/hub.yaml": None,
            "mappings/crm.yaml": None,
            "mappings/hub.yaml": None,
            "connectors/api.yaml": spec,
            "mappings/api.yaml": MAPPING,
        },
    )
    config = load_config(root, env={**ENV, "TOKEN": TOKEN})
    made = build_connector(config.connectors["api"], config.mappings["api"], retry=FAST_RETRY)
    assert isinstance(made, DeclarativeConnector)
    return made


def _person(n: int, stamp: str = "2026-03-01T10:00:00Z") -> dict[str, Any]:
    return {"id": f"p{n}", "email": f"p{n}@example.test", "opt_out": False, "updated": stamp}


@respx.mock
def test_a_next_link_to_another_host_is_not_followed(tmp_path: Path) -> None:
    """The token never travels: a link elsewhere is a permanent error, and nothing is sent."""
    connector = _connector(tmp_path, "{type: next_link, path: next}")
    respx.get(f"{BASE}/people").respond(
        json={"items": [_person(1)], "next": "https://elsewhere.example.test/steal"}
    )
    stolen = respx.get("https://elsewhere.example.test/steal").respond(json={"items": []})
    with pytest.raises(PermanentError, match="another host"):
        list(connector.pull("people", None))
    assert not stolen.called


@respx.mock
def test_an_offset_listing_that_shrinks_is_stepped_back(tmp_path: Path) -> None:
    """Two records vanish before the offset between pages: once the smaller total shows it, the
    listing is read again from two places back, so the records that slid forward are read."""
    connector = _connector(
        tmp_path, "{type: offset, page_size: 3, limit_param: limit, total: total}"
    )
    people = [_person(n) for n in range(7)]
    served: list[int] = []

    def page(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        served.append(offset)
        current = people if not served[:-1] else people[:1] + people[3:]  # p1, p2 removed
        return httpx.Response(
            200, json={"items": current[offset : offset + 3], "total": len(current)}
        )

    respx.get(f"{BASE}/people").mock(side_effect=page)
    ids = {r.record_id for p in connector.pull("people", None) for r in p.records}
    assert {"p3", "p4", "p5", "p6"} <= ids
    assert served == [0, 3, 1, 4]  # the shrink seen at offset 3: read again from 1


@respx.mock
def test_a_batch_refused_whole_is_split_down_to_the_record_refused(tmp_path: Path) -> None:
    """A 400 for the batch is bisected: the bad record is dead, every other one written."""
    connector = _connector(tmp_path, "{type: none}")

    def batch(request: httpx.Request) -> httpx.Response:
        ids = [p["id"] for p in json.loads(request.content)["people"]]
        if "p2" in ids:
            return httpx.Response(400, json={"error": {"code": "BAD", "message": "p2 is bad"}})
        return httpx.Response(200, json={"done": [{"id": i} for i in ids]})

    route = respx.post(f"{BASE}/people/batch").mock(side_effect=batch)
    writes = [FieldWrite(f"p{n}", {"opt_out": True}) for n in range(5)]
    results = connector.write("people", writes)
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert not results[2].retryable and "BAD" in (results[2].error or "")
    assert route.call_count == 5  # [0..4] refused, [0,1] ok, [2,3,4] refused, [2] dead, [3,4] ok


@respx.mock
def test_a_failed_change_set_is_split_until_the_refused_record(tmp_path: Path) -> None:
    """A change set answered by one error part naming no record is split like a refused batch."""
    write = (
        "{format: odata_batch, path: /$batch, max_items: 10, changeset: true, "
        "request: {method: PATCH, path: '/people({id})'}}"
    )
    connector = _connector(tmp_path, "{type: none}", write)

    def batch(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        boundary = "batchresponse_x"
        if "people(p1)" in body:
            parts = (
                f"--{boundary}\r\nContent-Type: application/http\r\n\r\n"
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
                '{"error":{"code":"0x80060888","message":"bad value"}}\r\n'
            )
        else:
            count = body.count("PATCH ")
            inner = "".join(
                f"--cs\r\nContent-Type: application/http\r\nContent-ID: {n}\r\n\r\n"
                "HTTP/1.1 204 No Content\r\n\r\n\r\n"
                for n in range(1, count + 1)
            )
            parts = (
                f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n"
                f"{inner}--cs--\r\n"
            )
        return httpx.Response(
            200,
            content=(parts + f"--{boundary}--\r\n").encode(),
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
        )

    respx.post(f"{BASE}/$batch").mock(side_effect=batch)
    results = connector.write("people", [FieldWrite(f"p{n}", {"opt_out": True}) for n in range(4)])
    assert [r.ok for r in results] == [True, False, True, True]
    assert "0x80060888" in (results[1].error or "")


@respx.mock
def test_values_that_will_not_parse_spoil_only_their_record(tmp_path: Path) -> None:
    """A stamp that is no time, an id that is no id, an item that is no object: each is its own
    record's problem; the page's other records are delivered as usual."""
    connector = _connector(tmp_path, "{type: none}")
    respx.get(f"{BASE}/people").respond(
        json={
            "items": [
                _person(1),
                {**_person(2), "updated": "yesterday-ish"},
                {**_person(3), "id": {"nested": True}},
                "not a record",
                _person(4),
            ]
        }
    )
    records = [r for p in connector.pull("people", None) for r in p.records]
    readable = [r.record_id for r in records if r.readable]
    assert readable == ["p1", "p4"]
    broken = [r for r in records if not r.readable]
    assert [r.unreadable[WHOLE_RECORD].part for r in broken] == ["modified", "id", "record"]
    assert broken[0].record_id == "p2"  # its id is still known, for the conflict


@respx.mock
def test_every_request_carries_the_bearer_token_and_no_error_shows_it(tmp_path: Path) -> None:
    """The credential goes in the header of each request and never into an error message."""
    connector = _connector(tmp_path, "{type: none}")
    route = respx.get(f"{BASE}/people").respond(
        403, json={"error": {"code": "FORBIDDEN", "message": f"token {TOKEN} lacks a scope"}}
    )
    with pytest.raises(PermanentError) as caught:
        list(connector.pull("people", None))
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(caught.value) and "FORBIDDEN" in str(caught.value)


@respx.mock
def test_a_cursor_paginator_sends_each_token_back_and_an_api_key_stays_hidden(
    tmp_path: Path,
) -> None:
    """`paging.next.after` is sent back as `?after=`; a query-string API key is on every
    request and in no error message."""
    spec = SPEC.replace(
        'auth: {type: bearer, token: "${TOKEN}"}',
        'auth: {type: api_key, key: "${TOKEN}", query: key}',
    )
    connector = _connector_from(
        tmp_path, spec, "{type: cursor, path: paging.next.after, param: after}"
    )
    pages = {
        None: {"items": [_person(1)], "paging": {"next": {"after": "c2"}}},
        "c2": {"items": [_person(2)], "paging": {"next": {"after": "c3"}}},
        "c3": {"items": [_person(3)]},
    }
    route = respx.get(f"{BASE}/people").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("after")])
    )
    ids = [r.record_id for p in connector.pull("people", None) for r in p.records]
    assert ids == ["p1", "p2", "p3"]
    assert all(call.request.url.params["key"] == TOKEN for call in route.calls)
    respx.get(f"{BASE}/people").respond(500, json={"message": "down"})
    with pytest.raises(TransientError) as caught:
        list(connector.pull("people", None))
    assert TOKEN not in str(caught.value)


@respx.mock
def test_a_page_number_paginator_stops_at_a_short_page(tmp_path: Path) -> None:
    """Pages 1, 2, 3 of two records each; the third holds one, so there is no fourth request."""
    connector = _connector(tmp_path, "{type: page_number, page_size: 2, size_param: per_page}")
    people = [_person(n) for n in range(5)]

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        assert request.url.params["per_page"] == "2"
        return httpx.Response(200, json={"items": people[(number - 1) * 2 : number * 2]})

    route = respx.get(f"{BASE}/people").mock(side_effect=page)
    ids = [r.record_id for p in connector.pull("people", None) for r in p.records]
    assert ids == [f"p{n}" for n in range(5)]
    assert route.call_count == 3


@respx.mock
def test_a_write_per_record_is_judged_by_each_answer(tmp_path: Path) -> None:
    """`{id}` in the write path: one PATCH each; 404 is gone, a rule's match unrepresentable,
    a 503 that outlasts the retries retryable, a 200 written — each record on its own."""
    spec = SPEC.replace(
        'requester: {base_url: "https://api.example.test/v1"}',
        'requester: {base_url: "https://api.example.test/v1", errors: '
        '[{status: 400, body: {title: "^Member In Compliance State$"}, action: unrepresentable}]}',
    )
    write = "{path: '/people/{id}', method: PATCH, item: {source: consent-sync}}"
    connector = _connector_from(tmp_path, spec, "{type: none}", write)
    respx.patch(f"{BASE}/people/p1").respond(200, json={})
    respx.patch(f"{BASE}/people/p2").respond(404, json={"title": "Resource Not Found"})
    respx.patch(f"{BASE}/people/p3").respond(400, json={"title": "Member In Compliance State"})
    busy = respx.patch(f"{BASE}/people/p4").respond(503)
    results = connector.write(
        "people", [FieldWrite(f"p{n}", {"opt_out": True}) for n in range(1, 5)]
    )
    assert results[0].ok
    assert results[1].gone and not results[1].ok
    assert results[2].unrepresentable and not results[2].retryable
    assert results[3].retryable and busy.call_count == FAST_RETRY.attempts
    body = json.loads(respx.calls[0].request.content)
    assert body == {"opt_out": True, "source": "consent-sync"}


@respx.mock
def test_quota_headers_are_reported(tmp_path: Path) -> None:
    """The spec's quota headers (limit and remaining) become the connector's quota."""
    spec = SPEC.replace(
        'requester: {base_url: "https://api.example.test/v1"}',
        'requester: {base_url: "https://api.example.test/v1", '
        "quota: {limit: X-Daily-Limit, remaining: X-Daily-Remaining}}",
    )
    connector = _connector_from(tmp_path, spec, "{type: none}")
    respx.get(f"{BASE}/people").respond(
        json={"items": []}, headers={"X-Daily-Limit": "1000", "X-Daily-Remaining": "250"}
    )
    list(connector.pull("people", None))
    quota = connector.quota()
    assert (quota.used, quota.limit) == (750, 1000)


@respx.mock
def test_without_describe_the_first_record_stands_for_the_fields(tmp_path: Path) -> None:
    """No describe section: the listing's first record names the fields that exist."""
    connector = _connector(tmp_path, "{type: none}")
    respx.get(f"{BASE}/people").respond(json={"items": [_person(1)]})
    names = {f.name for f in connector.describe("people")}
    assert names == {"id", "email", "opt_out", "updated"}
