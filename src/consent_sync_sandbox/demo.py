"""The demo: both CRM sandboxes, the repository's config, a SQLite store, and a real scenario.

1. Backfill both CRMs, seeded as real portals are (most people never asked); disagreements are
   resolved by the policy (a denial wins), and an unticked opt-out box is read as "not opted out",
   never as consent: the only opt-ins written are explicit grants with their legal basis.
2. A person who opted in clicks unsubscribe in a HubSpot email footer; the revocation reaches
   Salesforce, and the time it took is measured on the poll path.
3. A sales rep unticks "Email Opt Out" in Salesforce. That is not an opt-in: the denial stands,
   the attempt is shown as on-call sees it, and the box is ticked again.
4. `subject show` for that person: state per purpose and the ledger timeline with evidence.

With `--serve`, the daemon then keeps running with its HTTP app, and the demo prints the on-call
console's URL and a fresh write token: the blocked re-grant of step 3 waits in its queue.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import text

from consent_sync.api import ApiContext, create_api
from consent_sync.console import ConsoleContext, mount_console
from consent_sync.daemon.http import HttpServer, health_app
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.mapping import targets
from consent_sync.store import Scope
from consent_sync.store.tables import ConflictRow, SyncRunRow
from consent_sync_sandbox.stage import SYSTEMS, Stage

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """The scenario did not go as the product promises."""


@dataclass
class DemoResult:
    """What the demo measured, for the summary and for tests."""

    person: str
    backfill: dict[str, dict[str, int]]
    propagation_s: float
    conflict_id: int
    pushed_back: bool


def _daemon(stage: Stage, pull_interval: float) -> tuple[SyncMetrics, SyncScheduler]:
    """The daemon's scheduler over the demo's store, pushing as often as it pulls."""
    metrics = SyncMetrics(stage.store, SYSTEMS)
    scheduler = SyncScheduler(
        stage.store,
        stage.config,
        stage.connectors,
        Leases(stage.store),
        metrics,
        pull_interval=pull_interval,
        push_interval=pull_interval,
    )
    return metrics, scheduler


def run_demo(stage: Stage, say: Say, *, pull_interval: float = 1.0) -> DemoResult:
    """Play the scenario with the daemon's scheduler running in-process, narrating via `say`."""
    _, scheduler = _daemon(stage, pull_interval)
    say(f"   the daemon runs in-process: pull every {pull_interval:g} s per CRM, push when woken")
    scheduler.start()
    try:
        backfill = _backfill(stage, say)
        person = _pick_person(stage)
        propagation = _unsubscribe_in_hubspot(stage, person, say)
        conflict_id, pushed_back = _rep_reticks_in_salesforce(stage, person, say)
    finally:
        scheduler.stop(grace=15)
    return DemoResult(person, backfill, propagation, conflict_id, pushed_back)


def _wait(what: str, done: Callable[[], bool], timeout: float = 120.0) -> float:
    """Seconds until `done()` holds, polling; DemoError after `timeout`."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _pull_runs(stage: Stage) -> dict[str, list[SyncRunRow]]:
    runs: dict[str, list[SyncRunRow]] = {system: [] for system in SYSTEMS}
    for run in stage.store.views.recent_runs(limit=500):
        if run.kind == "pull" and run.finished_at is not None and run.system in runs:
            runs[run.system].append(run)
    return runs


def _quiet(stage: Stage) -> bool:
    """Every CRM's last two pulls decided and wrote nothing, and no write is pending."""
    runs = _pull_runs(stage)
    for system, pulls in runs.items():
        if len(pulls) < 2 or any(
            r.error or r.counts.get("decisions") or r.counts.get("writes_ok") for r in pulls[:2]
        ):
            return False
        if stage.store.outbox.pending(system, 1, datetime.now(UTC)):
            return False
    return True


def _backfill(stage: Stage, say: Say) -> dict[str, dict[str, int]]:
    say("1. Backfill: the daemon reads every contact of both CRMs and reconciles them")
    seconds = _wait("the backfill to settle", lambda: _quiet(stage), timeout=600)
    totals: dict[str, dict[str, int]] = {}
    for system, pulls in _pull_runs(stage).items():
        total: dict[str, int] = {}
        for run in pulls:
            for key, value in run.counts.items():
                total[key] = total.get(key, 0) + value
        total["records_read"] = pulls[-1].counts.get("records_read", 0) if pulls else 0
        totals[system] = total
        say(
            f"   {system}: {total['records_read']} records in the first pass, "
            f"{total.get('decisions', 0)} decisions, {total.get('writes_ok', 0)} writes, "
            f"{total.get('api_calls', 0)} API calls in {len(pulls)} pulls"
        )
    disagreements = sum(t.get("conflicts.initial_disagreement", 0) for t in totals.values())
    say(
        f"   settled in {seconds:.1f} s. {disagreements} people disagreed between the CRMs at "
        "first sight; for each the denial was adopted and pushed to the other CRM "
        "(initial_disagreement, info)"
    )
    counts = _email_states(stage)
    say(
        f"   marketing email: {counts.get('granted', 0)} explicit grants (HubSpot SUBSCRIBED "
        f"with a legal basis), {counts.get('not_opted_out', 0)} only 'not opted out' (an "
        f"unticked box: no consent), {counts.get('denied', 0)} opted out; "
        f"{_optins_written(stage)} opt-ins written (only ever with the legal basis their "
        "decision recorded; none from an unticked box)"
    )
    return totals


