"""Deterministic people for both emulators: shared emails across systems, known disagreements."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

SystemName = Literal["salesforce", "hubspot"]

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "exämple.de"]

#: Share of shared people whose consent differs between the two systems.
DISAGREE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class SeedPerson:
    """One seeded contact as a CRM holds it; consent as plain facts, each system maps its fields."""

    index: int
    email: str
    first_name: str
    last_name: str
    phone: str
    email_ok: bool  # False -> opted out of marketing email
    calls_ok: bool  # False -> do not call
    fax_ok: bool
    sms: str | None  # "Opted In", "Opted Out" or None (never asked)
    shared: bool  # the other system holds the same person
    disagrees: bool  # a shared person whose consent here differs from the other system


def shared_count(n: int, overlap: float) -> int:
    """How many of the first `n` people exist in both systems."""
    return round(max(0.0, min(1.0, overlap)) * n)


def _email(index: int, rng: random.Random, first: str, last: str) -> str:
    local = f"{first}.{last}{index}".lower()
    domain = DOMAINS[index % 3]
    if index % 17 == 3:
        local = f"{first[0]}.o'{last}{index}".lower()  # quotes are legal and hostile to SOQL
    elif index % 19 == 5:
        local = f"{local}+news"  # plus-addressing
    elif index % 23 == 7:
        local = f"zoë.{last}{index}".lower()
        domain = DOMAINS[3]  # unicode local part and domain
    return f"{local}@{domain}"


def _person(index: int, seed: int, overlap_n: int, system: SystemName) -> SeedPerson:
    # The person's facts come from (seed, index) so both systems agree on shared people...
    base = random.Random(f"{seed}:{index}")
    first, last = base.choice(FIRST), base.choice(LAST)
    email = _email(index, base, first, last)
    phone = f"+1555{base.randrange(10**7):07d}"
    email_ok, calls_ok, fax_ok = base.random() < 0.7, base.random() < 0.8, base.random() < 0.9
    sms = base.choice(["Opted In", "Opted Out", None])
    shared = index < overlap_n
    disagrees = shared and base.random() < DISAGREE_SHARE
    if not shared and system == "hubspot":
        # ...and people only HubSpot holds get their own identities and facts.
        own = random.Random(f"{seed}:hubspot:{index}")
        first, last = own.choice(FIRST), own.choice(LAST)
        email = _email(index, own, first, last).replace("@", ".hs@", 1)
        email_ok, calls_ok, fax_ok = own.random() < 0.7, own.random() < 0.8, own.random() < 0.9
        sms = own.choice(["Opted In", "Opted Out", None])
    if disagrees and system == "hubspot":
        email_ok = not email_ok
        calls_ok = not calls_ok
    if shared and system == "hubspot" and index % 5 == 0:
        # CRMs keep whatever case and form people typed; normalization must still match them.
        email = unicodedata.normalize("NFD", email.upper() if index % 10 == 0 else email.title())
    return SeedPerson(
        index, email, first, last, phone, email_ok, calls_ok, fax_ok, sms, shared, disagrees
    )


def iter_people(system: SystemName, n: int, seed: int, overlap: float) -> Iterator[SeedPerson]:
    """Yield the `n` seeded contacts of one system, streaming (1,000,000 fit in no memory)."""
    overlap_n = shared_count(n, overlap)
    for index in range(n):
        yield _person(index, seed, overlap_n, system)
