"""The console over HTTP against an in-process server on a migrated SQLite file.

Its doors: no session means the sign-in page (by a path-only redirect whatever Host the request
names), a form without its CSRF token is refused, the cookie is HttpOnly and SameSite=Strict, a
read token looks but cannot change anything, revoking a token ends its sessions. Its actions: a
resolution is a `manual:<token name>` decision that wakes the pushers, a dead letter is retried,
a person is found by email (shown in full only on their page), and the chart puts a revocation
slower than the SLA above the SLA's line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from consent_sync.api import ApiContext
from consent_sync.config import load_purposes
from consent_sync.console import ConsoleContext, mount_console
from consent_sync.console.overview import Point, chart
from consent_sync.daemon.http import HttpServer
from consent_sync.domain.model import Status
from consent_sync.store import Scope, Store
from support.paths import REPO
from support.ports import free_port
from support.store_builders import EMAIL, HS, SF, at, ingest, seen

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGES = ("/console/", "/console/conflicts", "/console/subjects", "/console/runs", "/console/dead")


@dataclass
class Console:
    """The console on a free port, with a token of each scope."""

    store: Store
    base_url: str
    tokens: dict[Scope, str]
    woken: list[int]  # one entry per wake of the pushers

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def signed_in(self, scope: Scope) -> tuple[httpx.Client, str]:
        """A client signed in with the token of `scope`, and its session's CSRF token."""
        client = self.client()
        form = client.get("/console/login")
        login_csrf = CSRF.search(form.text)
        assert login_csrf is not None
        done = client.post(
            "/console/login", data={"token": self.tokens[scope], "csrf": login_csrf.group(1)}
        )
        assert done.status_code == 303 and done.headers["location"] == "/console/"
        page = client.get("/console/ledger")
        found = CSRF.search(page.text)
        assert page.status_code == 200 and found is not None
        return client, found.group(1)


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with Store.open(sqlite_url) as store:
        now = datetime.now(UTC)
        tokens = {scope: store.tokens.create(f"t-{scope.value}", scope, now) for scope in Scope}
        woken: list[int] = []
        api = ApiContext(
            store,
            load_purposes(REPO),
            ("salesforce", "hubspot"),
            wake_pushers=lambda: woken.append(1),
        )
        app = FastAPI()
        mount_console(app, ConsoleContext(api, {"salesforce": 900.0, "hubspot": 900.0}))
        server = HttpServer(app, "127.0.0.1", free_port())
        server.start()
        try:
            yield Console(store, f"http://127.0.0.1:{server.server.config.port}", tokens, woken)
        finally:
            server.stop()


def test_without_a_session_every_page_sends_to_sign_in_by_a_path(console: Console) -> None:
    """Each page redirects to /console/login with a path-only Location, even for a forged Host."""
    with console.client() as client:
        for path in PAGES:
            answer = client.get(path, headers={"Host": "evil.example"})
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/console/login", path
        assert client.get("/console").headers["location"] == "/console/"
        assert client.get("/console/login").status_code == 200


def test_sign_in_sets_a_strict_http_only_cookie_and_a_wrong_token_is_refused(
    console: Console,
) -> None:
    """The session cookie is HttpOnly, SameSite=Strict, scoped to /console, not Secure over
    plain HTTP; a wrong token gets the form again with 401 and no session."""
    with console.client() as client:
        form = client.get("/console/login")
        csrf = CSRF.search(form.text)
        assert csrf is not None
        wrong = client.post("/console/login", data={"token": "cst_nope", "csrf": csrf.group(1)})
        assert wrong.status_code == 401 and "not a live token" in wrong.text
        assert "consent_sync_console=" not in wrong.headers.get("set-cookie", "")
        csrf = CSRF.search(wrong.text)
        assert csrf is not None
        done = client.post(
            "/console/login", data={"token": console.tokens[Scope.READ], "csrf": csrf.group(1)}
        )
        cookie = next(
            c for c in done.headers.get_list("set-cookie") if c.startswith("consent_sync_console=")
        )
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/console"} <= attributes
        assert "secure" not in attributes
        assert console.tokens[Scope.READ] not in cookie


