"""Seed the org from the shared people: Contacts, some duplicate Leads, Individuals, consent.

Every seeded person is a Contact (`seed.iter_people`); what only Salesforce holds is drawn from
one generator seeded by `seed`, in person order, so the same seed always builds the same org.
Stamps spread over the past 30 days in person order. The shares of the consent data model are
in `consent_seed.py`; docs/sandboxes.md gives the picture.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from consent_sync_sandbox.salesforce import consent_seed
from consent_sync_sandbox.salesforce.objects import CONTACT, INDIVIDUAL, LEAD
from consent_sync_sandbox.salesforce.schema import SqlParam
from consent_sync_sandbox.salesforce.store import Store
from consent_sync_sandbox.seed import SeedPerson

SEED_SPAN_MS = 30 * 24 * 3600 * 1000  # seeded records look modified over the past 30 days
#: Share of Contacts linked to an Individual: the org turned on Data Protection and Privacy
#: and links people as their consent is captured, so most records still have none.
INDIVIDUAL_SHARE = 0.35
#: Of the people who also exist as a Lead (`lead_share`), how many Leads say something else
#: about marketing email than the Contact (an opt-out recorded on one record only).
LEAD_DISAGREES_SHARE = 0.3
#: Of those Leads whose Contact has an Individual, how many are linked to it too.
LEAD_LINKED_SHARE = 0.8
_CHUNK = 10_000
_PERSON_COLUMNS = (
    "seq",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "HasOptedOutOfEmail",
    "DoNotCall",
    "HasOptedOutOfFax",
    "SMS_Consent__c",
    "IndividualId",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
)
_INDIVIDUAL_COLUMNS = (
    "seq",
    "FirstName",
    "LastName",
    "Name",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
)
Rows = list[tuple[SqlParam, ...]]


@dataclass
class _Batch:
    """Rows of every seeded object for a chunk of people, flushed together."""

    contacts: Rows = field(default_factory=list)
    leads: Rows = field(default_factory=list)
    individuals: Rows = field(default_factory=list)
    consent: consent_seed.ConsentRows = field(default_factory=consent_seed.ConsentRows)

    def flush(self, store: Store) -> None:
        store.load(INDIVIDUAL, _INDIVIDUAL_COLUMNS, self.individuals)
        store.load(CONTACT, _PERSON_COLUMNS, self.contacts)
        store.load(LEAD, _PERSON_COLUMNS, self.leads)
        self.consent.flush(store)
        self.contacts, self.leads, self.individuals = [], [], []
        self.consent = consent_seed.ConsentRows(self.consent.next_seq)


def _person_row(
    seq: int, p: SeedPerson, email_opted_out: bool, individual: int | None, stamp: int
) -> tuple[SqlParam, ...]:
    return (
        seq,
        p.first_name,
        p.last_name,
        p.email,
        p.phone,
        int(email_opted_out),
        int(not p.calls_ok),
        int(not p.fax_ok),
        p.sms,
        individual,
        stamp,
        stamp,
        stamp,
    )


def seed_org(
    store: Store,
    people: Iterable[SeedPerson],
    expected: int,
    *,
    seed: int = 0,
    lead_share: float = 0.0,
) -> int:
    """Insert the seeded people and their consent records; returns how many Contacts."""
    now = int(time.time() * 1000)
    start = now - SEED_SPAN_MS
    step = max(1, SEED_SPAN_MS // max(1, expected))
    count = individuals = leads = 0
    batch = _Batch()
    rng = random.Random(f"{seed}:salesforce-only")  # one stream: seeding per person costs more
    with store.transaction():
        store.load(*consent_seed.purposes(start))
        for p in people:
            stamp = start + count * step
            individual = None
            if rng.random() < INDIVIDUAL_SHARE:
                individuals += 1
                individual = individuals
                name = f"{p.first_name} {p.last_name}"
                batch.individuals.append(
                    (individual, p.first_name, p.last_name, name, stamp, stamp, stamp)
                )
                batch.consent.add_person(p, individual, stamp, now, rng)
            batch.contacts.append(_person_row(count + 1, p, not p.email_ok, individual, stamp))
            if rng.random() < lead_share:
                leads += 1
                opted_out = not p.email_ok
                if rng.random() < LEAD_DISAGREES_SHARE:
                    opted_out = not opted_out
                linked = individual if rng.random() < LEAD_LINKED_SHARE else None
                batch.leads.append(_person_row(leads, p, opted_out, linked, stamp + 1))
            count += 1
            if count % _CHUNK == 0:
                batch.flush(store)
        batch.flush(store)
    store.finish_loading()
    store.clock.last = max(now, start + count * step)
    store.seeded = count
    return count
