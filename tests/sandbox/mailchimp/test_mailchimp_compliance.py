"""Who may subscribe a member again: "Member In Compliance State" as documented, double opt-in,
and the person's own way back through a signup form."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from support.mailchimp_emulator import Sandbox

CONTACTS = 60
COMPLIANCE_DETAIL = (
    "is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be "
    "subscribed."
)


def _new_member(client: Any, sandbox: Sandbox, email: str, status: str = "subscribed") -> Any:
    return client.lists.add_list_member(sandbox.list_id, {"email_address": email, "status": status})


def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiClientError) as refused:
        call()
    assert refused.value.status_code == 400
    body: dict[str, Any] = json.loads(refused.value.text)
    return body


def test_a_self_unsubscribed_member_cannot_be_resubscribed_through_the_api(
    client: Any, sandbox: Sandbox
) -> None:
    """After the person clicks unsubscribe, PATCH and PUT `subscribed` answer 400 "Member In
    Compliance State" with the documented problem body, and the member stays unsubscribed."""
    email = "compliance.patch@example.com"
    _new_member(client, sandbox, email)
    sandbox.act(
        action="unsubscribe", email=email, reason="I no longer want to receive these emails"
    )
    body = _refusal(
        lambda: client.lists.update_list_member(sandbox.list_id, email, {"status": "subscribed"})
    )
    assert body["title"] == "Member In Compliance State"
    assert body["status"] == 400
    assert body["detail"] == f"{email} {COMPLIANCE_DETAIL}"
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/"
    assert body["instance"]
    put = _refusal(
        lambda: client.lists.set_list_member(
            sandbox.list_id, email, {"email_address": email, "status": "subscribed"}
        )
    )
    assert put["title"] == "Member In Compliance State"
    member = client.lists.get_list_member(sandbox.list_id, email)
    assert member["status"] == "unsubscribed"
    assert member["unsubscribe_reason"] == "I no longer want to receive these emails"


def test_double_opt_in_is_the_api_way_back_and_the_person_confirms(
    client: Any, sandbox: Sandbox
) -> None:
    """`pending` is allowed for a self-unsubscribed member; only the person's confirmation makes
    them subscribed, with a fresh timestamp_opt and the IP they confirmed from."""
    email = "compliance.pending@example.com"
    _new_member(client, sandbox, email)
    sandbox.act(action="unsubscribe", email=email)
    pending = client.lists.update_list_member(sandbox.list_id, email, {"status": "pending"})
    assert pending["status"] == "pending"
    confirmed = sandbox.act(action="confirm", email=email, ip="192.0.2.7")["member"]
    assert confirmed["status"] == "subscribed"
    assert confirmed["ip_opt"] == "192.0.2.7"
    assert confirmed["timestamp_opt"] >= pending["last_changed"]
    # Confirmed by the person, the member is out of the compliance state.
    client.lists.update_list_member(sandbox.list_id, email, {"status": "unsubscribed"})
    back = client.lists.update_list_member(sandbox.list_id, email, {"status": "subscribed"})
    assert back["status"] == "subscribed"


def test_the_signup_form_resubscribes_what_the_api_cannot(client: Any, sandbox: Sandbox) -> None:
    """A person re-subscribing through the hosted form (single opt-in) is subscribed again, with
    their opt-in time and IP as the evidence."""
    email = "compliance.form@example.com"
    _new_member(client, sandbox, email)
    sandbox.act(action="unsubscribe", email=email)
    signed = sandbox.act(action="signup", email=email, double_opt_in=False, ip="192.0.2.9")
    assert signed["member"]["status"] == "subscribed"
    assert signed["member"]["ip_opt"] == "192.0.2.9"
    assert signed["member"]["timestamp_opt"] == signed["member"]["last_changed"]
    assert signed["compliance"] is False


def test_an_admin_unsubscribe_can_be_undone_through_the_api(client: Any, sandbox: Sandbox) -> None:
    """A member the API unsubscribed is not in a compliance state: the API may subscribe it."""
    email = "compliance.admin@example.com"
    _new_member(client, sandbox, email)
    out = client.lists.update_list_member(sandbox.list_id, email, {"status": "unsubscribed"})
    assert out["unsubscribe_reason"] == "N/A (Unsubscribed by an admin)"
    back = client.lists.update_list_member(sandbox.list_id, email, {"status": "subscribed"})
    assert back["status"] == "subscribed"


def test_a_bounced_address_cannot_even_be_sent_a_confirmation(
    client: Any, sandbox: Sandbox
) -> None:
    """A cleaned member refuses `subscribed`, `pending` and `transactional`; an unsubscribe is
    still taken."""
    email = "compliance.bounce@example.com"
    _new_member(client, sandbox, email)
    sandbox.act(action="bounce", email=email)
    for status in ("subscribed", "pending", "transactional"):
        body = _refusal(
            lambda s=status: client.lists.update_list_member(sandbox.list_id, email, {"status": s})
        )
        assert body["title"] == "Member In Compliance State"
    out = client.lists.update_list_member(sandbox.list_id, email, {"status": "unsubscribed"})
    assert out["status"] == "unsubscribed"


def test_last_changed_moves_on_a_change_and_not_on_a_repeat(client: Any, sandbox: Sandbox) -> None:
    """A write that changes something moves last_changed; the same write again does not."""
    email = "changes@example.com"
    _new_member(client, sandbox, email, "transactional")
    first = client.lists.get_list_member(sandbox.list_id, email)["last_changed"]
    time.sleep(1.1)  # last_changed has one-second resolution, as Mailchimp's
    changed = client.lists.update_list_member(sandbox.list_id, email, {"status": "unsubscribed"})
    assert changed["last_changed"] > first
    time.sleep(1.1)
    again = client.lists.update_list_member(sandbox.list_id, email, {"status": "unsubscribed"})
    assert again["last_changed"] == changed["last_changed"]


def test_adding_an_existing_member_is_member_exists(client: Any, sandbox: Sandbox) -> None:
    """POST .../members for an address already held answers 400 "Member Exists"."""
    email = "exists@example.com"
    _new_member(client, sandbox, email)
    body = _refusal(lambda: _new_member(client, sandbox, email.upper()))
    assert body["title"] == "Member Exists"


def test_gdpr_marketing_permissions_are_kept_per_member(client: Any, sandbox: Sandbox) -> None:
    """Marketing permissions written with a member are served back with their text."""
    audience_member = client.lists.get_list_members_info(sandbox.list_id, count=1)["members"][0]
    permissions = audience_member["marketing_permissions"]
    advertising = next(p for p in permissions if p["text"] == "Customized Online Advertising")
    email = "gdpr@example.com"
    client.lists.add_list_member(
        sandbox.list_id,
        {
            "email_address": email,
            "status": "subscribed",
            "marketing_permissions": [
                {"marketing_permission_id": advertising["marketing_permission_id"], "enabled": True}
            ],
        },
    )
    held = client.lists.get_list_member(sandbox.list_id, email)["marketing_permissions"]
    assert {p["text"]: p["enabled"] for p in held} == {
        "Email": False,
        "Direct Mail": False,
        "Customized Online Advertising": True,
    }
    sandbox.act(
        action="preferences", email=email, permissions={"Customized Online Advertising": False}
    )
    held = client.lists.get_list_member(sandbox.list_id, email)["marketing_permissions"]
    assert not any(p["enabled"] for p in held)
