"""Batch subscribe or unsubscribe (`POST /lists/{list_id}`): per-member answers, as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from consent_sync_sandbox.common import FaultConfig
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from support.mailchimp_emulator import Sandbox

CONTACTS = 30


def _batch(client: Any, sandbox: Sandbox, members: list[dict[str, Any]], **body: Any) -> Any:
    return client.lists.batch_list_members(sandbox.list_id, {"members": members, **body})


def test_new_and_updated_members_and_their_totals(client: Any, sandbox: Sandbox) -> None:
    """New addresses land in new_members, existing ones (update_existing) in updated_members."""
    _batch(client, sandbox, [{"email_address": "b.one@example.com", "status": "transactional"}])
    answer = _batch(
        client,
        sandbox,
        [
            {"email_address": "B.One@example.com", "status": "unsubscribed"},
            {"email_address": "b.two@example.com", "status": "subscribed", "ip_opt": "192.0.2.1"},
        ],
        update_existing=True,
    )
    assert (answer["total_created"], answer["total_updated"], answer["error_count"]) == (1, 1, 0)
    assert [m["email_address"] for m in answer["new_members"]] == ["b.two@example.com"]
    assert answer["new_members"][0]["ip_opt"] == "192.0.2.1"
    assert [m["status"] for m in answer["updated_members"]] == ["unsubscribed"]
    assert answer["errors"] == []


def test_existing_members_need_update_existing(client: Any, sandbox: Sandbox) -> None:
    """Without update_existing an existing member is an ERROR_CONTACT_EXISTS and unchanged."""
    _batch(client, sandbox, [{"email_address": "b.exists@example.com", "status": "subscribed"}])
    answer = _batch(
        client, sandbox, [{"email_address": "b.exists@example.com", "status": "unsubscribed"}]
    )
    assert answer["error_count"] == 1
    (error,) = answer["errors"]
    assert error["email_address"] == "b.exists@example.com"
    assert error["error_code"] == "ERROR_CONTACT_EXISTS"
    assert set(error) == {"email_address", "error", "error_code", "field", "field_message"}
    assert client.lists.get_list_member(sandbox.list_id, "b.exists@example.com")["status"] == (
        "subscribed"
    )


def test_a_compliance_state_member_is_an_error_entry_not_a_failed_request(
    client: Any, sandbox: Sandbox
) -> None:
    """Re-subscribing a self-unsubscribed member in a batch answers 200 with an errors entry
    naming the compliance state; the other members of the batch are written."""
    email = "b.compliance@example.com"
    _batch(client, sandbox, [{"email_address": email, "status": "subscribed"}])
    sandbox.act(action="unsubscribe", email=email)
    answer = _batch(
        client,
        sandbox,
        [
            {"email_address": email, "status": "subscribed"},
            {"email_address": "b.fine@example.com", "status": "unsubscribed"},
        ],
        update_existing=True,
    )
    assert answer["total_created"] == 1
    (error,) = answer["errors"]
    assert error["email_address"] == email
    assert "compliance state" in error["error"]
    assert error["error_code"] == "ERROR_GENERIC"


def test_bad_members_and_duplicates_are_answered_per_member(client: Any, sandbox: Sandbox) -> None:
    """An invalid address, a missing status and a repeated address each get an error entry."""
    answer = _batch(
        client,
        sandbox,
        [
            {"email_address": "not-an-address", "status": "subscribed"},
            {"email_address": "b.nostatus@example.com"},
            {"email_address": "b.dup@example.com", "status": "subscribed"},
            {"email_address": "b.dup@example.com", "status": "unsubscribed"},
        ],
    )
    assert answer["total_created"] == 1
    assert [e["email_address"] for e in answer["errors"]] == [
        "not-an-address",
        "b.nostatus@example.com",
        "b.dup@example.com",
    ]
    skipped = _batch(
        client,
        sandbox,
        [
            {"email_address": "b.dup2@example.com", "status": "pending"},
            {"email_address": "b.dup2@example.com", "status": "subscribed"},
        ],
    )
    assert skipped["error_count"] == 1
    with sandbox.http() as http:
        lenient = http.post(
            f"/3.0/lists/{sandbox.list_id}",
            params={"skip_duplicate_check": "true"},
            json={
                "members": [
                    {"email_address": "b.dup3@example.com", "status": "pending"},
                    {"email_address": "b.dup3@example.com", "status": "subscribed"},
                ]
            },
        ).json()
    assert (lenient["total_created"], lenient["error_count"]) == (1, 0)
    assert lenient["new_members"][0]["status"] == "pending"  # the first appearance counts


def test_more_than_500_members_is_refused_whole(client: Any, sandbox: Sandbox) -> None:
    """A batch over the documented 500 members answers 400 and writes nothing."""
    members = [
        {"email_address": f"b.many{i}@example.com", "status": "subscribed"} for i in range(501)
    ]
    with pytest.raises(ApiClientError) as refused:
        _batch(client, sandbox, members)
    assert refused.value.status_code == 400
    assert json.loads(refused.value.text)["title"] == "Invalid Resource"
    with sandbox.http() as http:
        assert (
            http.get(f"/3.0/lists/{sandbox.list_id}/members/b.many0@example.com").status_code == 404
        )


def test_injected_per_record_failures_hit_only_their_members(client: Any, sandbox: Sandbox) -> None:
    """A per-record fault (by subscriber hash) fails that member alone, as an ERROR_GENERIC."""
    sandbox.emulator.faults.set(
        FaultConfig(batch_failure_ids=[subscriber_hash("b.fault@example.com")])
    )
    answer = _batch(
        client,
        sandbox,
        [
            {"email_address": "b.fault@example.com", "status": "unsubscribed"},
            {"email_address": "b.nofault@example.com", "status": "unsubscribed"},
        ],
    )
    assert [e["email_address"] for e in answer["errors"]] == ["b.fault@example.com"]
    assert answer["errors"][0]["error_code"] == "ERROR_GENERIC"
    assert answer["total_created"] == 1
