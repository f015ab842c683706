"""What the CRMs and the store hold, read the way the daemon reads them: do they agree yet?"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.domain.mapping import observe, targets
from consent_sync.domain.model import ConflictKind, Status
from consent_sync.store import Store
from support.daemon import Harness
from support.paths import REPO

SYSTEMS = ("salesforce", "hubspot")


def statuses(harness: Harness, system: str) -> dict[tuple[str, str], set[Status]]:
    """What one CRM holds per (email, purpose), read through the connector as the daemon reads."""
    out: dict[tuple[str, str], set[Status]] = {}
    for key, held in object_statuses(harness, system).items():
        out[key] = set().union(*held.values())
    return out


def object_statuses(harness: Harness, system: str) -> dict[tuple[str, str], dict[str, set[Status]]]:
    """What one CRM holds per (email, purpose), per object type (a Contact's box, a consent
    record), read through the connector as the daemon reads."""
    config = load_config(REPO, env=harness.sandbox.env)
    connector = build_connector(config.connectors[system], config.mappings[system])
    out: dict[tuple[str, str], dict[str, set[Status]]] = {}
    try:
        for object_type, mapping in config.mappings[system].objects.items():
            for page in connector.pull(object_type, None):
                for record in page.records:
                    mapped = observe(system, mapping, record, record.modified_at)
                    if mapped.keys.email is None or record.deleted:
                        continue
                    for o in mapped.observations:
                        held = out.setdefault((mapped.keys.email, o.purpose), {})
                        held.setdefault(object_type, set()).add(o.status)
    finally:
        connector.close()
    return out


def canonical(store: Store) -> dict[tuple[str, str], Status]:
    """The store's canonical status per (email, purpose)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.email, c.purpose, c.status FROM consent_state c "
                "JOIN subjects s ON s.id = c.subject_id"
            )
        ).all()
    return {(email, purpose): Status(status) for email, purpose, status in rows}


def mismatches(harness: Harness, store: Store) -> list[tuple[str, str, Status, set[Status]]]:
    """I2: shared (email, purpose) pairs where a CRM holds something else than the store.

    Each CRM object is held to the canonical value as its fields can say it (an opt-out box
    unticked for a grant, a consent record OptIn); a field that cannot hold the value, or a grant
    withheld for want of a legal basis, is not held to it.
    """
    config = load_config(REPO, env=harness.sandbox.env)
    held_as = targets(config.mappings)
    withheld = {
        (c.link.split("/")[0] if c.link else "", c.purpose)
        for c in store.views.conflicts(kind=ConflictKind.GRANT_NOT_REPRESENTABLE)
    }
    truth = canonical(store)
    seen = {system: object_statuses(harness, system) for system in ("salesforce", "hubspot")}
    wrong = []
    for key in sorted(set(seen["salesforce"]) & set(seen["hubspot"])):
        want = truth.get(key, Status.UNKNOWN)
        if want is Status.UNKNOWN:
            continue
        for system, per_object in seen.items():
            if want is Status.GRANTED and (system, key[1]) in withheld:
                continue
            for object_type, values in per_object[key].items():
                expected = held_as.get((system, object_type, key[1]), {}).get(want)
                if expected is not None and values != {expected}:
                    wrong.append((*key, want, values))
    return wrong


def quiescent(store: Store, since: datetime, systems: tuple[str, ...] = SYSTEMS) -> bool:
    """Nothing owed to any system, and each system's latest pull since `since` changed nothing."""
    if any(b.pending for b in store.views.backlog().values()):
        return False
    for system in systems:
        pulls = [
            r
            for r in store.views.recent_runs(system, 10)
            if r.kind == "pull" and r.finished_at is not None and r.started_at > since
        ]
        if not pulls:
            return False
        latest = pulls[0].counts
        if pulls[0].error or any(latest.get(k) for k in ("decisions", "queued", "writes_ok")):
            return False
    return True


def shared_granted_people(store: Store, count: int) -> list[str]:
    """Emails linked in both Salesforce and HubSpot whose marketing email is not opted out
    (granted or not)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.email FROM subjects s JOIN consent_state c ON c.subject_id = s.id "
                "WHERE c.purpose = 'email_marketing' AND "
                "c.status IN ('granted', 'not_opted_out') AND "
                "(SELECT COUNT(DISTINCT l.system) FROM links l "
                " WHERE l.subject_id = s.id AND l.ended_at IS NULL "
                " AND l.system IN ('salesforce', 'hubspot')) = 2 "
                "ORDER BY s.email LIMIT :n"
            ),
            {"n": count},
        ).all()
    return [email for (email,) in rows]