def _email_states(stage: Stage) -> dict[str, int]:
    with stage.store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT status, COUNT(*) FROM consent_state "
                "WHERE purpose = 'email_marketing' GROUP BY status"
            )
        ).all()
    return {str(status): int(count) for status, count in rows}


def _optins_written(stage: Stage) -> int:
    with stage.store.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT COUNT(*) FROM deliveries WHERE status = 'granted'")
            ).scalar_one()
        )


def _pick_person(stage: Stage) -> str:
    """A person both CRMs hold who opted in to marketing email (explicitly, in HubSpot)."""
    for email in stage.shared_agreeing_emails():
        view = stage.store.views.subject(email)
        state = {s.purpose: s.status for s in view.states}
        if state.get("email_marketing") == "granted" and not stage.salesforce_opted_out(email):
            return view.subject.email
    raise DemoError("no person is subscribed to marketing email in both CRMs")


def _unsubscribe_in_hubspot(stage: Stage, person: str, say: Say) -> float:
    say(f"2. {person} clicks 'unsubscribe' in a HubSpot marketing email footer")
    stage.unsubscribe_in_hubspot(person)
    elapsed = _wait(
        "the revocation to reach Salesforce", lambda: stage.salesforce_opted_out(person)
    )
    say(
        f"   Salesforce shows HasOptedOutOfEmail = true for {person} {elapsed:.2f} s after the "
        "click (poll path: HubSpot's next pull decided it, the pusher wrote it to Salesforce)"
    )
    return elapsed


def _rep_reticks_in_salesforce(stage: Stage, person: str, say: Say) -> tuple[int, bool]:
    say("3. A sales rep unticks 'Email Opt Out' for that person in Salesforce")
    say(
        "   An unticked box only says nobody objects: it is not an opt-in, so it cannot lift "
        "the person's unsubscribe"
    )
    with stage.control("salesforce") as sf:
        response = sf.post(
            "/_sandbox/act",
            json={"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
        )
        response.raise_for_status()
    subject = stage.store.views.subject(person)

    def blocked() -> list[ConflictRow]:
        return [
            c
            for c in stage.store.views.conflicts(open_only=True)
            if c.kind == "grant_blocked" and c.subject_id == subject.subject.id
        ]

    _wait("the attempt to be judged", lambda: bool(blocked()))
    conflict = blocked()[-1]
    say(
        "   The unsubscribe stands (grant_blocked: not a grant). On-call sees "
        f"(consent-sync conflicts show {conflict.id}):"
    )
    shown = {
        "id": conflict.id,
        "kind": conflict.kind,
        "severity": conflict.severity,
        "purpose": conflict.purpose,
        "link": conflict.link,
        "rule": conflict.rule,
        "message": conflict.message,
        "sides": conflict.sides,
    }
    for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines():
        say(f"     {line}")
    try:
        _wait("the denial to be pushed back", lambda: stage.salesforce_opted_out(person), 60)
        pushed_back = True
    except DemoError:
        pushed_back = False
    say(
        "   ...and the denial was pushed back: Salesforce shows HasOptedOutOfEmail = "
        f"{str(pushed_back).lower()}"
    )
    if conflict.id is None:
        raise DemoError("the conflict has no id")
    return conflict.id, pushed_back


def serve_console(
    stage: Stage,
    say: Say,
    stop: threading.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    pull_interval: float = 1.0,
) -> None:
    """Keep the daemon running on the demo's store, with its HTTP app (health, metrics, /api/v1
    and the console), until `stop` is set; print the console's URL and a fresh write token."""
    metrics, scheduler = _daemon(stage, pull_interval)

    def wake_pushers() -> None:
        for system in scheduler.systems:
            scheduler.wake_push(system)

    api = ApiContext(
        stage.store,
        stage.config.purposes,
        scheduler.systems,
        targets(stage.config.mappings),
        wake_pushers=wake_pushers,
        quota=lambda system: stage.connectors[system].quota(),
    )
    slas = {name: stage.config.connectors[name].limits.revocation_sla_seconds for name in SYSTEMS}
    app = health_app(stage.store.engine, metrics.registry, lambda: scheduler.running)
    mount_console(
        app,
        ConsoleContext(
            api,
            slas,
            daemon_verified=lambda: _verified(metrics.ledger.result),
            report_verified=metrics.ledger_verified,
        ),
    )
    app.mount("/", create_api(api))
    server = _listening(app, host, port)
    scheduler.start()
    try:
        token = stage.store.tokens.create("demo-oncall", Scope.WRITE, datetime.now(UTC))
        bound = server.server.config.port
        say("")
        say("The daemon keeps running with its HTTP app. On-call console:")
        say(f"   http://{host}:{bound}/console/  (API: http://{host}:{bound}/api/v1)")
        say(
            "   sign in with this write token (shown once; revoke: "
            "`consent-sync token revoke demo-oncall`):"
        )
        say(token)
        say("Serving until Ctrl-C.")
        stop.wait()
    finally:
        scheduler.stop(grace=15)
        server.stop()


def _listening(app: FastAPI, host: str, port: int) -> HttpServer:
    """The app served on `port`, or on a free port when that one is taken."""
    try:
        server = HttpServer(app, host, port)
        server.start()
    except OSError:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        server = HttpServer(app, host, port)
        server.start()
    return server


def _verified(result: tuple[bool, float] | None) -> tuple[bool, datetime] | None:
    return None if result is None else (result[0], datetime.fromtimestamp(result[1], UTC))
