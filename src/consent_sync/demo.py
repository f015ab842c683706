"""The demo: both CRM sandboxes, the repository's config, a SQLite store, and a real scenario.

1. Backfill both CRMs; their disagreements are resolved by the policy (a denial wins).
2. A person clicks unsubscribe in a HubSpot email footer; the revocation reaches Salesforce,
   and the time it took is measured on the poll path.
3. A sales rep ticks the person back in in Salesforce; the grant is blocked, the conflict is
   shown as on-call sees it, and the denial is pushed back.
4. `subject show` for that person: state per purpose and the ledger timeline with evidence.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.base import Connector
from consent_sync.connectors.factory import build_connector
from consent_sync.engine import CycleReport, SyncEngine
from consent_sync.mapping import observe
from consent_sync.model import Status
from consent_sync.sandbox.runner import RunningSandbox, start_sandbox
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

MARKETING_SUBSCRIPTION = 1001  # the sandbox portal's "Marketing Information"
SYSTEMS = ("salesforce", "hubspot")
DEMO_SEED = 2026

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """The scenario did not go as the product promises."""


@dataclass
class DemoResult:
    """What the demo measured, for the summary and for tests."""

    person: str
    backfill: dict[str, CycleReport]
    propagation_s: float
    conflict_id: int
    pushed_back: bool


@dataclass
class _Stage:
    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine

    def control(self, system: str) -> httpx.Client:
        trust = ssl.create_default_context(cafile=str(self.sandbox.tls.ca_pem))
        return httpx.Client(base_url=self.sandbox.base_url(system), verify=trust, timeout=30)

    def salesforce_opted_out(self, email: str) -> bool:
        with self.control("salesforce") as sf:
            records: list[dict[str, Any]] = sf.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        live = [r for r in records if not r.get("IsDeleted")]
        return bool(live) and all(r["HasOptedOutOfEmail"] is True for r in live)


@contextmanager
def staged(work_dir: Path, contacts: int, config_dir: Path) -> Iterator[_Stage]:
    """Sandboxes, config, connectors, a fresh SQLite store and an engine; all torn down after."""
    work_dir.mkdir(parents=True, exist_ok=True)
    db = work_dir / "consent-sync.db"
    for stale in work_dir.glob("consent-sync.db*"):
        stale.unlink()
    sandbox = start_sandbox(work_dir / "sandbox", contacts=contacts, seed=DEMO_SEED)
    connectors: dict[str, Connector] = {}
    try:
        engine = create_store_engine(f"sqlite:///{db}")
        upgrade(engine)
        engine.dispose()
        config = load_config(config_dir, env=sandbox.env)
        connectors = {
            name: build_connector(config.connectors[name], config.mappings[name])
            for name in SYSTEMS
        }
        with Store.open(f"sqlite:///{db}") as store:
            yield _Stage(sandbox, config, connectors, store, SyncEngine(store, config, connectors))
    finally:
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def run_demo(stage: _Stage, say: Say) -> DemoResult:
    """Play the scenario on a staged world, narrating through `say`."""
    backfill = _backfill(stage, say)
    person = _pick_person(stage)
    propagation = _unsubscribe_in_hubspot(stage, person, say)
    conflict_id, pushed_back = _rep_reticks_in_salesforce(stage, person, say)
    return DemoResult(person, backfill, propagation, conflict_id, pushed_back)


def _backfill(stage: _Stage, say: Say) -> dict[str, CycleReport]:
    say("1. Backfill: reading every contact of both CRMs and reconciling them")
    reports: dict[str, CycleReport] = {}
    for round_ in range(3):
        quiet = True
        for system in SYSTEMS:
            report = stage.engine.cycle(system)
            if round_ == 0:
                reports[system] = report
            quiet = quiet and report.decisions == 0 and report.writes_ok == 0
            say(f"   {_summary(report)}")
        if quiet:
            break
    disagreements = sum(r.conflicts.get("initial_disagreement", 0) for r in reports.values())
    say(
        f"   {disagreements} people disagreed between the CRMs at first sight; for each, the "
        "denial was adopted and pushed to the other CRM (initial_disagreement, info)"
    )
    return reports


def _pick_person(stage: _Stage) -> str:
    holds: dict[str, dict[str, set[Status]]] = {}
    for system in SYSTEMS:
        connector = stage.connectors[system]
        for object_type, mapping in stage.config.mappings[system].objects.items():
            for page in connector.pull(object_type, None):
                for record in page.records:
                    mapped = observe(system, mapping, record, record.modified_at)
                    for o in mapped.observations:
                        if mapped.keys.email and o.purpose == "email_marketing":
                            holds.setdefault(mapped.keys.email, {}).setdefault(system, set()).add(
                                o.status
                            )
    for email, by_system in sorted(holds.items()):
        if all(by_system.get(s) == {Status.GRANTED} for s in SYSTEMS):
            return email
    raise DemoError("no person is subscribed to marketing email in both CRMs")


def _unsubscribe_in_hubspot(stage: _Stage, person: str, say: Say) -> float:
    say(f"2. {person} clicks 'unsubscribe' in a HubSpot marketing email footer")
    with stage.control("hubspot") as hs:
        response = hs.post(
            "/_sandbox/act",
            json={
                "action": "unsubscribe",
                "email": person,
                "subscription_id": MARKETING_SUBSCRIPTION,
            },
        )
        response.raise_for_status()
    started = time.monotonic()
    for _ in range(10):
        for system in ("hubspot", "salesforce"):
            stage.engine.cycle(system)
        if stage.salesforce_opted_out(person):
            elapsed = time.monotonic() - started
            say(
                f"   Salesforce now shows HasOptedOutOfEmail = true for {person}: "
                f"{elapsed:.2f} s after the click (one poll cycle of each CRM)"
            )
            return elapsed
    raise DemoError("the revocation did not reach Salesforce")


def _rep_reticks_in_salesforce(stage: _Stage, person: str, say: Say) -> tuple[int, bool]:
    say("3. A sales rep unticks 'Email Opt Out' for that person in Salesforce")
    with stage.control("salesforce") as sf:
        response = sf.post(
            "/_sandbox/act",
            json={"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
        )
        response.raise_for_status()
    stage.engine.cycle("salesforce")
    subject = stage.store.subject(person)
    blocked = [
        c
        for c in stage.store.conflicts(open_only=True)
        if c.kind == "grant_blocked" and c.subject_id == subject.subject.id
    ]
    if not blocked:
        raise DemoError("the re-grant was not blocked")
    conflict = blocked[-1]
    say(f"   The grant is blocked. On-call sees (consent-sync conflicts show {conflict.id}):")
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
    pushed_back = stage.salesforce_opted_out(person)
    say(
        "   ...and the denial was pushed back: Salesforce shows HasOptedOutOfEmail = "
        f"{str(pushed_back).lower()}"
    )
    if conflict.id is None:
        raise DemoError("the conflict has no id")
    return conflict.id, pushed_back


def _summary(report: CycleReport) -> str:
    return (
        f"{report.system}: {report.records_read} records, {report.decisions} decisions, "
        f"{report.writes_ok} writes, {report.api_calls} API calls, {report.duration_s:.1f} s"
    )
