"""The official mailchimp-marketing client against the emulator, unmodified: auth, the audience,
member listing with paging, filters and field selection, reads by hash or address."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from support.mailchimp_emulator import Sandbox, every_member

CONTACTS = 150


def _problem(exc: ApiClientError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.text)
    return body


def test_ping_and_the_audience(client: Any, sandbox: Sandbox) -> None:
    """Ping answers Everything's Chimpy; the audience counts its members by status."""
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    audience = client.lists.get_list(sandbox.list_id)
    assert audience["id"] == sandbox.list_id
    assert audience["marketing_permissions"] is True
    stats = audience["stats"]
    assert stats["total_contacts"] == CONTACTS
    everyone = every_member(client, sandbox.list_id)
    assert stats["member_count"] == sum(m["status"] == "subscribed" for m in everyone)
    assert stats["unsubscribe_count"] == sum(m["status"] == "unsubscribed" for m in everyone)


def test_a_wrong_key_is_refused_with_the_documented_problem(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong API key answers 401 "API Key Invalid" as problem+json; no key, "API Key Missing"."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_file))
    with pytest.raises(ApiClientError) as refused:
        sandbox.client("0" * 32 + "-us21").ping.get()
    assert refused.value.status_code == 401
    body = _problem(refused.value)
    assert body["title"] == "API Key Invalid"
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    with sandbox.http() as http:
        http.auth = None
        bare = http.get("/3.0/ping")
    assert bare.status_code == 401
    assert bare.headers["content-type"].startswith("application/problem+json")
    assert bare.json()["title"] == "API Key Missing"


def test_paging_reads_every_member_once(client: Any, sandbox: Sandbox) -> None:
    """count/offset pages cover the audience exactly once; total_items is the whole count."""
    pages = []
    offset = 0
    while True:
        page = client.lists.get_list_members_info(sandbox.list_id, count=40, offset=offset)
        assert page["total_items"] == CONTACTS
        if not page["members"]:
            break
        pages.append(page["members"])
        offset += len(page["members"])
    assert [len(p) for p in pages] == [40, 40, 40, 30]
    ids = [m["id"] for p in pages for m in p]
    assert len(set(ids)) == CONTACTS
    default = client.lists.get_list_members_info(sandbox.list_id)
    assert len(default["members"]) == 10  # the documented default count


def test_since_last_changed_and_status_filter_and_sort(client: Any, sandbox: Sandbox) -> None:
    """since_last_changed returns members changed after it; status filters; sort_field orders."""
    everyone = every_member(client, sandbox.list_id)
    stamps = sorted(m["last_changed"] for m in everyone)
    cut = stamps[len(stamps) // 2]
    later = every_member(client, sandbox.list_id, since_last_changed=cut)
    assert later
    assert all(m["last_changed"] > cut for m in later)  # one format, so text order is time order
    assert len(later) == sum(m["last_changed"] > cut for m in everyone)
    cleaned = every_member(client, sandbox.list_id, status="cleaned")
    assert {m["status"] for m in cleaned} <= {"cleaned"}
    assert len(cleaned) == sum(m["status"] == "cleaned" for m in everyone)
    newest = client.lists.get_list_members_info(
        sandbox.list_id, count=5, sort_field="last_changed", sort_dir="DESC"
    )["members"]
    assert [m["last_changed"] for m in newest] == stamps[::-1][:5]


def test_fields_and_exclude_fields_pick_parts_of_the_answer(client: Any, sandbox: Sandbox) -> None:
    """fields keeps only the named (dotted) parts; exclude_fields drops them."""
    page = client.lists.get_list_members_info(
        sandbox.list_id,
        count=2,
        fields=[
            "members.email_address",
            "members.status",
            "members.merge_fields.FNAME",
            "total_items",
        ],
    )
    assert set(page) == {"members", "total_items"}
    assert all(set(m) == {"email_address", "status", "merge_fields"} for m in page["members"])
    assert all(set(m["merge_fields"]) == {"FNAME"} for m in page["members"])
    lean = client.lists.get_list_members_info(
        sandbox.list_id, count=2, exclude_fields=["members._links", "members.location", "_links"]
    )
    assert "_links" not in lean
    assert all("location" not in m and "_links" not in m for m in lean["members"])
    assert all("status" in m for m in lean["members"])


def test_a_member_is_read_by_hash_or_by_address(client: Any, sandbox: Sandbox) -> None:
    """The subscriber hash is the MD5 of the lower-cased address; the address itself works too."""
    member = client.lists.get_list_members_info(sandbox.list_id, count=1)["members"][0]
    address = member["email_address"]
    assert member["id"] == hashlib.md5(address.lower().encode()).hexdigest()  # noqa: S324
    assert client.lists.get_list_member(sandbox.list_id, member["id"])["id"] == member["id"]
    assert client.lists.get_list_member(sandbox.list_id, address.upper())["id"] == member["id"]
    for key in ("timestamp_opt", "ip_opt", "timestamp_signup", "ip_signup", "last_changed"):
        assert isinstance(member[key], str)  # unset ones are "", never null


def test_unknown_members_and_lists_are_resource_not_found(client: Any, sandbox: Sandbox) -> None:
    """A missing member or audience answers 404 "Resource Not Found"."""
    with pytest.raises(ApiClientError) as missing:
        client.lists.get_list_member(sandbox.list_id, "0" * 32)
    assert missing.value.status_code == 404
    assert _problem(missing.value)["title"] == "Resource Not Found"
    with pytest.raises(ApiClientError) as no_list:
        client.lists.get_list("0000000000")
    assert no_list.value.status_code == 404


def test_merge_fields_describe_the_audience(client: Any, sandbox: Sandbox) -> None:
    """The audience's merge fields are listed with their tags and types."""
    fields = client.lists.get_list_merge_fields(sandbox.list_id)
    assert {f["tag"]: f["type"] for f in fields["merge_fields"]} == {
        "FNAME": "text",
        "LNAME": "text",
        "PHONE": "phone",
    }
    assert fields["total_items"] == 3
