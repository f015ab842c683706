"""Propagation: queue a subject's canonical value to every record of it that holds something else
(docs/design.md, "The reconciliation rule", step 6)."""

from __future__ import annotations

import uuid
from datetime import datetime

from consent_sync.domain.model import Canonical, LinkKey, Status, Targets
from consent_sync.store import queueing, snapshot
from consent_sync.store.types import utc


def propagate(
    loaded: snapshot.Snapshot,
    plan: queueing.Plan,
    subject_id: uuid.UUID,
    purpose: str,
    canonical: Canonical,
    state: snapshot.State | None,
    now: datetime,
    targets: Targets | None,
) -> int:
    """Queue the canonical value, as each field holds it, for every active link whose system
    holds something else; a field that cannot hold it is left alone."""
    if not canonical.known:
        return 0
    decided_at = utc(canonical.decided_at) if canonical.decided_at else now
    denial = canonical.status is Status.DENIED
    queued = 0
    for link in loaded.links.get(subject_id, ()):
        shadow = loaded.shadows.get((link.id, purpose))
        if not link.active or shadow is None:
            continue
        rows = loaded.outbox.setdefault((link.id, purpose), [])
        key = LinkKey(link.system, link.object_type, link.record_id)
        wanted = queueing.held_on(targets, key, purpose, canonical.status)
        if wanted is None or shadow.last_seen == wanted.value:
            if rows:  # the link holds what it can of the canonical value: nothing left to write
                plan.settled.append((link.id, purpose))
                rows.clear()
            continue
        queued += plan.queue(
            rows,
            link_id=link.id,
            system=link.system,
            purpose=purpose,
            status=wanted,
            decision_seq=state.ledger_seq if state else None,
            # The revocation clock (status, the SLA, time-to-apply) starts at the denial, or
            # when consent-sync first saw this record if that is later: a backfill does not
            # owe a CRM for the years before it knew the record.
            revoked_at=clock_start(decided_at, link) if denial else None,
            now=now,
        )
    return queued


def clock_start(decided_at: datetime, link: snapshot.Link) -> datetime:
    """When the revocation clock starts for a link: the denial, or the record's first sighting."""
    return decided_at if link.created_at is None else max(decided_at, utc(link.created_at))
