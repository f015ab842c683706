"""/api/v1 served by a real `consent-sync run` against both sandboxes, with tokens made by
`consent-sync token create`: decisions reach both CRMs, conflicts resolve and propagate, and
schemathesis finds no 5xx and no response outside its schema."""

from __future__ import annotations

import itertools
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from consent_sync.store import Store
from support.convergence import quiescent, shared_granted_people
from support.daemon import Daemon, Harness
from support.paths import CONSENT_SYNC
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 120
SANDBOX_SEED = 11


def token_create(harness: Harness, name: str, scope: str) -> subprocess.CompletedProcess[str]:
    """`consent-sync token create` against the harness's store."""
    return subprocess.run(
        [CONSENT_SYNC, "token", "create", "--name", name, "--scope", scope],
        env=harness.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def new_token(harness: Harness, name: str, scope: str) -> str:
    """A token made by the CLI: its stdout's last line."""
    done = token_create(harness, name, scope)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def started(harness: Harness) -> tuple[Daemon, Store]:
    """A daemon that has backfilled both sandboxes, and the store it works on."""
    daemon = harness.daemon()
    daemon.wait_ready()
    store = Store.open(harness.database_url)
    wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 90, "backfill")
    return daemon, store


def api(daemon: Daemon, token: str) -> httpx.Client:
    """An HTTP client for the daemon's API, with `token`."""
    return httpx.Client(
        base_url=daemon.url(""), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_token_create_prints_it_once_and_stores_only_a_hash(harness: Harness) -> None:
    """The token is alone on the last line; the database holds no copy; it opens /api/v1 and,
    with --metrics-auth, /metrics; revoking it locks it out of both."""
    done = token_create(harness, "preference-centre", "write")
    assert done.returncode == 0, done.stderr
    token = done.stdout.splitlines()[-1]
    assert token.startswith("cst_") and " " not in token and len(token) > 40
    assert done.stdout.count(token) == 1
    store = Store.open(harness.database_url)
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).all()
    assert len(rows) == 1 and all(token not in str(value) for value in rows[0])
    listing = subprocess.run(
        [CONSENT_SYNC, "token", "list"], env=harness.env(), capture_output=True, text=True
    )
    assert "preference-centre" in listing.stdout and token not in listing.stdout
    assert token_create(harness, "preference-centre", "read").returncode == 2  # name taken
    daemon = harness.daemon("--metrics-auth")
    daemon.wait_ready()
    assert daemon.get("/metrics").status_code == 401
    with api(daemon, token) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/v1/systems").status_code == 200
        revoked = subprocess.run(
            [CONSENT_SYNC, "token", "revoke", "preference-centre"],
            env=harness.env(),
            capture_output=True,
            text=True,
        )
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/api/v1/systems").status_code == 401
        assert client.get("/metrics").status_code == 401
    assert daemon.get("/healthz").status_code == 200  # still open
    store.close()
    assert daemon.terminate() == 0


def _unsubscribed_everywhere(harness: Harness, person: str) -> bool:
    records = harness.salesforce_records(person)
    held = harness.hubspot_contact(person)["subscriptions"].get(str(MARKETING), {})
    return (
        bool(records)
        and all(r["HasOptedOutOfEmail"] is True for r in records)
        and held.get("status") == "UNSUBSCRIBED"
    )


def test_a_denial_posted_reaches_both_crms_and_a_resolution_propagates(harness: Harness) -> None:
    """An unsubscribe POSTed to the API lands in Salesforce and HubSpot; when a rep unticks the
    box, the grant_blocked conflict resolved through the API as granted unticks it for good; the
    daemon's log holds neither the tokens nor the person's email."""
    writer = new_token(harness, "unsubscribe-page", "write")
    oncall = new_token(harness, "oncall", "write")
    daemon, store = started(harness)
    person = shared_granted_people(store, 1)[0]
    body: dict[str, Any] = {
        "email": person,
        "purpose": "email_marketing",
        "status": "denied",
        "evidence": {"collection_method": "unsubscribe_link", "actor": "subject"},
    }
    with api(daemon, writer) as client:
        answer = client.post("/api/v1/consents", json=body, headers={"Idempotency-Key": "u-1"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["queued"] >= 2
    wait_for(lambda: _unsubscribed_everywhere(harness, person), 30, "the denial in both CRMs")

    with api(daemon, oncall) as client:
        subject = client.get("/api/v1/subjects", params={"email": person}).json()
        (revocation,) = [r for r in subject["revocations"] if r["purpose"] == "email_marketing"]
        assert revocation["source"] == "api:unsubscribe-page"
        assert {"salesforce", "hubspot"} <= {a["system"] for a in revocation["applied"]}
        harness.act(
            "salesforce",
            {"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
        )

        def blocked() -> list[dict[str, Any]]:
            page = client.get(
                "/api/v1/conflicts", params={"status": "open", "kind": "grant_blocked"}
            ).json()
            return [c for c in page["items"] if c["subject_id"] == subject["id"]]

        wait_for(lambda: bool(blocked()), 30, "the rep's untick to be blocked")
        conflict = blocked()[0]
        resolved = client.post(
            f"/api/v1/conflicts/{conflict['id']}/resolve",
            json={"status": "granted", "note": "customer confirmed by phone"},
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["conflict"]["resolved_by"] == "oncall"
        timeline = client.get("/api/v1/subjects", params={"email": person}).json()["timeline"]
        assert timeline[-1]["source"] == "manual:oncall"
        assert timeline[-1]["evidence"]["note"] == "customer confirmed by phone"

    def unticked() -> bool:
        records = harness.salesforce_records(person)
        return bool(records) and all(r["HasOptedOutOfEmail"] is False for r in records)

    wait_for(unticked, 30, "the resolution in Salesforce")
    since = datetime.now(UTC)
    wait_for(lambda: quiescent(store, since), 30, "quiet after the resolution")
    assert unticked()
    store.close()
    assert daemon.terminate() == 0
    logged = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert logged  # the daemon did log, just none of this:
    assert all(secret not in logged for secret in (writer, oncall, person, person.split("@")[0]))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(operation: Any, mode: GenerationMode, base: str, token: str, seen: Counter[int]) -> None:
    """Up to 20 generated requests of `mode` to one operation, each response checked."""

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )
        seen[response.status_code] += 1

    run()


def test_schemathesis_finds_no_5xx_and_no_response_outside_its_schema(harness: Harness) -> None:
    """Valid and invalid requests generated for every operation of the served /openapi.json,
    with an admin token: never a 5xx; every status, content type, header and body as declared."""
    token = new_token(harness, "fuzz", "admin")
    daemon = harness.daemon()
    daemon.wait_ready()
    schema = schemathesis.openapi.from_url(daemon.url("/openapi.json"))
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    assert len(operations) >= 10
    for operation, mode in itertools.product(operations, GenerationMode):
        name = f"{operation.method.upper()} {operation.path} ({mode.value})"
        fuzz(operation, mode, daemon.url(""), token, statuses[name])
    for name, seen in sorted(statuses.items()):
        print(f"\n{name}: {dict(sorted(seen.items()))}")
    assert daemon.ready()
    assert daemon.terminate() == 0
