"""What a subject's records hold of their own, for the rule (docs/design.md, "Least permissive
within a system").

The store passes `reconcile` one `Side` per active record of the subject: the value the record
holds once the batch is read, as read there (never a value consent-sync wrote there), with its
link and as of when. From them the rule takes each system's answer for the person — the least
permissive of its records, as Salesforce's Consent API answers — and the records it names in a
disagreement. Pure, like the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from consent_sync.domain.model import Canonical, Conflict, ConflictKind, Observation, Side, Status

__all__ = [
    "denied_in_system",
    "deniers",
    "first_sight_denial",
    "others",
    "overrules",
    "records",
    "same_system",
]


def deniers(o: Observation, held: Sequence[Side]) -> tuple[Side, ...]:
    """The other records of `o`'s system that hold a denial of their own: while there is one,
    that system's answer for the person is no."""
    if o.link is None:
        return ()
    system = o.link.system
    return tuple(
        h
        for h in held
        if h.status is Status.DENIED
        and h.link is not None
        and h.link.system == system
        and h.link != o.link
    )


def others(o: Observation, held: Sequence[Side], *statuses: Status) -> tuple[Side, ...]:
    """The subject's other records, in any system, holding one of `statuses` of their own."""
    return tuple(
        h for h in held if h.link is not None and h.link != o.link and h.status in statuses
    )


def same_system(c: Canonical, o: Observation) -> bool:
    """Whether `o` was read from a record of the system that set the canonical state."""
    return o.link is not None and c.source == o.link.system


def overrules(c: Canonical, o: Observation) -> bool:
    """Whether `o` is a denial read from the system whose record gave the canonical grant: that
    system now answers no, so the denial applies under every policy, however old."""
    return o.status is Status.DENIED and c.status is Status.GRANTED and same_system(c, o)


def records(*sides: Side) -> Mapping[str, Any]:
    """A conflict's detail naming each record: which record said what, as of when."""
    return MappingProxyType(
        {
            "records": [
                {
                    "record": str(s.link),
                    "object_type": s.link.object_type,
                    "record_id": s.link.record_id,
                    "status": s.status.value,
                    "as_of": s.decided_at.isoformat() if s.decided_at else None,
                }
                for s in sides
                if s.link is not None
            ]
        }
    )


def denied_in_system(
    purpose: str, grant: Side, canonical: Side, rule: str, denying: tuple[Side, ...], known: bool
) -> Conflict:
    """The conflict of a grant blocked because another record of its system denies
    (`grant_blocked`, needs review): the grant's record and every denying record, named."""
    names = ", ".join(f"{d.link.object_type} {d.link.record_id}" for d in denying if d.link)
    then = "the denial is pushed back" if known else "it is not adopted"
    return Conflict(
        ConflictKind.GRANT_BLOCKED,
        purpose,
        (grant, canonical, *denying),
        f"{rule}:denied_in_system",
        f"{grant.source} holds an opt-out on another record of this person ({names}): its "
        f"least permissive answer is no, so the grant does not apply and {then}",
        link=grant.link,
        detail=records(grant, *denying),
    )


def first_sight_denial(
    purpose: str, denial: Side, canonical: Side, named: tuple[Side, ...]
) -> Conflict:
    """The info conflict of a record first seen denying a state its own system's records set at
    first sight: rule 5 across pages (a Lead read after its Contact), naming the records that
    disagree."""
    return Conflict(
        ConflictKind.INITIAL_DISAGREEMENT,
        purpose,
        (denial, canonical, *named),
        "first_sight_denial_wins",
        "systems disagreed at first sight; the denial was adopted",
        link=denial.link,
        detail=records(denial, *named),
    )
