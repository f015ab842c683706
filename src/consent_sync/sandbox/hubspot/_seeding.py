"""Bulk-insert deterministic seed people: chunks of executemany straight from the generator."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from itertools import islice

from consent_sync.sandbox._seed import SeedPerson
from consent_sync.sandbox.hubspot._props import MARKETING_SUBSCRIPTION_ID, now_ms
from consent_sync.sandbox.hubspot._records import email_key

#: Record id of the seeded person with index 0; ids follow the seed index.
FIRST_ID = 101
_CHUNK = 20_000
_SPREAD_MS = 30 * 86_400_000


def insert_seeded(db: sqlite3.Connection, people: Iterable[SeedPerson], n: int) -> int:
    """Insert `n` people with stamps spread over the last 30 days; return the newest stamp.

    Each person's email fact lands on the marketing subscription: SUBSCRIBED with
    CONSENT_WITH_NOTICE, or UNSUBSCRIBED from an email footer.
    """
    end = now_ms() - 60_000
    step = max(1, _SPREAD_MS // max(n, 1))
    start = end - step * n
    iterator = iter(people)
    while chunk := list(islice(iterator, _CHUNK)):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO contacts (id, email, email_key, firstname, lastname, phone, "
            "sms_consent, phone_consent, created_ms, modified_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_contact_row(p, start + step * p.index) for p in chunk),
        )
        db.executemany(
            "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (
                (
                    FIRST_ID + p.index,
                    MARKETING_SUBSCRIPTION_ID,
                    "SUBSCRIBED" if p.email_ok else "UNSUBSCRIBED",
                    start + step * p.index,
                    "CONSENT_WITH_NOTICE" if p.email_ok else None,
                    "SUBSCRIPTION_FORM" if p.email_ok else "EMAIL_FOOTER_UNSUBSCRIBE",
                )
                for p in chunk
            ),
        )
        db.execute("COMMIT")
    return end


def _contact_row(p: SeedPerson, stamp: int) -> tuple[object, ...]:
    sms = {"Opted In": "opted_in", "Opted Out": "opted_out"}.get(p.sms or "")
    return (
        FIRST_ID + p.index,
        p.email,
        email_key(p.email),
        p.first_name,
        p.last_name,
        p.phone,
        sms,
        "true" if p.calls_ok else "false",
        stamp,
        stamp,
    )
