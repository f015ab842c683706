"""Bulk-insert deterministic seed people: chunks of executemany straight from the generator.

What a seeded portal looks like (shares in `consent_sync_sandbox.seed`): on every subscription
type most contacts are NOT_SPECIFIED (no row), a minority SUBSCRIBED, each with a legal basis,
an explanation and a source, some UNSUBSCRIBED, and a few opted out of all email (every type
UNSUBSCRIBED, `hs_email_optout` true, v4 wide status UNSUBSCRIBED). `sms_consent` and
`phone_consent` are mostly empty.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Iterator
from itertools import islice

from consent_sync_sandbox.hubspot.props import MARKETING_SUBSCRIPTION_ID, SUBSCRIPTIONS, now_ms
from consent_sync_sandbox.hubspot.records import email_key
from consent_sync_sandbox.seed import SUBSCRIBED_SHARE, UNSUBSCRIBED_SHARE, SeedPerson

#: Record id of the seeded person with index 0; ids follow the seed index.
FIRST_ID = 101
_CHUNK = 20_000
_SPREAD_MS = 30 * 86_400_000

#: The evidence a seeded SUBSCRIBED carries, as v4 reports it: (legalBasis,
#: legalBasisExplanation, source) and how often each occurs (weights).
OPT_IN_EVIDENCE: tuple[tuple[tuple[str, str, str], int], ...] = (
    (("CONSENT_WITH_NOTICE", "Ticked the newsletter box on the signup form", "FORM"), 40),
    (("CONSENT_WITH_NOTICE", "Confirmed the double opt-in email", "DOUBLE_OPT_IN"), 15),
    (("CONSENT_WITH_NOTICE", "Opted in on the paper form at a trade fair", "IMPORT"), 10),
    (("LEGITIMATE_INTEREST_CLIENT", "Existing customer with an active contract", "CRM_UI"), 15),
    (("LEGITIMATE_INTEREST_PQL", "Signed up for a product trial", "FORM"), 10),
    (("PERFORMANCE_OF_CONTRACT", "Account emails the customer's contract provides for", "API"), 5),
    (("NON_GDPR", "Outside the EU; opted in on the pricing page", "FORM"), 5),
)
_EVIDENCE = [evidence for evidence, _ in OPT_IN_EVIDENCE]
_EVIDENCE_WEIGHTS = [weight for _, weight in OPT_IN_EVIDENCE]
#: Where seeded unsubscribes came from.
UNSUBSCRIBE_SOURCES = ("EMAIL_FOOTER_UNSUBSCRIBE", "PREFERENCES_CENTER", "CRM_UI")
UNSUBSCRIBE_ALL_SOURCE = "EMAIL_FOOTER_UNSUBSCRIBE_ALL"

_Row = tuple[int, int, str, int, str | None, str | None, str]


def insert_seeded(db: sqlite3.Connection, people: Iterable[SeedPerson], n: int) -> int:
    """Insert `n` people with stamps spread over the last 30 days; return the newest stamp."""
    end = now_ms() - 60_000
    step = max(1, _SPREAD_MS // max(n, 1))
    start = end - step * n
    iterator = iter(people)
    while chunk := list(islice(iterator, _CHUNK)):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO contacts (id, email, email_key, firstname, lastname, phone, "
            "sms_consent, phone_consent, created_ms, modified_ms, unsub_all, unsub_all_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_contact_row(p, start + step * p.index) for p in chunk),
        )
        db.executemany(
            "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row for p in chunk for row in _subscription_rows(p, start + step * p.index)),
        )
        db.execute("COMMIT")
    return end


def _contact_row(p: SeedPerson, stamp: int) -> tuple[object, ...]:
    sms = {"Opted In": "opted_in", "Opted Out": "opted_out"}.get(p.sms or "")
    if sms is None and p.sms_not_asked:
        sms = "not_asked"
    phone_ok = {"opted_in": "true", "opted_out": "false"}.get(p.calls or "")
    opted_out_all = p.email_fact == "opted_out_all"
    return (
        FIRST_ID + p.index,
        p.email,
        email_key(p.email),
        p.first_name,
        p.last_name,
        p.phone,
        sms,
        phone_ok,
        stamp,
        stamp,
        int(opted_out_all),
        stamp if opted_out_all else None,
    )


def _subscription_rows(p: SeedPerson, stamp: int) -> Iterator[_Row]:
    """Rows for the subscription types this person has a status for (NOT_SPECIFIED has none).

    Marketing follows the person's email fact (so it lines up with Salesforce); the other types
    are drawn per person in the same proportions; an opt-out of all email unsubscribes them all.
    """
    contact_id = FIRST_ID + p.index
    rng = random.Random(p.detail_seed)
    for sub in SUBSCRIPTIONS:
        if p.email_fact == "opted_out_all":
            yield (contact_id, sub.id, "UNSUBSCRIBED", stamp, None, None, UNSUBSCRIBE_ALL_SOURCE)
            continue
        if sub.id == MARKETING_SUBSCRIPTION_ID:
            fact = p.email_fact
        else:
            u = rng.random()
            fact = (
                "opted_out"
                if u < UNSUBSCRIBED_SHARE
                else "opted_in"
                if u < UNSUBSCRIBED_SHARE + SUBSCRIBED_SHARE
                else None
            )
        if fact == "opted_in":
            basis, explanation, source = rng.choices(_EVIDENCE, _EVIDENCE_WEIGHTS)[0]
            yield (contact_id, sub.id, "SUBSCRIBED", stamp, basis, explanation, source)
        elif fact == "opted_out":
            source = rng.choice(UNSUBSCRIBE_SOURCES)
            yield (contact_id, sub.id, "UNSUBSCRIBED", stamp, None, None, source)
