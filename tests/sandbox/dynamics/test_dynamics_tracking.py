"""Change tracking: `Prefer: odata.track-changes`, deltaLinks, changed and deleted records."""

from __future__ import annotations

from typing import Any

import httpx

from support.dynamics_emulator import SEEDED

SELECT = {"$select": "emailaddress1,donotbulkemail"}
TRACK = {"Prefer": "odata.track-changes,odata.maxpagesize=100"}


def _read_all(api: httpx.Client, first: httpx.Response) -> tuple[list[dict[str, Any]], str]:
    """Every item of a tracked read or delta (following nextLink), and its final deltaLink."""
    items: list[dict[str, Any]] = []
    response = first
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        if "@odata.nextLink" in body:
            assert "@odata.deltaLink" not in body  # only the last page carries the deltaLink
            response = api.get(body["@odata.nextLink"], headers=TRACK)
            continue
        return items, body["@odata.deltaLink"]


def _baseline(api: httpx.Client) -> tuple[list[dict[str, Any]], str]:
    first = api.get("/contacts", params=SELECT, headers=TRACK)
    assert first.headers["preference-applied"] == "odata.maxpagesize=100,odata.track-changes"
    return _read_all(api, first)


def test_tracked_read_returns_everything_then_a_delta_link(api: httpx.Client) -> None:
    """The first tracked read returns every live contact, in row-version order, and a deltaLink
    carrying a `$deltatoken` shaped `<version>!<UTC time>`."""
    items, delta = _baseline(api)
    assert len({r["contactid"] for r in items}) >= SEEDED
    versions = [int(r["@odata.etag"][3:-1]) for r in items]
    assert versions == sorted(versions)
    assert "$deltatoken=" in delta and "%21" in delta  # the "!" of the token, URL-encoded
    assert delta.startswith(str(api.base_url).rstrip("/") + "/contacts?$select=")


def test_delta_returns_changes_then_deletions_as_deleted_entities(
    api: httpx.Client, control: httpx.Client
) -> None:
    """After an edit, a creation and a deletion, the delta holds the two live records first and
    then `{"@odata.context": ".../$deletedEntity", "id": ..., "reason": "deleted"}`."""
    items, delta = _baseline(api)
    edited, removed = items[3]["contactid"], items[4]["contactid"]
    control.post("/_sandbox/act", json={"action": "opt_out", "id": edited}).raise_for_status()
    created = control.post("/_sandbox/act", json={"action": "create", "email": "new@example.com"})
    control.post("/_sandbox/act", json={"action": "delete", "id": removed}).raise_for_status()
    first = api.get(delta)
    assert first.json()["@odata.context"].endswith(
        "$metadata#contacts(emailaddress1,donotbulkemail)/$delta"
    )
    changes, next_delta = _read_all(api, first)
    live = [c for c in changes if "reason" not in c]
    assert [c["contactid"] for c in live] == [edited, created.json()["contactid"]]
    assert live[0]["donotbulkemail"] is True
    assert changes[-1] == {
        "@odata.context": f"{str(api.base_url).rstrip('/')}/$metadata#contacts/$deletedEntity",
        "id": removed,
        "reason": "deleted",
    }
    quiet, _ = _read_all(api, api.get(next_delta))
    assert quiet == []  # nothing changed since: an empty delta and a new link


def test_a_delta_larger_than_a_page_pages_and_keeps_every_change(
    api: httpx.Client, control: httpx.Client
) -> None:
    """250 changes with pages of 100: three pages, every change once, deltaLink on the last."""
    items, delta = _baseline(api)
    for row in items[:250]:
        control.post(
            "/_sandbox/act",
            json={"action": "edit", "id": row["contactid"], "fields": {"description": "seen"}},
        ).raise_for_status()
    changes, _ = _read_all(api, api.get(delta, headers=TRACK))
    assert sorted(c["contactid"] for c in changes) == sorted(r["contactid"] for r in items[:250])


def test_track_changes_refuses_filter_orderby_and_top(api: httpx.Client) -> None:
    """`$filter`, `$orderby` and `$top` with track-changes answer the documented 400."""
    for option, value in (
        ("$filter", "donotbulkemail eq true"),
        ("$orderby", "modifiedon"),
        ("$top", "3"),
    ):
        response = api.get("/contacts", params={**SELECT, option: value}, headers=TRACK)
        assert response.status_code == 400
        assert response.json()["error"]["message"] == (
            f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.'
        )


def test_expired_or_forged_delta_token_asks_for_a_full_sync(
    api: httpx.Client, control: httpx.Client
) -> None:
    """A token older than ExpireChangeTrackingInDays, or one never issued, answers 400
    0x80044352 "Version stamp associated with the client has expired. Please perform a full sync."""
    _, delta = _baseline(api)
    control.put("/_sandbox/org", json={"expire_change_tracking_in_days": 0}).raise_for_status()
    expired = api.get(delta)
    assert expired.status_code == 400
    assert expired.json()["error"] == {
        "code": "0x80044352",
        "message": (
            "Version stamp associated with the client has expired. Please perform a full sync."
        ),
    }
    control.put("/_sandbox/org", json={}).raise_for_status()
    forged = api.get("/contacts", params={**SELECT, "$deltatoken": "99999999!01/01/2030 00:00:00"})
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "0x80044352"