def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    """Sign-in, verify and sign-out without the form's CSRF token: 403, and nothing happens."""
    with console.client() as client:
        client.get("/console/login")
        refused = client.post("/console/login", data={"token": console.tokens[Scope.ADMIN]})
        assert refused.status_code == 403
        assert client.get("/console/").status_code == 303  # still not signed in
    client, csrf = console.signed_in(Scope.ADMIN)
    with closing(client):
        assert client.post("/console/ledger/verify", data={}).status_code == 403
        assert "Not verified by this process yet" in client.get("/console/ledger").text
        assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
        assert client.get("/console/").status_code == 200  # still signed in
        assert client.post("/console/ledger/verify", data={"csrf": csrf}).status_code == 303
        assert "verified" in client.get("/console/ledger").text
        assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
        assert client.get("/console/").headers["location"] == "/console/login"


def test_a_read_token_looks_but_may_not_resolve_or_retry(console: Console) -> None:
    """Every page opens for a read token; resolving and retrying answer 403."""
    client, csrf = console.signed_in(Scope.READ)
    with closing(client):
        for path in PAGES:
            assert client.get(path).status_code == 200, path
        resolve = client.post(
            "/console/conflicts/1/resolve",
            data={"csrf": csrf, "decision": "granted", "note": "x"},
        )
        assert resolve.status_code == 403 and "may look" in resolve.text
        assert client.post("/console/dead/1/retry", data={"csrf": csrf}).status_code == 403


def test_revoking_the_token_ends_its_sessions(console: Console) -> None:
    """`token revoke` locks a signed-in browser out at its next request."""
    client, _csrf = console.signed_in(Scope.WRITE)
    with closing(client):
        assert client.get("/console/").status_code == 200
        console.store.tokens.revoke("t-write", datetime.now(UTC))
        answer = client.get("/console/")
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"


def _blocked_grant(store: Store) -> int:
    """A HubSpot grant older than the denial: one open grant_blocked conflict; its id."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    (conflict,) = store.views.conflicts(open_only=True)
    assert conflict.id is not None
    return conflict.id


def test_a_resolution_is_a_manual_decision_that_wakes_the_pushers(console: Console) -> None:
    """Resolved as granted with a note: the conflict names the token, the ledger's newest row
    is `manual:t-write` with the note, writes are queued and the pushers woken; a second
    resolution of the same conflict is refused on the page, not a 5xx."""
    conflict_id = _blocked_grant(console.store)
    client, csrf = console.signed_in(Scope.WRITE)
    with closing(client):
        queue = client.get("/console/conflicts", params={"kind": "grant_blocked"}).text
        assert f'href="/console/conflicts/{conflict_id}"' in queue
        assert EMAIL not in queue
        bad = client.post(
            f"/console/conflicts/{conflict_id}/resolve",
            data={"csrf": csrf, "decision": "granted", "note": ""},
        )
        assert bad.status_code == 422 and "Say why" in bad.text
        done = client.post(
            f"/console/conflicts/{conflict_id}/resolve",
            data={"csrf": csrf, "decision": "granted", "note": "confirmed by phone"},
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/conflicts/{conflict_id}"
        assert "resolved by manual:t-write" in client.get(done.headers["location"]).text
        again = client.post(
            f"/console/conflicts/{conflict_id}/resolve",
            data={"csrf": csrf, "decision": "denied", "note": "twice"},
        )
        assert again.status_code == 409
    row = console.store.views.conflict(conflict_id)
    assert row.status == "resolved" and row.resolved_by == "t-write"
    newest = console.store.views.subject(EMAIL).timeline[-1]
    assert newest.source == "manual:t-write" and newest.evidence["note"] == "confirmed by phone"
    assert console.woken


def test_a_dead_letter_is_shown_and_retried(console: Console) -> None:
    """The refused write is listed with its error; Retry queues it again and wakes the pushers."""
    store = console.store
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(HS, Status.DENIED, 5)], 6)
    (item,) = store.outbox.due("salesforce", 10, at(7))
    store.outbox.mark_dead(item, "INVALID_FIELD_FOR_INSERT_UPDATE: HasOptedOutOfEmail", at(8))
    client, csrf = console.signed_in(Scope.WRITE)
    with closing(client):
        listed = client.get("/console/dead").text
        assert "INVALID_FIELD_FOR_INSERT_UPDATE" in listed and f"Retry write {item.id}" in listed
        done = client.post(f"/console/dead/{item.id}/retry", data={"csrf": csrf})
        assert done.status_code == 303
        assert f"Write #{item.id} is queued again" in client.get(done.headers["location"]).text
        assert client.post("/console/dead/999999/retry", data={"csrf": csrf}).status_code == 404
    assert store.browse.dead_letters() == []
    assert console.woken == [1]


def test_a_person_is_found_by_email_and_shown_in_full_only_on_their_page(
    console: Console,
) -> None:
    """The search is a POST to the person's page at their subject id (no email in the URL),
    which shows the email, the state per purpose and the timeline's sources."""
    ingest(console.store, [seen(SF, Status.DENIED, 10)], 11)
    client, csrf = console.signed_in(Scope.READ)
    with closing(client):
        found = client.post("/console/subjects", data={"csrf": csrf, "email": EMAIL.upper()})
        assert found.status_code == 303 and EMAIL not in found.headers["location"]
        page = client.get(found.headers["location"]).text
        assert EMAIL in page and "email_marketing" in page and "denial" in page
        missing = client.post("/console/subjects", data={"csrf": csrf, "email": "no@example.com"})
        assert missing.status_code == 404 and "Nobody has it" in missing.text
        assert EMAIL not in client.get("/console/").text


