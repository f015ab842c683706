"""Plain builders for store and CLI tests: purposes, links, observations at fixed times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import Evidence, LinkKey, Observation, Purpose, Status, TimeKind
from consent_sync.store import IngestReport, Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EMAIL = "ada@example.com"
PURPOSES = {
    "email_marketing": Purpose("email_marketing", title="Marketing email", channel="email"),
    "phone_calls": Purpose("phone_calls", title="Calls", channel="phone"),
}
SF = LinkKey("salesforce", "Contact", "003A")
HS = LinkKey("hubspot", "contact", "501")


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def seen(
    link: LinkKey, status: Status, minutes: float, purpose: str = "email_marketing"
) -> Observation:
    """What `link`'s system says about `purpose`, decided `minutes` after T0."""
    return Observation(
        source=link.system,
        link=link,
        purpose=purpose,
        status=status,
        decided_at=at(minutes),
        time_kind=TimeKind.FIELD,
        evidence=Evidence(source=link.system, source_record=str(link), collection_method="crm"),
    )


def ingest(
    store: Store,
    observations: Sequence[Observation],
    minutes: float,
    emails: dict[LinkKey, str | None] | None = None,
) -> IngestReport:
    """Ingest at T0+minutes; every link matches EMAIL unless `emails` says otherwise."""
    emails = emails or {}
    keys = {o.link: MatchKeys(email=emails.get(o.link, EMAIL)) for o in observations if o.link}
    return store.decisions.ingest(observations, keys, PURPOSES, at(minutes))
