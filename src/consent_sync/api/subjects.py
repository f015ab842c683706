"""A subject as /api/v1 shows it: the store's `SubjectView` (what `subject show` prints) plus,
per revocation in the ledger, when each linked system applied it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from consent_sync.api.schemas import (
    AppliedOut,
    LinkOut,
    PendingOut,
    RevocationOut,
    StateOut,
    SubjectOut,
    TimelineOut,
)
from consent_sync.domain.model import Purpose, Status
from consent_sync.store import SubjectView
from consent_sync.store.browse import AppliedRevocation

Kind = Literal["explicit_grant", "no_objection", "denial", "unknown"]
#: What kind of state each status is (docs/design.md, "What a grant is").
KINDS: dict[Status, Kind] = {
    Status.GRANTED: "explicit_grant",
    Status.NOT_OPTED_OUT: "no_objection",
    Status.DENIED: "denial",
    Status.UNKNOWN: "unknown",
}


def subject_out(
    view: SubjectView, applied: Sequence[AppliedRevocation], purposes: Mapping[str, Purpose]
) -> SubjectOut:
    """The subject with its state, links, revocations (and where they landed) and timeline."""
    by_seq: dict[int, list[AppliedOut]] = {}
    for delivery in applied:
        lag = (
            (delivery.applied_at - delivery.revoked_at).total_seconds()
            if delivery.revoked_at is not None
            else None
        )
        by_seq.setdefault(delivery.decision_seq, []).append(
            AppliedOut(
                system=delivery.link.system,
                link=str(delivery.link),
                applied_at=delivery.applied_at,
                time_to_apply_s=lag,
            )
        )
    states = []
    for s in view.states:
        status = Status(s.status)
        purpose = purposes.get(s.purpose)
        states.append(
            StateOut(
                purpose=s.purpose,
                status=status.value,
                kind=KINDS[status],
                explicit=status.explicit,
                permitted=purpose.permits(status) if purpose else None,
                regime=purpose.regime.value if purpose else None,
                decided_at=s.decided_at,
                time_kind=s.time_kind,
                source=s.source,
                imported=s.imported,
                ledger_seq=s.ledger_seq,
            )
        )
    return SubjectOut(
        id=view.subject.id,
        email=view.subject.email,
        created_at=view.subject.created_at,
        state=states,
        links=[
            LinkOut(
                system=link.system,
                object_type=link.object_type,
                record_id=link.record_id,
                active=link.active,
                linked_at=link.created_at,
                ended_at=link.ended_at,
            )
            for link in view.links
        ],
        revocations=[
            RevocationOut(
                ledger_seq=row.seq,
                purpose=row.purpose,
                decided_at=row.decided_at,
                source=row.source,
                applied=by_seq.get(row.seq, []),
            )
            for row in view.timeline
            if row.status == Status.DENIED.value
        ],
        pending_writes=[
            PendingOut(
                link=p.link,
                purpose=p.purpose,
                status=p.status,
                state=p.state.value,
                attempts=p.attempts,
                last_error=p.last_error,
            )
            for p in view.pending
        ],
        timeline=[
            TimelineOut(
                seq=r.seq,
                purpose=r.purpose,
                previous=r.previous,
                status=r.status,
                decided_at=r.decided_at,
                time_kind=r.time_kind,
                recorded_at=r.recorded_at,
                source=r.source,
                link=r.link,
                rule=r.rule,
                evidence=r.evidence,
            )
            for r in view.timeline
        ],
    )
