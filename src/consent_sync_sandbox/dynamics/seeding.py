"""Seed people as Dataverse contacts: the opt-out checkboxes a CRM shows, mostly unticked.

Dataverse has no "opted in" on a contact: every `donot*` box is false unless the person
objected (false means "no objection", never consent — docs/design.md, "What a grant is").
From the shared people (`consent_sync_sandbox.seed`): an email unsubscribe ticks
`donotbulkemail`; an opt-out of all email ticks `donotemail` as well; do-not-call ticks
`donotphone`; a fax opt-out `donotfax`. The postal boxes are ticked for a few people.
People the other systems also hold share their email (typed with some mess: a capital, a
stray space); a few people only Dynamics holds keep their email in `emailaddress2` alone.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from consent_sync_sandbox.dynamics.store import COLUMNS, FIRST_VERSION, email_key, full_name
from consent_sync_sandbox.seed import SeedPerson

_SPREAD_SECONDS = 30 * 86_400
POSTAL_OPT_OUT_SHARE = 0.03
BULK_POSTAL_OPT_OUT_SHARE = 0.05
MARKETING_MATERIALS_OPT_OUT_SHARE = 0.04
INACTIVE_SHARE = 0.03


def _digest(person: SeedPerson) -> bytes:
    """24 bytes only this person's seed decides: their GUID, then the draws below."""
    text = f"{person.index}:{person.detail_seed}".encode()
    return hashlib.blake2b(text, digest_size=24).digest()


def contact_id(person: SeedPerson) -> str:
    """The seeded person's contact GUID: deterministic, unique per seed index."""
    return str(uuid.UUID(bytes=_digest(person)[:16], version=4))


def _draws(digest: bytes) -> tuple[float, float, float, float, int]:
    """Four uniform draws and a day count from the digest's last 8 bytes."""
    bits = int.from_bytes(digest[16:], "big")
    u = [((bits >> shift) & 0xFFF) / 4096 for shift in (0, 12, 24, 36)]
    return u[0], u[1], u[2], u[3], (bits >> 48) % 400


def seeded_rows(people: Iterable[SeedPerson], n: int) -> Iterator[tuple[Any, ...]]:
    """Rows (store COLUMNS order, then email_key) stamped over the last 30 days, in order."""
    end = int(time.time()) - 60
    step = max(_SPREAD_SECONDS / max(n, 1), 0.0)
    start = end - step * n
    for person in people:
        yield _row(person, int(start + step * person.index))


def _row(p: SeedPerson, stamp: int) -> tuple[Any, ...]:
    digest = _digest(p)
    postal, bulk_postal, materials, inactive_draw, age_days = _draws(digest)
    email: str | None = p.email
    second_email: str | None = None
    if p.shared and p.index % 7 == 3:
        email = p.email[:1].upper() + p.email[1:]  # typed with a capital by a rep
    elif p.shared and p.index % 31 == 4:
        email = f" {p.email} "  # pasted from a spreadsheet
    elif not p.shared and p.index % 50 == 13:
        email, second_email = None, p.email
    inactive = inactive_draw < INACTIVE_SHARE
    values: dict[str, Any] = {
        "contactid": str(uuid.UUID(bytes=digest[:16], version=4)),
        "firstname": p.first_name,
        "lastname": p.last_name,
        "fullname": full_name(p.first_name, p.last_name),
        "emailaddress1": email,
        "emailaddress2": second_email,
        "telephone1": p.phone,
        "mobilephone": None,
        "donotbulkemail": int(not p.email_ok),
        "donotemail": int(p.email_fact == "opted_out_all"),
        "donotphone": int(not p.calls_ok),
        "donotfax": int(not p.fax_ok),
        "donotpostalmail": int(postal < POSTAL_OPT_OUT_SHARE),
        "donotbulkpostalmail": int(bulk_postal < BULK_POSTAL_OPT_OUT_SHARE),
        "donotsendmm": int(materials < MARKETING_MATERIALS_OPT_OUT_SHARE),
        "description": None,
        "statecode": 1 if inactive else 0,
        "statuscode": 2 if inactive else 1,
        "createdon": stamp - age_days * 86_400,
        "modifiedon": stamp,
        "versionnumber": FIRST_VERSION + p.index,
    }
    return (*(values[c] for c in COLUMNS), email_key(email))
