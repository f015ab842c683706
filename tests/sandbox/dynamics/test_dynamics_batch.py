"""`POST $batch`: multipart/mixed requests and change sets, per-request results, atomicity."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.dynamics_emulator import API

MISSING = "00000000-0000-4000-8000-00000000dead"


@dataclass
class Op:
    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    content_id: str | None = None


def _part(op: Op, boundary: str) -> str:
    head = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    )
    if op.content_id:
        head += f"Content-ID: {op.content_id}\r\n"
    lines = [f"{op.method} {op.path} HTTP/1.1"]
    if op.body is not None:
        lines.append("Content-Type: application/json; type=entry")
    lines += [f"{k}: {v}" for k, v in (op.headers or {}).items()]
    body = json.dumps(op.body) if op.body is not None else ""
    return head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n" + body + "\r\n"


def _batch(items: list[Op | list[Op]]) -> tuple[str, str]:
    boundary = f"batch_{uuid.uuid4()}"
    text = ""
    for item in items:
        if isinstance(item, list):
            inner = f"changeset_{uuid.uuid4()}"
            text += f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n"
            text += "".join(_part(op, inner) for op in item) + f"--{inner}--\r\n"
        else:
            text += _part(item, boundary)
    return f'multipart/mixed; boundary="{boundary}"', text + f"--{boundary}--\r\n"


def _post(
    api: httpx.Client, items: list[Op | list[Op]], *, continue_on_error: bool
) -> httpx.Response:
    content_type, body = _batch(items)
    headers = {"Content-Type": content_type}
    if continue_on_error:
        headers["Prefer"] = "odata.continue-on-error"
    return api.post("/$batch", content=body.encode(), headers=headers)


def _responses(response: httpx.Response) -> list[tuple[int, str | None, Any]]:
    """(status, Content-ID, JSON body or None) of every response part, change sets flattened."""
    boundary = re.search(r"boundary=([^;\s]+)", response.headers["content-type"])
    assert boundary is not None
    found: list[tuple[int, str | None, Any]] = []
    for chunk in response.text.split(f"--{boundary.group(1)}")[1:-1]:
        inner = re.search(r"boundary=(changesetresponse_[^\s;]+)", chunk)
        pieces = chunk.split(f"--{inner.group(1)}")[1:-1] if inner else [chunk]
        for piece in pieces:
            content_id = re.search(r"Content-ID: (\S+)", piece)
            status = int(re.search(r"HTTP/1\.1 (\d{3})", piece).group(1))  # type: ignore[union-attr]
            payload = piece.strip().split("\r\n\r\n")[-1]
            body = json.loads(payload) if payload.startswith("{") else None
            found.append((status, content_id.group(1) if content_id else None, body))
    return found


@pytest.fixture
def ids(api: httpx.Client) -> list[str]:
    rows = api.get(
        "/contacts",
        params={"$select": "contactid", "$filter": "donotbulkemail eq false", "$top": "6"},
    )
    return [r["contactid"] for r in rows.json()["value"]]


def _bulk(api: httpx.Client, contact_id: str) -> bool:
    return bool(
        api.get(f"/contacts({contact_id})", params={"$select": "donotbulkemail"}).json()[
            "donotbulkemail"
        ]
    )


def test_continue_on_error_answers_every_request_in_order(
    api: httpx.Client, sandbox: Any, ids: list[str]
) -> None:
    """With odata.continue-on-error: 200, one part per request in order with its Content-ID;
    a missing contact is 404 0x80040217, an injected failure 500 0x80044150, a bad property
    400 0x80060888, and the good ones are applied."""
    sandbox.emulator.faults.set(type(sandbox.emulator.faults.config)(batch_failure_ids=[ids[2]]))
    ops: list[Op | list[Op]] = [
        Op("PATCH", f"{API}/contacts({ids[0]})", {"donotbulkemail": True}, {"If-Match": "*"}, "1"),
        Op("PATCH", f"{API}/contacts({MISSING})", {"donotbulkemail": True}, {"If-Match": "*"}, "2"),
        Op("PATCH", f"{API}/contacts({ids[2]})", {"donotbulkemail": True}, {"If-Match": "*"}, "3"),
        # an absolute URL, as the official client writes them
        Op(
            "PATCH",
            f"{sandbox.base_url}{API}/contacts({ids[3]})",
            {"nosuch": 1},
            {"If-Match": "*"},
            "4",
        ),
        Op("PATCH", f"{API}/contacts({ids[4]})", {"donotbulkemail": True}, {"If-Match": "*"}, "5"),
    ]
    response = _post(api, ops, continue_on_error=True)
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "odata.continue-on-error"
    parts = _responses(response)
    assert [(status, cid) for status, cid, _ in parts] == [
        (204, "1"),
        (404, "2"),
        (500, "3"),
        (400, "4"),
        (204, "5"),
    ]
    assert parts[1][2]["error"]["code"] == "0x80040217"
    assert parts[2][2]["error"] == {"code": "0x80044150", "message": "Generic SQL error."}
    assert parts[3][2]["error"]["code"] == "0x80060888"
    assert [_bulk(api, i) for i in (ids[0], ids[2], ids[3], ids[4])] == [True, False, False, True]


def test_without_continue_on_error_the_first_failure_ends_the_batch(
    api: httpx.Client, ids: list[str]
) -> None:
    """Without the preference the batch answers with the failing request's status, and no
    request after it runs."""
    ops: list[Op | list[Op]] = [
        Op("PATCH", f"{API}/contacts({ids[0]})", {"donotphone": True}, {"If-Match": "*"}),
        Op("PATCH", f"{API}/contacts({MISSING})", {"donotphone": True}, {"If-Match": "*"}),
        Op("PATCH", f"{API}/contacts({ids[1]})", {"donotphone": True}, {"If-Match": "*"}),
    ]
    response = _post(api, ops, continue_on_error=False)
    assert response.status_code == 404
    assert [status for status, _, _ in _responses(response)] == [204, 404]
    phone = api.get(f"/contacts({ids[1]})", params={"$select": "donotphone"}).json()
    assert phone["donotphone"] is False


def test_a_change_set_is_all_or_nothing(api: httpx.Client, ids: list[str]) -> None:
    """One failing request in a change set rolls back the others and answers for the set."""
    changeset = [
        Op("PATCH", f"{API}/contacts({ids[0]})", {"donotfax": True}, {"If-Match": "*"}, "1"),
        Op("PATCH", f"{API}/contacts({MISSING})", {"donotfax": True}, {"If-Match": "*"}, "2"),
    ]
    response = _post(api, [changeset], continue_on_error=True)
    parts = _responses(response)
    assert [(status, cid) for status, cid, _ in parts] == [(404, "2")]
    assert (
        api.get(f"/contacts({ids[0]})", params={"$select": "donotfax"}).json()["donotfax"] is False
    )
    good = [Op("PATCH", f"{API}/contacts({ids[0]})", {"donotfax": True}, {"If-Match": "*"}, "1")]
    assert [p[:2] for p in _responses(_post(api, [good], continue_on_error=False))] == [(204, "1")]


def test_change_set_references_what_it_created(api: httpx.Client) -> None:
    """`$1` in a change set names the contact its first request created."""
    changeset = [
        Op("POST", f"{API}/contacts", {"emailaddress1": "ref@example.com"}, None, "1"),
        Op("PATCH", "$1", {"donotbulkemail": True}, {"If-Match": "*"}, "2"),
    ]
    parts = _responses(_post(api, [changeset], continue_on_error=False))
    assert [p[:2] for p in parts] == [(204, "1"), (204, "2")]
    found = api.get("/contacts", params={"$filter": "emailaddress1 eq 'ref@example.com'"}).json()
    assert found["value"][0]["donotbulkemail"] is True


def test_patch_without_if_match_upserts_a_missing_contact(api: httpx.Client) -> None:
    """PATCH to an id nobody holds creates it without If-Match, and is 404 with If-Match: *."""
    fresh = str(uuid.uuid4())
    guarded = api.patch(
        f"/contacts({fresh})", json={"donotbulkemail": True}, headers={"If-Match": "*"}
    )
    assert guarded.status_code == 404
    upsert = api.patch(f"/contacts({fresh})", json={"donotbulkemail": True})
    assert upsert.status_code == 204
    assert upsert.headers["odata-entityid"].endswith(f"/contacts({fresh})")
    assert api.get(f"/contacts({fresh})").status_code == 200


def test_stale_etag_is_412_and_read_only_columns_are_ignored(
    api: httpx.Client, ids: list[str]
) -> None:
    """If-Match with an old ETag answers 412; modifiedon in a body is not written."""
    row = api.get(f"/contacts({ids[5]})").json()
    api.patch(f"/contacts({ids[5]})", json={"description": "a"}, headers={"If-Match": "*"})
    stale = api.patch(
        f"/contacts({ids[5]})", json={"description": "b"}, headers={"If-Match": row["@odata.etag"]}
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"
    api.patch(
        f"/contacts({ids[5]})",
        json={"modifiedon": "2001-01-01T00:00:00Z"},
        headers={"If-Match": "*"},
    )
    assert api.get(f"/contacts({ids[5]})").json()["modifiedon"] > "2001"


def test_more_than_a_thousand_requests_is_refused(api: httpx.Client, ids: list[str]) -> None:
    """A batch of 1,001 requests is a 400; 1,000 are answered."""
    op = Op("PATCH", f"{API}/contacts({ids[0]})", {"description": "n"}, {"If-Match": "*"})
    assert _post(api, [op] * 1001, continue_on_error=True).status_code == 400
    answered = _post(api, [op] * 1000, continue_on_error=True)
    assert answered.status_code == 200 and len(_responses(answered)) == 1000


def test_a_batch_is_one_api_call(api: httpx.Client, control: httpx.Client, ids: list[str]) -> None:
    """The request meter counts one `POST $batch`, not its parts."""
    control.delete("/_sandbox/stats")
    ops: list[Op | list[Op]] = [
        Op("PATCH", f"{API}/contacts({i})", {"description": "m"}, {"If-Match": "*"}) for i in ids
    ]
    _post(api, ops, continue_on_error=True)
    assert control.get("/_sandbox/stats").json()["endpoints"] == {
        "POST /api/data/v{version}/$batch": {"200": 1}
    }