def test_the_chart_puts_a_revocation_slower_than_the_sla_above_its_line() -> None:
    """On the log scale a 20-minute revocation is above a 15-minute SLA, a 300 ms one below;
    one applied before the last 24 hours is not drawn."""
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    points = [
        Point("salesforce", now - timedelta(hours=1), 1200.0),
        Point("hubspot", now - timedelta(hours=2), 0.3),
        Point("hubspot", now - timedelta(hours=30), 5.0),
    ]
    drawn = chart(points, ["salesforce", "hubspot"], 900.0, now)
    assert drawn.sla_y is not None
    slow, fast = drawn.marks
    assert slow.y < drawn.sla_y < fast.y  # SVG's y grows downwards
    assert slow.series != fast.series
    assert "salesforce: 20 min" in slow.label


def test_a_run_lists_the_records_it_rejected_and_why(console: Console) -> None:
    """The push run during which Salesforce refused a write: its counts in the history, and on
    its page the record and Salesforce's reason."""
    store = console.store
    started = datetime.now(UTC)
    run_id = store.coordination.start_run("salesforce", "push", started, "vm:4242:1a2b3c4d")
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(HS, Status.DENIED, 5)], 6)
    (item,) = store.outbox.due("salesforce", 10, started)
    store.outbox.mark_dead(item, "FIELD_INTEGRITY_EXCEPTION", started + timedelta(seconds=1))
    store.coordination.finish_run(run_id, {"writes_dead": 1}, None, started + timedelta(seconds=2))
    client, _csrf = console.signed_in(Scope.READ)
    with closing(client):
        history = client.get("/console/runs", params={"system": "salesforce"}).text
        assert f'href="/console/runs/{run_id}"' in history and "writes_dead 1" in history
        page = client.get(f"/console/runs/{run_id}").text
        assert "Records rejected (1)" in page
        assert "<dt>Ran by</dt><dd>vm:4242:1a2b3c4d</dd>" in page
        assert str(SF) in page and "FIELD_INTEGRITY_EXCEPTION" in page
