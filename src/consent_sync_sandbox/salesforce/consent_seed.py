"""Seeded consent records, as an org that captures consent per purpose holds them.

Only people with an Individual can have consent records, and most of those were never asked
about most purposes: they have none. Shares below are of the people with an Individual. An
explicit opt-in carries its evidence (CaptureDate, CaptureSource, CaptureContactPointType, for
some a DoubleConsentCaptureDate); some opt-ins have expired (EffectiveTo in the past); some
records disagree with the Contact's checkbox, as real orgs' do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from consent_sync_sandbox.salesforce.objects import (
    CONTACT_POINT_CONSENT,
    CONTACT_POINT_EMAIL,
    CONTACT_POINT_TYPE_CONSENT,
    DATA_USE_PURPOSE,
)
from consent_sync_sandbox.salesforce.schema import SObjectSpec, SqlParam
from consent_sync_sandbox.salesforce.store import Store
from consent_sync_sandbox.seed import SeedPerson

#: The org's purposes: (Name, Description, IsActive), seeded as DataUsePurpose 1..4.
PURPOSES = (
    ("Email Marketing", "Newsletters and offers by email", True),
    ("SMS Marketing", "Offers by text message", True),
    ("Product Updates", "Release notes and product news by email", True),
    ("Partner Offers", "Offers from partners (retired)", False),  # inactive: validation bait
)
EMAIL_MARKETING, SMS_MARKETING, PRODUCT_UPDATES, PARTNER_OFFERS = 1, 2, 3, 4

#: Email Marketing: explicit opt-ins with a consent record (the rest only told the checkbox).
OPT_IN_RECORDED_SHARE = 0.85
#: ... of which have expired: EffectiveTo passed, so they are no consent any more.
OPT_IN_EXPIRED_SHARE = 0.15
#: ... of which were confirmed twice (DoubleConsentCaptureDate).
DOUBLE_OPT_IN_SHARE = 0.4
#: Email Marketing: people whose box is ticked and who have an OptOut record.
OPT_OUT_RECORDED_SHARE = 0.6
#: ... and whose box is ticked but whose record still says OptIn (a stale form opt-in).
STALE_OPT_IN_SHARE = 0.1
#: Email Marketing: people whose box is unticked but who opted out in a preference center.
UNRECORDED_OPT_OUT_SHARE = 0.04
#: Email Marketing: people shown a consent form who never answered (PrivacyConsentStatus Seen).
SEEN_SHARE = 0.02
#: SMS Marketing: people whose SMS_Consent__c says Opted In / Opted Out with a matching record.
SMS_RECORDED_SHARE = 0.7
#: Product Updates, drawn on their own: opt-ins (some expired) and opt-outs.
PRODUCT_OPT_IN_SHARE, PRODUCT_OPT_OUT_SHARE, PRODUCT_EXPIRED_SHARE = 0.06, 0.03, 0.2
#: Partner Offers (an inactive purpose): legacy opt-ins.
PARTNER_OPT_IN_SHARE = 0.01
#: People with a ContactPointEmail for their address, and of those a ContactPointConsent.
CONTACT_POINT_EMAIL_SHARE, CONTACT_POINT_CONSENT_SHARE = 0.5, 0.4

_DAY_MS = 24 * 3600 * 1000
_OPT_IN_SOURCES = (
    ("Web Form", "Web"),
    ("Trade Show", "Email"),
    ("Webinar Registration", "Web"),
    ("Checkout", "Web"),
    ("Sales Call", "Phone"),
)
_OPT_OUT_SOURCES = (
    ("Unsubscribe Link", "Email"),
    ("Preference Center", "Web"),
    ("Sales Call", "Phone"),
    ("Support Request", "Email"),
)
_SMS_SOURCES = {"OptIn": ("SMS Keyword", "Phone"), "OptOut": ("SMS STOP Reply", "Phone")}
_STAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
_DECISION = (
    "DataUsePurposeId",
    "PrivacyConsentStatus",
    "CaptureDate",
    "CaptureSource",
    "CaptureContactPointType",
    "EffectiveFrom",
    "EffectiveTo",
    "DoubleConsentCaptureDate",
)
CPTC_COLUMNS = ("seq", "Name", "PartyId", "ContactPointType", *_DECISION, *_STAMPS)
CPE_COLUMNS = ("seq", "EmailAddress", "ParentId", "IsPrimary", *_STAMPS)
CPC_COLUMNS = ("seq", "Name", "ContactPointId", "PartyId", *_DECISION, *_STAMPS)
Rows = list[tuple[SqlParam, ...]]
Decision = tuple[SqlParam, ...]  # the _DECISION columns


def purposes(stamp: int) -> tuple[SObjectSpec, tuple[str, ...], Rows]:
    """The DataUsePurpose rows, for `Store.load`."""
    names = ("seq", "Name", "Description", "CanDataSubjectOptOut", "IsActive", *_STAMPS)
    rows: Rows = [
        (i, name, text, 1, int(active), stamp, stamp, stamp)
        for i, (name, text, active) in enumerate(PURPOSES, start=1)
    ]
    return DATA_USE_PURPOSE, names, rows


@dataclass
class ConsentRows:
    """Consent rows drawn for a chunk of people; sequences continue across chunks."""

    next_seq: list[int] = field(default_factory=lambda: [1, 1, 1])  # CPTC, CPE, CPC
    type_consents: Rows = field(default_factory=list)
    point_emails: Rows = field(default_factory=list)
    point_consents: Rows = field(default_factory=list)

    def _seq(self, kind: int) -> int:
        seq = self.next_seq[kind]
        self.next_seq[kind] = seq + 1
        return seq

    def add_person(
        self, p: SeedPerson, individual: int, stamp: int, now: int, rng: random.Random
    ) -> None:
        """Draw the consent records of one person with an Individual."""
        records: list[tuple[str, Decision]] = []
        email = _email_marketing(p, now, rng)
        if email is not None:
            records.append(("Email", email))
        if p.sms is not None and rng.random() < SMS_RECORDED_SHARE:
            status = "OptIn" if p.sms == "Opted In" else "OptOut"
            records.append(
                ("Phone", _decision(SMS_MARKETING, status, now, rng, _SMS_SOURCES[status]))
            )
        u = rng.random()
        if u < PRODUCT_OPT_IN_SHARE:
            expired = rng.random() < PRODUCT_EXPIRED_SHARE
            records.append(("Email", _opt_in(PRODUCT_UPDATES, now, rng, expired=expired)))
        elif u < PRODUCT_OPT_IN_SHARE + PRODUCT_OPT_OUT_SHARE:
            records.append(("Email", _opt_out(PRODUCT_UPDATES, now, rng)))
        if rng.random() < PARTNER_OPT_IN_SHARE:
            records.append(("Email", _opt_in(PARTNER_OFFERS, now, rng, expired=False)))
        for offset, (channel, decision) in enumerate(records, start=1):
            name = f"{PURPOSES[int(decision[0] or 1) - 1][0]} ({channel})"
            at = stamp + offset
            self.type_consents.append(
                (self._seq(0), name, individual, channel, *decision, at, at, at)
            )
        if rng.random() < CONTACT_POINT_EMAIL_SHARE:
            point = self._seq(1)
            self.point_emails.append((point, p.email, individual, 1, stamp, stamp, stamp))
            if email is not None and rng.random() < CONTACT_POINT_CONSENT_SHARE:
                name = f"{PURPOSES[0][0]} ({p.email})"
                self.point_consents.append(
                    (self._seq(2), name, point, individual, *email, stamp, stamp, stamp)
                )

    def flush(self, store: Store) -> None:
        store.load(CONTACT_POINT_TYPE_CONSENT, CPTC_COLUMNS, self.type_consents)
        store.load(CONTACT_POINT_EMAIL, CPE_COLUMNS, self.point_emails)
        store.load(CONTACT_POINT_CONSENT, CPC_COLUMNS, self.point_consents)


def _email_marketing(p: SeedPerson, now: int, rng: random.Random) -> Decision | None:
    """The Email Marketing record, if any, for what the person said about marketing email."""
    u = rng.random()
    if p.email_fact == "opted_in":
        if u >= OPT_IN_RECORDED_SHARE:
            return None
        return _opt_in(EMAIL_MARKETING, now, rng, expired=rng.random() < OPT_IN_EXPIRED_SHARE)
    if p.email_fact is not None:  # the box is ticked
        if u < OPT_OUT_RECORDED_SHARE:
            return _opt_out(EMAIL_MARKETING, now, rng)
        if u < OPT_OUT_RECORDED_SHARE + STALE_OPT_IN_SHARE:
            return _opt_in(EMAIL_MARKETING, now, rng, expired=False)
        return None
    if u < UNRECORDED_OPT_OUT_SHARE:
        return _opt_out(EMAIL_MARKETING, now, rng)
    if u < UNRECORDED_OPT_OUT_SHARE + SEEN_SHARE:
        return _decision(EMAIL_MARKETING, "Seen", now, rng, ("Web Form", "Web"))
    return None


def _captured(now: int, rng: random.Random) -> int:
    """A capture time in the past two years (never within the last two days)."""
    return now - int(rng.uniform(2, 720) * _DAY_MS)


def _decision(
    purpose: int, status: str, now: int, rng: random.Random, source: tuple[str, str]
) -> Decision:
    captured = _captured(now, rng)
    return (purpose, status, captured, source[0], source[1], captured, None, None)


def _opt_in(purpose: int, now: int, rng: random.Random, *, expired: bool) -> Decision:
    captured = _captured(now, rng)
    source, point_type = rng.choice(_OPT_IN_SOURCES)
    double = (
        captured + int(rng.uniform(1, 120) * 60_000) if rng.random() < DOUBLE_OPT_IN_SHARE else None
    )
    until: int | None = None
    if expired:
        until = captured + int(rng.uniform(0.2, 0.9) * (now - captured))
    elif rng.random() < 0.1:
        until = now + int(rng.uniform(30, 365) * _DAY_MS)  # a consent given for a term
    return (purpose, "OptIn", captured, source, point_type, captured, until, double)


def _opt_out(purpose: int, now: int, rng: random.Random) -> Decision:
    return _decision(purpose, "OptOut", now, rng, rng.choice(_OPT_OUT_SOURCES))
