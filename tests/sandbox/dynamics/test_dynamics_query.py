"""`GET contacts`: $select, $filter, $orderby, $top, paging by nextLink, single records."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.dynamics_emulator import SEEDED, Sandbox

SELECT = "emailaddress1,donotbulkemail,donotphone,modifiedon,versionnumber"


def _all_pages(api: httpx.Client, params: dict[str, str], size: int) -> list[list[dict[str, Any]]]:
    prefer = {"Prefer": f"odata.maxpagesize={size}"}
    response = api.get("/contacts", params=params, headers=prefer)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["preference-applied"] == f"odata.maxpagesize={size}"
        body = response.json()
        pages.append(body["value"])
        if "@odata.nextLink" not in body:
            return pages
        response = api.get(body["@odata.nextLink"], headers=prefer)


def test_maxpagesize_pages_through_every_contact_once(api: httpx.Client) -> None:
    """Pages of the preferred size, following nextLink as given, cover every contact once."""
    pages = _all_pages(api, {"$select": SELECT}, 64)
    assert [len(p) for p in pages[:-1]] == [64] * (len(pages) - 1)
    ids = [r["contactid"] for page in pages for r in page]
    assert len(ids) == SEEDED == len(set(ids))
    first = pages[0][0]
    assert set(first) == {"@odata.etag", *SELECT.split(","), "contactid"}
    assert first["@odata.etag"] == f'W/"{first["versionnumber"]}"'
    assert first["modifiedon"].endswith("Z") and len(first["modifiedon"]) == 20


def test_a_record_modified_while_paging_by_modifiedon_is_still_read(
    api: httpx.Client, control: httpx.Client
) -> None:
    """Keyset paging: a contact edited mid-read moves to the end and is read there, and no
    other contact is skipped."""
    params = {"$select": "emailaddress1,modifiedon", "$orderby": "modifiedon asc"}
    prefer = {"Prefer": "odata.maxpagesize=50"}
    first = api.get("/contacts", params=params, headers=prefer).json()
    seen = [r["contactid"] for r in first["value"]]
    moved = first["value"][10]["contactid"]
    control.post(
        "/_sandbox/act", json={"action": "edit", "id": moved, "fields": {"description": "x"}}
    )
    link = first["@odata.nextLink"]
    while link:
        body = api.get(link, headers=prefer).json()
        seen += [r["contactid"] for r in body["value"]]
        link = body.get("@odata.nextLink")
    assert seen.count(moved) == 2  # read before its edit, and again after it
    assert len(set(seen)) == SEEDED


def test_filter_modifiedon_ge_returns_only_newer_contacts(api: httpx.Client) -> None:
    """`modifiedon ge <datetime>` (unquoted) keeps the contacts stamped at or after it."""
    rows = api.get("/contacts", params={"$select": "modifiedon", "$orderby": "modifiedon desc"})
    stamps = [r["modifiedon"] for r in rows.json()["value"]]
    cut = stamps[40]
    newer = api.get(
        "/contacts", params={"$select": "modifiedon", "$filter": f"modifiedon ge {cut}"}
    )
    assert newer.status_code == 200, newer.text
    got = [r["modifiedon"] for r in newer.json()["value"]]
    assert sorted(got) == sorted(s for s in stamps if s >= cut)


def test_email_filter_is_case_insensitive_and_quotes_double(
    api: httpx.Client, control: httpx.Client
) -> None:
    """`emailaddress1 eq '...'` matches any case; an apostrophe is written as two."""
    created = control.post(
        "/_sandbox/act", json={"action": "create", "email": "Mary.O'Brien@Example.com"}
    ).json()
    literal = "mary.o''brien@example.COM"
    found = api.get("/contacts", params={"$filter": f"emailaddress1 eq '{literal}'"}).json()
    assert [r["contactid"] for r in found["value"]] == [created["contactid"]]


def test_in_function_and_or_chains_read_contacts_by_id(api: httpx.Client) -> None:
    """`Microsoft.Dynamics.CRM.In(PropertyName='contactid',...)` and an `or` chain agree."""
    some = api.get("/contacts", params={"$select": "contactid", "$top": "5"}).json()["value"]
    ids = [r["contactid"] for r in some]
    values = ",".join(f"'{i}'" for i in ids)
    by_in = api.get(
        "/contacts",
        params={
            "$select": "donotbulkemail",
            "$filter": (
                f"Microsoft.Dynamics.CRM.In(PropertyName='contactid',PropertyValues=[{values}])"
            ),
        },
    )
    by_or = api.get("/contacts", params={"$filter": " or ".join(f"contactid eq {i}" for i in ids)})
    assert sorted(r["contactid"] for r in by_in.json()["value"]) == sorted(ids)
    assert sorted(r["contactid"] for r in by_or.json()["value"]) == sorted(ids)


def test_boolean_filters_count_the_opted_out(api: httpx.Client) -> None:
    """`donotbulkemail eq true` and `not (donotbulkemail eq true)` split the table."""
    ticked = api.get("/contacts", params={"$filter": "donotbulkemail eq true"}).json()["value"]
    rest = api.get("/contacts", params={"$filter": "not (donotbulkemail eq true)"}).json()["value"]
    assert all(r["donotbulkemail"] for r in ticked)
    assert len(ticked) + len(rest) >= SEEDED


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$select": "nosuchcolumn"}, "Could not find a property named 'nosuchcolumn'"),
        ({"$filter": "donotbulkemail eq 'yes'"}, "incompatible types"),
        ({"$filter": "modifiedon ge '2026-01-01'"}, "incompatible types"),
        ({"$filter": "emailaddress1 eq 'x' and"}, "Syntax error"),
        ({"$orderby": "modifiedon sideways"}, "not a valid $orderby"),
    ],
)
def test_bad_query_options_are_odata_400s(
    api: httpx.Client, params: dict[str, str], message: str
) -> None:
    """Unknown columns, mistyped literals and syntax errors answer 400 in the OData shape."""
    response = api.get("/contacts", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "0x80060888"
    assert message in error["message"]


def test_top_without_maxpagesize_limits_and_maxpagesize_wins_over_top(api: httpx.Client) -> None:
    """`$top=7` returns seven, no nextLink; with maxpagesize, $top is ignored (as documented)."""
    top = api.get("/contacts", params={"$top": "7"}).json()
    assert len(top["value"]) == 7 and "@odata.nextLink" not in top
    both = api.get(
        "/contacts", params={"$top": "7"}, headers={"Prefer": "odata.maxpagesize=20"}
    ).json()
    assert len(both["value"]) == 20 and "@odata.nextLink" in both


def test_single_contact_by_id_with_etag_and_304(api: httpx.Client) -> None:
    """`contacts(<id>)` answers the entity with its ETag; If-None-Match on it answers 304."""
    row = api.get("/contacts", params={"$top": "1"}).json()["value"][0]
    one = api.get(f"/contacts({row['contactid']})", params={"$select": "emailaddress1"})
    assert one.status_code == 200
    assert one.json()["@odata.context"].endswith("$metadata#contacts(emailaddress1)/$entity")
    assert one.headers["etag"] == row["@odata.etag"]
    again = api.get(
        f"/contacts({row['contactid']})", headers={"If-None-Match": one.headers["etag"]}
    )
    assert again.status_code == 304


def test_missing_contact_is_404_object_does_not_exist(api: httpx.Client) -> None:
    """A GUID nobody holds answers 404 0x80040217; a malformed key answers 400."""
    missing = api.get("/contacts(00000000-0000-4000-8000-000000000000)")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80040217"
    assert api.get("/contacts(not-a-guid)").status_code == 400


def test_unknown_segments_and_versions_answer_odata_404(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    """Other entity sets and API versions are Dataverse 404s, never FastAPI's body."""
    assert api.get("/accounts").json()["error"]["code"] == "0x8006088a"
    with httpx.Client(base_url=sandbox.base_url, verify=sandbox.ssl_context()) as http:
        response = http.get(
            "/api/data/v8.0/contacts", headers={"Authorization": api.headers["Authorization"]}
        )
    assert response.status_code == 404 and "error" in response.json()
