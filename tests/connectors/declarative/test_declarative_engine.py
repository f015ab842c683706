"""Declarative systems in whole sync cycles, on SQLite and PostgreSQL: the change link kept with
the cursor and followed by the next pull (never stored before its pages are committed), a full
read starting over, a denial decided elsewhere upserted to Mailchimp by the member's email,
idle cycles that write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from consent_sync.connectors.declarative import DeclarativeConnector
from consent_sync.domain.model import Evidence, Observation, Status, TimeKind
from consent_sync.domain.records import Page
from consent_sync.store import Store
from consent_sync.sync import SyncEngine
from support.declarative_audience import (
    BATCH,
    MEMBER,
    Audience,
    _no_leftover_faults,
    audience,
)
from support.declarative_dataverse import (
    BATCH as DATAVERSE_BATCH,
)
from support.declarative_dataverse import (
    CONTACTS,
    Environment,
    _no_leftover_dataverse_faults,
    dataverse,
)

__all__ = ["_no_leftover_dataverse_faults", "_no_leftover_faults", "audience", "dataverse"]


class Crash(RuntimeError):
    """A process dying in the middle of a pull."""


class CrashingAfter:
    """The connector, except that a pull stops dead after `pages` pages."""

    def __init__(self, inner: DeclarativeConnector, pages: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.pages = pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        for position, page in enumerate(self.inner.pull(object_type, since)):
            if position == self.pages:
                raise Crash("killed")
            yield page


def test_the_change_link_is_kept_with_the_cursor_and_followed(
    store: Store, dataverse: Environment
) -> None:
    """A backfill stores the link; the next cycle follows it in one call and applies an
    opt-out and a deletion; an idle cycle reads nothing and writes nothing."""
    config = dataverse.config(page_size=100)
    connector = dataverse.connector(page_size=100)
    engine = SyncEngine(store, config, {"dynamics": connector})
    backfill = engine.cycle("dynamics")
    assert backfill.error is None and backfill.records_read > 100
    link = store.coordination.resume_token("dynamics", "contacts")
    assert link is not None and "$deltatoken=" in link
    records = [r for p in dataverse.connector().pull("contacts", None) for r in p.records]
    opted, deleted = records[0], records[1]
    dataverse.act("opt_out", id=opted.record_id)
    dataverse.act("delete", id=deleted.record_id)
    dataverse.reset_stats()
    changed = engine.cycle("dynamics")
    assert changed.records_read == 2 and changed.links_ended == 1
    assert dataverse.requests(CONTACTS) == 1
    assert store.coordination.resume_token("dynamics", "contacts") != link
    dataverse.reset_stats()
    idle = engine.cycle("dynamics")
    assert idle.records_read == 0 and idle.writes_ok == 0 and idle.queued == 0
    assert dataverse.requests(CONTACTS) == 1


def test_a_tracked_stream_is_written_without_reading_back(
    store: Store, dataverse: Environment
) -> None:
    """Right after a completed tracked pull, a denial decided elsewhere is written in one $batch
    without a read-back: the change link vouches that nothing changed since the engine read it."""
    config = dataverse.config()
    engine = SyncEngine(store, config, {"dynamics": dataverse.connector()})
    assert engine.cycle("dynamics").error is None
    records = [r for p in dataverse.connector().pull("contacts", None) for r in p.records]
    target = next(r for r in records if r.fields.get("donotbulkemail") is False)
    now = datetime.now(UTC)
    denial = Observation(
        "manual:ops",
        None,
        "email_marketing",
        Status.DENIED,
        now,
        TimeKind.ASSERTED,
        Evidence("manual:ops", actor="ops", note="asked to stop by letter"),
    )
    store.decisions.record(
        target.fields["emailaddress1"], denial, config.purposes, now, engine.targets
    )
    dataverse.reset_stats()
    report = engine.cycle("dynamics")
    assert report.writes_ok >= 1 and report.writes_dead == 0
    assert dataverse.contact(target.record_id)["donotbulkemail"] is True
    assert dataverse.requests(DATAVERSE_BATCH) == 1
    assert dataverse.requests(CONTACTS) == 1  # the change link; no read-back


def test_a_pull_cut_short_keeps_the_old_link(store: Store, dataverse: Environment) -> None:
    """Killed before its last page, a pull stores no link: the next one reads it all again."""
    config = dataverse.config(page_size=100)
    crashing = CrashingAfter(dataverse.connector(page_size=100), pages=2)
    engine = SyncEngine(store, config, {"dynamics": crashing})  # type: ignore[dict-item]
    with pytest.raises(Crash):
        engine.cycle("dynamics", push=False)
    assert store.coordination.resume_token("dynamics", "contacts") is None
    assert store.coordination.cursor("dynamics", "contacts") is None
    whole = SyncEngine(store, config, {"dynamics": dataverse.connector(page_size=100)})
    report = whole.cycle("dynamics", push=False)
    assert report.records_read > 100
    assert store.coordination.resume_token("dynamics", "contacts") is not None


def test_a_full_read_ignores_the_stored_link(store: Store, dataverse: Environment) -> None:
    """`--full` reads every contact again (a backfill of its own) and stores a new link."""
    config = dataverse.config()
    engine = SyncEngine(store, config, {"dynamics": dataverse.connector()})
    first = engine.cycle("dynamics", push=False)
    link = store.coordination.resume_token("dynamics", "contacts")
    again = engine.cycle("dynamics", full=True, push=False)
    assert again.records_read == first.records_read
    assert store.coordination.resume_token("dynamics", "contacts") not in (None, "")
    assert link is not None


def test_a_denial_decided_elsewhere_is_upserted_to_mailchimp_by_email(
    store: Store, audience: Audience
) -> None:
    """A manual denial of a subscribed member's email reaches Mailchimp in one batch upsert,
    addressed by the email the store holds (never logged); with `read_back: grants` the
    denial costs no read-back; the next cycle writes nothing."""
    edit = ("      max_items: 500\n", "      max_items: 500\n      read_back: grants\n")
    config = audience.config(page_size=100, edit=edit)
    connector = audience.connector(page_size=100, edit=edit)
    engine = SyncEngine(store, config, {"mailchimp": connector})
    assert engine.cycle("mailchimp").error is None
    subscribed = [
        r
        for p in audience.connector().pull("members", None)
        for r in p.records
        if r.fields.get("status") == "subscribed"
    ]
    email = subscribed[0].fields["email_address"]
    now = datetime.now(UTC)
    denial = Observation(
        "manual:ops",
        None,
        "email_marketing",
        Status.DENIED,
        now,
        TimeKind.ASSERTED,
        Evidence("manual:ops", actor="ops", note="asked to stop on the phone"),
    )
    store.decisions.record(email, denial, config.purposes, now, engine.targets)
    audience.reset_stats()
    pushed = engine.cycle("mailchimp", pull=False)
    assert pushed.writes_ok == 1 and pushed.writes_dead == 0
    assert audience.member(email)["status"] == "unsubscribed"
    assert audience.requests(BATCH) == 1 and audience.requests(MEMBER) == 0
    audience.reset_stats()
    idle = engine.cycle("mailchimp")
    assert idle.writes_ok == 0 and idle.queued == 0 and idle.decisions == 0
    assert audience.requests(BATCH) == 0
