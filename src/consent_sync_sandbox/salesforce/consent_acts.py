"""`POST /_sandbox/consent`: a person (or a rep for them) records a consent decision.

What the preference center or a rep's screen does in a real org: find the person's Contacts and
Leads by email, their Individual (creating one and linking the records when they have none, as
consent capture does), and write the ContactPointTypeConsent for that purpose and channel,
updating the latest one or creating it, with CaptureDate now (or as given). No API quota.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from consent_sync_sandbox.salesforce.objects import (
    CONTACT,
    CONTACT_POINT_TYPE_CONSENT,
    DATA_USE_PURPOSE,
    INDIVIDUAL,
    LEAD,
)
from consent_sync_sandbox.salesforce.org import Org
from consent_sync_sandbox.salesforce.records import render
from consent_sync_sandbox.salesforce.schema import (
    API_VERSIONS,
    FieldSpec,
    SObjectSpec,
    id_sequence,
    to_ms,
)
from consent_sync_sandbox.salesforce.store import Row, Store
from consent_sync_sandbox.salesforce.writes import Values, with_derived

#: objects.CONTACT_POINT_TYPES and objects.PRIVACY_CONSENT_STATUSES, as request types.
ContactPointType = Literal["Email", "MailingAddress", "Phone", "Social", "Web"]
Status = Literal["NotSeen", "OptIn", "OptOut", "Seen"]


class ConsentAct(BaseModel):
    """One consent decision for one person, purpose and channel."""

    email: str = Field(description="the person: every live Contact and Lead with this email")
    purpose: str = Field("Email Marketing", description="a DataUsePurpose.Name")
    channel: ContactPointType = Field("Email", description="ContactPointType")
    status: Status = "OptOut"
    capture_source: str = Field("Preference Center", max_length=255)
    capture_contact_point_type: ContactPointType = "Web"
    captured_at: datetime | None = Field(None, description="CaptureDate (default: now)")
    effective_to: datetime | None = Field(None, description="EffectiveTo (default: open)")
    double_opt_in: bool = Field(False, description="DoubleConsentCaptureDate = CaptureDate")
    stamp_at: datetime | None = Field(
        None, description="commit the consent record at exactly this SystemModstamp"
    )


def _field(spec: SObjectSpec, name: str) -> FieldSpec:
    found = spec.field(name)
    if found is None:
        raise KeyError(name)
    return found


def _purpose(store: Store, name: str) -> int:
    found = store.find_text(DATA_USE_PURPOSE, _field(DATA_USE_PURPOSE, "Name"), name)
    if not found:
        raise HTTPException(422, f"no DataUsePurpose named {name!r}")
    return found[-1]


def _individual(store: Store, people: list[tuple[SObjectSpec, Row]]) -> tuple[set[int], bool]:
    """The people's Individuals; one is created and linked when none of them has one."""
    linked = {int(r["IndividualId"]) for _, r in people if r["IndividualId"] is not None}
    live = {seq for seq in linked if (row := store.get(INDIVIDUAL, seq)) and not row["IsDeleted"]}
    if live:
        return live, False
    first = people[0][1]
    names: Values = {
        _field(INDIVIDUAL, "FirstName"): first["FirstName"],
        _field(INDIVIDUAL, "LastName"): first["LastName"] or "Unknown",
    }
    seq = store.insert(INDIVIDUAL, with_derived(INDIVIDUAL, names, None), store.clock.next())
    for spec, row in people:
        store.update(spec, _seq(spec, row), {_field(spec, "IndividualId"): seq}, store.clock.next())
    return {seq}, True


def _seq(spec: SObjectSpec, row: Row) -> int:
    found = id_sequence(spec, row["Id"])
    if found is None:
        raise KeyError(row["Id"])  # rows come from the store: never
    return found


def consent_control_router(org: Org) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])
    party = _field(CONTACT_POINT_TYPE_CONSENT, "PartyId")

    @router.post("/consent")
    def record_consent(act: ConsentAct) -> dict[str, Any]:
        store = org.store
        captured = None if act.captured_at is None else to_ms(act.captured_at)
        with store.transaction():
            people = [
                (spec, row)
                for spec in (CONTACT, LEAD)
                for row in store.fetch(spec, store.find_by_email(spec, act.email, live_only=True))
            ]
            if not people:
                raise HTTPException(404, "no live Contact or Lead has that email")
            purpose = _purpose(store, act.purpose)
            individuals, created = _individual(store, people)
            written = []
            for individual in sorted(individuals):
                stamp = store.clock.next() if act.stamp_at is None else to_ms(act.stamp_at)
                at = captured if captured is not None else stamp
                values: Values = {
                    _field(CONTACT_POINT_TYPE_CONSENT, "PrivacyConsentStatus"): act.status,
                    _field(CONTACT_POINT_TYPE_CONSENT, "CaptureDate"): at,
                    _field(CONTACT_POINT_TYPE_CONSENT, "CaptureSource"): act.capture_source,
                    _field(CONTACT_POINT_TYPE_CONSENT, "CaptureContactPointType"): (
                        act.capture_contact_point_type
                    ),
                    _field(CONTACT_POINT_TYPE_CONSENT, "EffectiveFrom"): at,
                    _field(CONTACT_POINT_TYPE_CONSENT, "EffectiveTo"): (
                        None if act.effective_to is None else to_ms(act.effective_to)
                    ),
                    _field(CONTACT_POINT_TYPE_CONSENT, "DoubleConsentCaptureDate"): (
                        at if act.double_opt_in else None
                    ),
                }
                current = [
                    r
                    for r in store.referencing(CONTACT_POINT_TYPE_CONSENT, party, [individual])
                    if r["DataUsePurposeId"] == purpose and r["ContactPointType"] == act.channel
                ]
                if current:
                    seq = _seq(CONTACT_POINT_TYPE_CONSENT, current[-1])
                    store.update(CONTACT_POINT_TYPE_CONSENT, seq, values, stamp)
                else:
                    values[_field(CONTACT_POINT_TYPE_CONSENT, "Name")] = (
                        f"{act.purpose} ({act.channel})"
                    )
                    values[party] = individual
                    values[_field(CONTACT_POINT_TYPE_CONSENT, "DataUsePurposeId")] = purpose
                    values[_field(CONTACT_POINT_TYPE_CONSENT, "ContactPointType")] = act.channel
                    seq = store.insert(CONTACT_POINT_TYPE_CONSENT, values, stamp)
                written.append(seq)
        version = API_VERSIONS[-1]
        records = [
            render(CONTACT_POINT_TYPE_CONSENT, row, None, version)
            for row in store.fetch(CONTACT_POINT_TYPE_CONSENT, written)
        ]
        individual_ids = [r["Id"] for r in store.fetch(INDIVIDUAL, sorted(individuals))]
        return {
            "ids": [r["Id"] for r in records],
            "records": records,
            "individual_ids": individual_ids,
            "created_individual": created,
        }

    return router
