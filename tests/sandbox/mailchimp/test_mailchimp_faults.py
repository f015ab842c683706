"""The shared sandbox machinery on the Mailchimp emulator: faults in Mailchimp's error shape, the
connection limit, request counting, garbled answers, and serving beside the other emulators."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from consent_sync_sandbox.common import FaultConfig, FaultRule
from consent_sync_sandbox.mailchimp import DEFAULT_API_KEY
from consent_sync_sandbox.mailchimp.audience import AudienceSettings
from consent_sync_sandbox.mailchimp.gate import MailchimpGate
from consent_sync_sandbox.runner import DEFAULT_PORTS, start_sandbox
from support.mailchimp_emulator import Sandbox

CONTACTS = 20


def test_an_injected_429_carries_retry_after_and_a_problem_body(
    client: Any, sandbox: Sandbox
) -> None:
    """A 429 fault answers Mailchimp's "Too Many Requests" problem with the Retry-After given."""
    sandbox.emulator.faults.set(
        FaultConfig(rules=[FaultRule(path="/members$", status=429, retry_after="3", times=1)])
    )
    with sandbox.http() as http:
        first = http.get(f"/3.0/lists/{sandbox.list_id}/members")
        second = http.get(f"/3.0/lists/{sandbox.list_id}/members")
    assert first.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert first.json()["title"] == "Too Many Requests"
    assert second.status_code == 200


def test_a_5xx_reaches_the_official_client_as_an_error(client: Any, sandbox: Sandbox) -> None:
    """A 503 fault surfaces from the official client with its status and problem body."""
    sandbox.emulator.faults.set(FaultConfig(rules=[FaultRule(path="/ping", status=503)]))
    with pytest.raises(ApiClientError) as failed:
        client.ping.get()
    assert failed.value.status_code == 503
    # Injected faults are sent as application/json, which the client parses (a real
    # problem+json answer reaches it as text).
    text = failed.value.text
    body = text if isinstance(text, dict) else json.loads(text)
    assert body["status"] == 503


def test_simultaneous_connections_over_the_limit_get_429() -> None:
    """With one connection allowed, a request made while another is in flight answers 429
    "Too Many Requests"; once the first is done, the next one is admitted."""
    release = asyncio.Event()

    async def slow_api(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = MailchimpGate(
        slow_api, api_key=DEFAULT_API_KEY, settings=AudienceSettings(max_connections=1)
    )
    token = base64.b64encode(f"any:{DEFAULT_API_KEY}".encode())
    scope = {
        "type": "http",
        "path": "/3.0/ping",
        "method": "GET",
        "headers": [(b"authorization", b"Basic " + token)],
    }

    async def call() -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        await gate(scope, receive, send)
        return int(sent[0]["status"]), bytes(sent[1].get("body", b""))

    async def scenario() -> list[tuple[int, bytes]]:
        first = asyncio.create_task(call())
        await asyncio.sleep(0)  # the first request is now inside the API
        second = await call()
        release.set()
        done = await first
        return [done, second, await call()]

    # A loop of its own in a thread of its own: an earlier test's (Playwright's) may still be
    # running on this thread.
    with ThreadPoolExecutor(1) as worker:
        (first, second, third) = worker.submit(asyncio.run, scenario()).result()
    assert (first[0], second[0], third[0]) == (200, 429, 200)
    assert json.loads(second[1])["title"] == "Too Many Requests"


def test_requests_are_counted_by_route(client: Any, sandbox: Sandbox) -> None:
    """Stats count each API call under its route template; control calls are not counted."""
    with sandbox.http() as http:
        http.delete("/_sandbox/stats")
        client.lists.get_list_members_info(sandbox.list_id, count=5)
        client.lists.batch_list_members(sandbox.list_id, {"members": []})
        stats = http.get("/_sandbox/stats").json()
    assert stats["endpoints"] == {
        "GET /3.0/lists/{list_id}/members": {"200": 1},
        "POST /3.0/lists/{list_id}": {"200": 1},
    }
    assert stats["total"] == 2


def test_a_garbled_member_is_served_wrongly_until_cleared(client: Any, sandbox: Sandbox) -> None:
    """`/_sandbox/garble` serves a member's keys as given; filters still see the true values."""
    member = client.lists.get_list_members_info(sandbox.list_id, count=1)["members"][0]
    with sandbox.http() as http:
        http.put(
            "/_sandbox/garble",
            json={
                "email": member["email_address"],
                "values": {"status": "maybe", "last_changed": "soon"},
            },
        ).raise_for_status()
        garbled = client.lists.get_list_member(sandbox.list_id, member["id"])
        assert (garbled["status"], garbled["last_changed"]) == ("maybe", "soon")
        http.delete("/_sandbox/garble")
    assert client.lists.get_list_member(sandbox.list_id, member["id"])["status"] == member["status"]


def test_the_sandbox_serves_mailchimp_with_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`start_sandbox` serves the Mailchimp emulator (default port 8703) and writes the variables
    the shipped connector reads; the official client works with exactly those."""
    assert DEFAULT_PORTS["mailchimp"] == 8703
    running = start_sandbox(tmp_path, contacts=5, only=("mailchimp",))
    try:
        env = running.env
        assert set(env) == {
            "MAILCHIMP_BASE_URL",
            "MAILCHIMP_API_KEY",
            "MAILCHIMP_LIST_ID",
            "MAILCHIMP_CA_FILE",
        }
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["MAILCHIMP_CA_FILE"])
        client = mailchimp_marketing.Client()
        client.set_config({"api_key": env["MAILCHIMP_API_KEY"]})  # server from the key's suffix
        client.api_client.host = env["MAILCHIMP_BASE_URL"]
        page = client.lists.get_list_members_info(env["MAILCHIMP_LIST_ID"])
        assert page["total_items"] == 5
        assert "MAILCHIMP_API_KEY" in running.env_file.read_text()
    finally:
        running.stop()
