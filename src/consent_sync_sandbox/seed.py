"""Deterministic people for both emulators: shared emails across systems, known disagreements.

Each person carries plain consent facts; each emulator spells them in its own fields (Salesforce
checkboxes and a picklist, HubSpot subscription statuses and custom properties).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

SystemName = Literal["salesforce", "hubspot", "dynamics", "mailchimp"]
#: What a system that holds people of its own adds to their emails, so they stay its own.
_OWN_EMAIL_TAG = {"hubspot": "hs", "dynamics": "dyn", "mailchimp": "mc"}
#: What one person said about marketing email: an explicit, evidenced opt-in; an unsubscribe;
#: an unsubscribe from all email; or nothing, because nobody ever asked (None).
EmailFact = Literal["opted_in", "opted_out", "opted_out_all"]
#: What one person said about a channel that has no "all" (calls): opted in, opted out, or None.
ChannelFact = Literal["opted_in", "opted_out"]

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "exämple.de"]

# -- How many people say what ----------------------------------------------------------------
# Real CRM data looks like this: most people were never asked about most purposes, so most
# records hold nothing at all (HubSpot NOT_SPECIFIED, an unticked Salesforce opt-out box, which is
# Salesforce's default, an empty picklist or property). A minority gave an explicit opt-in, with
# its evidence; some opted out. Seeding everyone as subscribed or unsubscribed once hid that "not
# opted out" was being read as consent (docs/design.md, "What a grant is"), so every share below
# stays realistic.
# The shares are of all seeded people; whatever is left over was never asked.

#: Email, and each HubSpot subscription type: SUBSCRIBED with a legal basis and its explanation.
SUBSCRIBED_SHARE = 0.12
#: Email, and each HubSpot subscription type: UNSUBSCRIBED (Salesforce: HasOptedOutOfEmail ticked).
UNSUBSCRIBED_SHARE = 0.10
#: Opted out of all email (HubSpot `hs_email_optout`, v4 wide status UNSUBSCRIBED; every
#: subscription type UNSUBSCRIBED; Salesforce: HasOptedOutOfEmail ticked).
OPTED_OUT_OF_ALL_SHARE = 0.03
#: Calls: do not call (Salesforce DoNotCall ticked, HubSpot phone_consent false).
CALLS_OPTED_OUT_SHARE = 0.10
#: Calls: an explicit yes (HubSpot phone_consent true; Salesforce has no field for it).
CALLS_OPTED_IN_SHARE = 0.04
#: Fax: HasOptedOutOfFax ticked.
FAX_OPTED_OUT_SHARE = 0.08
#: SMS: "Opted In" / "Opted Out" (Salesforce SMS_Consent__c, HubSpot sms_consent).
SMS_OPTED_IN_SHARE = 0.05
SMS_OPTED_OUT_SHARE = 0.05
#: HubSpot sms_consent `not_asked` (a form's default), said of people never asked about SMS;
#: everyone else never asked has an empty sms_consent.
SMS_NOT_ASKED_SHARE = 0.20
#: Share of shared people whose consent differs between the two systems (on one purpose each,
#: email or calls, so the shares above still roughly hold in HubSpot too).
DISAGREE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class SeedPerson:
    """One seeded contact as a CRM holds it; consent as plain facts, each system maps its fields."""

    index: int
    email: str
    first_name: str
    last_name: str
    phone: str
    email_fact: EmailFact | None  # marketing email; None -> never asked
    calls: ChannelFact | None  # sales and marketing calls; None -> never asked
    fax_ok: bool  # False -> opted out of fax
    sms: str | None  # "Opted In", "Opted Out" or None (never asked)
    sms_not_asked: bool  # never asked about SMS, and HubSpot's form default says `not_asked`
    shared: bool  # the other system holds the same person
    disagrees: bool  # a shared person whose consent here differs from the other system
    detail_seed: int  # seeds what one system alone holds (other subscription types, evidence)

    @property
    def email_ok(self) -> bool:
        """Not opted out of marketing email: an opt-in, or (mostly) nobody ever asked."""
        return self.email_fact not in ("opted_out", "opted_out_all")

    @property
    def email_opted_in(self) -> bool:
        """An explicit, evidenced opt-in to marketing email."""
        return self.email_fact == "opted_in"

    @property
    def calls_ok(self) -> bool:
        """Not on the do-not-call list (an explicit yes, or nobody asked)."""
        return self.calls != "opted_out"


def shared_count(n: int, overlap: float) -> int:
    """How many of the first `n` people exist in both systems."""
    return round(max(0.0, min(1.0, overlap)) * n)


def pick_email(u: float) -> EmailFact | None:
    """Marketing email by one uniform draw, in the proportions above."""
    if u < OPTED_OUT_OF_ALL_SHARE:
        return "opted_out_all"
    if u < OPTED_OUT_OF_ALL_SHARE + UNSUBSCRIBED_SHARE:
        return "opted_out"
    if u < OPTED_OUT_OF_ALL_SHARE + UNSUBSCRIBED_SHARE + SUBSCRIBED_SHARE:
        return "opted_in"
    return None


def _pick_channel(u: float, opted_out: float, opted_in: float) -> ChannelFact | None:
    if u < opted_out:
        return "opted_out"
    if u < opted_out + opted_in:
        return "opted_in"
    return None


def _pick_sms(u: float) -> str | None:
    if u < SMS_OPTED_OUT_SHARE:
        return "Opted Out"
    if u < SMS_OPTED_OUT_SHARE + SMS_OPTED_IN_SHARE:
        return "Opted In"
    return None


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


@dataclass(frozen=True, slots=True)
class _Facts:
    email: EmailFact | None
    calls: ChannelFact | None
    fax_ok: bool
    sms: str | None
    sms_not_asked: bool

    @classmethod
    def draw(cls, rng: random.Random) -> _Facts:
        email = pick_email(rng.random())
        calls = _pick_channel(rng.random(), CALLS_OPTED_OUT_SHARE, CALLS_OPTED_IN_SHARE)
        fax_ok = rng.random() >= FAX_OPTED_OUT_SHARE
        sms = _pick_sms(rng.random())
        not_asked = rng.random() < SMS_NOT_ASKED_SHARE
        return cls(email, calls, fax_ok, sms, sms is None and not_asked)

    def contradicted(self, on_email: bool) -> _Facts:
        """What the other system says of a person it disagrees about, on email or on calls:
        a denial where this one has none, an explicit opt-in where this one has a denial."""
        email, calls = self.email, self.calls
        if on_email:
            email = "opted_out" if email in ("opted_in", None) else "opted_in"
        else:
            calls = "opted_in" if calls == "opted_out" else "opted_out"
        return _Facts(email, calls, self.fax_ok, self.sms, self.sms_not_asked)


def _person(index: int, seed: int, overlap_n: int, system: SystemName) -> SeedPerson:
    # The person's facts come from (seed, index) so both systems agree on shared people...
    base = random.Random(f"{seed}:{index}")
    first, last = base.choice(FIRST), base.choice(LAST)
    email = _email(index, base, first, last)
    phone = f"+1555{base.randrange(10**7):07d}"
    facts = _Facts.draw(base)
    shared = index < overlap_n
    disagrees = shared and base.random() < DISAGREE_SHARE
    on_email = base.random() < 0.5  # what a disagreeing person disagrees about
    detail_seed = base.getrandbits(63)
    if not shared and system != "salesforce":
        # ...and people only one other system holds get their own identities and facts.
        own = random.Random(f"{seed}:{system}:{index}")
        first, last = own.choice(FIRST), own.choice(LAST)
        email = _email(index, own, first, last).replace("@", f".{_OWN_EMAIL_TAG[system]}@", 1)
        facts = _Facts.draw(own)
        detail_seed = own.getrandbits(63)
    if disagrees and system == "hubspot":
        facts = facts.contradicted(on_email)
    if shared and system == "hubspot" and index % 5 == 0:
        # CRMs keep whatever case and form people typed; normalization must still match them.
        email = unicodedata.normalize("NFD", email.upper() if index % 10 == 0 else email.title())
    return SeedPerson(
        index,
        email,
        first,
        last,
        phone,
        facts.email,
        facts.calls,
        facts.fax_ok,
        facts.sms,
        facts.sms_not_asked,
        shared,
        disagrees,
        detail_seed,
    )


def iter_people(system: SystemName, n: int, seed: int, overlap: float) -> Iterator[SeedPerson]:
    """Yield the `n` seeded contacts of one system, streaming (1,000,000 fit in no memory)."""
    overlap_n = shared_count(n, overlap)
    for index in range(n):
        yield _person(index, seed, overlap_n, system)
