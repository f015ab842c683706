"""The seeded audience: the shared people, spelled as Mailchimp members, bulk-inserted.

What a seeded audience looks like (the people and their shares come from
`consent_sync_sandbox.seed`; the Mailchimp-only shares are below):
- people nobody ever asked about marketing email are `transactional` (an integration added
  them; they get receipts, never campaigns), a few `pending` (a signup form never confirmed)
  or `archived` (an admin tidied the audience);
- an explicit opt-in is `subscribed` with its evidence: `timestamp_opt` always, `ip_opt` and
  `timestamp_signup`/`ip_signup` when it came through a form (double or single opt-in), none
  of the IPs when it came from an import; GDPR permissions mostly enabled for email;
- an opt-out is `unsubscribed`, mostly by the person (an email's unsubscribe link, with the
  reason they picked: the member is then in a compliance state), some by an admin;
- a few addresses bounced (`cleaned`), and some people unsubscribed in Mailchimp alone.

The first `overlap` share of people are the ones the other systems hold (same email, same
facts as Salesforce's; an address typed with a capital now and then); the rest are the
audience's own (`name.mc@domain`).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice

from consent_sync_sandbox.mailchimp.audience import ADMIN_UNSUBSCRIBE_REASON, now_s
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from consent_sync_sandbox.seed import SeedPerson, iter_people

#: Of people not opted out: their address bounced and Mailchimp cleaned it.
CLEANED_SHARE = 0.02
#: Of shared people not opted out elsewhere: unsubscribed in Mailchimp only.
MAILCHIMP_ONLY_UNSUBSCRIBE_SHARE = 0.04
#: Of people never asked: a signup form they never confirmed, and archived members.
PENDING_SHARE = 0.01
ARCHIVED_SHARE = 0.02
#: Of unsubscribes: made by the person (compliance state), else by an admin.
SELF_UNSUBSCRIBE_SHARE = 0.85

#: The reasons Mailchimp's unsubscribe page offers, and how often people pick each (weights).
UNSUBSCRIBE_REASONS: tuple[tuple[str, int], ...] = (
    ("I no longer want to receive these emails", 55),
    ("I never signed up for this mailing list", 15),
    ("The emails are inappropriate", 5),
    ("The emails are spam and should be reported", 5),
    ("Other", 20),
)
_REASONS = [r for r, _ in UNSUBSCRIBE_REASONS]
_REASON_WEIGHTS = [w for _, w in UNSUBSCRIBE_REASONS]
#: How a seeded opt-in arrived: (source, whether it came with IPs, whether it was double opt-in).
OPT_IN_SOURCES: tuple[tuple[tuple[str, bool, bool], int], ...] = (
    (("Hosted Signup Form", True, True), 50),
    (("Embedded Form", True, False), 25),
    (("Import", False, False), 25),
)
_SOURCES = [s for s, _ in OPT_IN_SOURCES]
_SOURCE_WEIGHTS = [w for _, w in OPT_IN_SOURCES]
#: Odds a subscribed member enabled each GDPR permission (by permission bit).
PERMISSION_ODDS = {1: 0.9, 2: 0.25, 4: 0.35}

_CHUNK = 20_000
_SPREAD_S = 30 * 86_400
_TWO_YEARS_S = 2 * 365 * 86_400


def mailchimp_people(n: int, seed: int, overlap: float) -> Iterator[SeedPerson]:
    """The `n` people of the seeded audience: the shared ones as the other systems hold them,
    the others under an address of the audience's own."""
    for person in iter_people("mailchimp", n, seed, overlap):
        if person.shared and person.index % 13 == 4:
            person = replace(person, email=person.email[:1].upper() + person.email[1:])
        yield person


def insert_seeded(db: sqlite3.Connection, people: Iterable[SeedPerson], n: int) -> int:
    """Insert `n` people with `last_changed` spread over the last 30 days; return the newest."""
    end = now_s() - 60
    step = max(1, _SPREAD_S // max(n, 1))
    start = end - step * n
    iterator = iter(people)
    while chunk := list(islice(iterator, _CHUNK)):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO members (seq, id, email, fname, lname, phone, status, ip_signup, "
            "ts_signup, ip_opt, ts_opt, last_changed, unsubscribe_reason, compliance, "
            "permissions, source, language, unique_email_id, web_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_row(p, start + step * p.index) for p in chunk),
        )
        db.execute("COMMIT")
    return end


def _ip(rng: random.Random) -> str:
    # Documentation ranges (RFC 5737): realistic-looking, never anybody's real address.
    return f"{rng.choice(('198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"


def _row(p: SeedPerson, stamp: int) -> tuple[object, ...]:
    rng = random.Random(p.detail_seed ^ 0x5A4DB0C5)
    status, compliance, reason = "transactional", 0, None
    ip_signup, ts_signup, ip_opt, ts_opt = "", None, "", None
    permissions, source = 0, "API - Generic"
    fact: str | None = p.email_fact
    if fact not in ("opted_out", "opted_out_all"):
        if rng.random() < CLEANED_SHARE:
            fact = "cleaned"
        elif p.shared and rng.random() < MAILCHIMP_ONLY_UNSUBSCRIBE_SHARE:
            fact = "opted_out"
    if fact == "opted_in":
        status = "subscribed"
        source, with_ip, double = rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
        ts_opt = stamp - rng.randrange(3600, _TWO_YEARS_S)
        if with_ip:
            ip_opt = _ip(rng)
        if double:
            ip_signup, ts_signup = ip_opt, ts_opt - rng.randrange(60, 86_400)
        permissions = sum(bit for bit, odds in PERMISSION_ODDS.items() if rng.random() < odds)
    elif fact in ("opted_out", "opted_out_all"):
        status = "unsubscribed"
        if rng.random() < 0.7:  # most once opted in, through a form
            ts_opt, ip_opt = stamp - rng.randrange(86_400, _TWO_YEARS_S), _ip(rng)
            source = "Hosted Signup Form"
        if rng.random() < SELF_UNSUBSCRIBE_SHARE:
            compliance, reason = 1, rng.choices(_REASONS, _REASON_WEIGHTS)[0]
        else:
            reason = ADMIN_UNSUBSCRIBE_REASON
    elif fact == "cleaned":
        status, compliance = "cleaned", 1
    else:
        u = rng.random()
        if u < PENDING_SHARE:
            status, source = "pending", "Hosted Signup Form"
            ip_signup, ts_signup = _ip(rng), stamp - rng.randrange(60, 86_400)
        elif u < PENDING_SHARE + ARCHIVED_SHARE:
            status = "archived"
    member_id = subscriber_hash(p.email)
    phone = p.phone if rng.random() < 0.3 else ""
    language = "en" if rng.random() < 0.2 else ""
    return (
        p.index + 1,
        member_id,
        p.email,
        p.first_name,
        p.last_name,
        phone,
        status,
        ip_signup,
        ts_signup,
        ip_opt,
        ts_opt,
        stamp,
        reason,
        compliance,
        permissions,
        source,
        language,
        subscriber_hash(member_id)[:10],
        100_000_000 + p.index + 1,
    )
